"""Who is watching a session: a small map in the cache, refreshed by heartbeats, expiring stale entries."""

from __future__ import annotations

import time

from django.core.cache import cache

STALE_AFTER = 30.0


def _key(session_public_id: str) -> str:
    return f"harness:presence:{session_public_id}"


async def presence_update(session_public_id: str, username: str, delta: int) -> list[str]:
    """Add (`delta`=1), refresh (0) or remove (-1) one connection of `username`; returns who watches."""
    now = time.time()
    watchers: dict[str, dict] = await cache.aget(_key(session_public_id)) or {}
    entry = watchers.get(username, {"connections": 0, "seen": now})
    entry["connections"] = max(0, entry["connections"] + delta)
    entry["seen"] = now
    watchers[username] = entry
    watchers = {name: e for name, e in watchers.items() if e["connections"] > 0 and now - e["seen"] < STALE_AFTER}
    await cache.aset(_key(session_public_id), watchers, timeout=int(STALE_AFTER * 4))
    return sorted(watchers)
