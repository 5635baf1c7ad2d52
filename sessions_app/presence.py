"""Who is watching a session: connections per person, refreshed by heartbeats, expiring stale entries.

Team mode keeps it in Redis, shared by every web process: per session a hash of connection counts
(`HINCRBY`) and a hash of last-seen times, changed and read by one Lua script, so two connections updating
at once cannot lose each other (a read-modify-write of a cached dict could). Both keys expire unless a
heartbeat refreshes them. The embedded server is one process: a dict under a lock does the same.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref

import redis.asyncio as aioredis
from django.conf import settings
from redis.commands.core import AsyncScript

STALE_AFTER = 30.0
KEY_TTL = int(STALE_AFTER * 4)

#: KEYS: counts hash, seen hash. ARGV: username, delta, now, stale_after, ttl. Returns who watches.
_UPDATE = """
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
end
local oldest = tonumber(ARGV[3]) - tonumber(ARGV[4])
local seen = redis.call('HGETALL', KEYS[2])
local watching = {}
for i = 1, #seen, 2 do
  if tonumber(seen[i + 1]) < oldest then
    redis.call('HDEL', KEYS[1], seen[i])
    redis.call('HDEL', KEYS[2], seen[i])
  else
    watching[#watching + 1] = seen[i]
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return watching
"""


def _keys(session_public_id: str) -> list[str]:
    tag = f"harness:presence:{{{session_public_id}}}"  # one hash slot for both keys (Redis Cluster)
    return [f"{tag}:connections", f"{tag}:seen"]


async def presence_update(session_public_id: str, username: str, delta: int) -> list[str]:
    """Add (`delta`=1), refresh (0) or remove (-1) one connection of `username`; returns who watches, sorted."""
    if settings.REDIS_URL:
        return await _redis_update(session_public_id, username, delta)
    return _local_update(session_public_id, username, delta)


# -- team mode: Redis ------------------------------------------------------------------------------

#: A script per event loop (a redis.asyncio connection belongs to the loop that opened it), and the URL it uses.
_scripts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[str, AsyncScript]] = weakref.WeakKeyDictionary()


def _script() -> AsyncScript:
    loop, url = asyncio.get_running_loop(), settings.REDIS_URL
    entry = _scripts.get(loop)
    if entry is None or entry[0] != url:
        entry = _scripts[loop] = (url, aioredis.from_url(url).register_script(_UPDATE))
    return entry[1]


async def _redis_update(session_public_id: str, username: str, delta: int) -> list[str]:
    watching = await _script()(
        keys=_keys(session_public_id), args=[username, int(delta), repr(time.time()), STALE_AFTER, KEY_TTL]
    )
    return sorted(name.decode() if isinstance(name, bytes) else name for name in watching)


# -- embedded: one process -------------------------------------------------------------------------

_lock = threading.Lock()
_local: dict[str, dict[str, tuple[int, float]]] = {}  # session → username → (connections, seen)


def _local_update(session_public_id: str, username: str, delta: int) -> list[str]:
    now = time.time()
    with _lock:
        watchers = _local.setdefault(session_public_id, {})
        connections = watchers.get(username, (0, now))[0] + delta
        if connections > 0:
            watchers[username] = (connections, now)
        else:
            watchers.pop(username, None)
        for name in [name for name, (_, seen) in watchers.items() if now - seen >= STALE_AFTER]:
            del watchers[name]
        if not watchers:
            del _local[session_public_id]
        return sorted(watchers)
