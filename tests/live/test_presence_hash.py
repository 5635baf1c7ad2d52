"""Presence kept atomically in Redis (team mode) and in-process (embedded): concurrent connections do not lose
each other, counts go up and down per connection, stale watchers drop out, the keys expire."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
import redis
from asgiref.sync import async_to_sync
from django.conf import settings

from sessions_app import presence
from sessions_app.presence import KEY_TTL, STALE_AFTER, presence_update


def new_session_id() -> str:
    return f"dev_test{uuid.uuid4().hex[:16]}"


@pytest.fixture
def team_mode():  # noqa: ANN201
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (team mode)")
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


def test_it_loses_no_one_when_fifty_connections_join_at_once(team_mode):  # noqa: ANN001
    session = new_session_id()

    async def join_all() -> list[list[str]]:
        return await asyncio.gather(*(presence_update(session, f"user{i:02d}", 1) for i in range(50)))

    answers = async_to_sync(join_all)()

    assert async_to_sync(presence_update)(session, "user00", 0) == [f"user{i:02d}" for i in range(50)]
    assert max(len(a) for a in answers) == 50


def test_two_processes_worth_of_connections_count_one_person_right(team_mode):  # noqa: ANN001
    """Two event loops (two web processes, two Redis connections) add 40 connections of one person at once;
    39 leave: they are still watching; the last one leaves: they are gone."""
    session = new_session_id()
    barrier = threading.Barrier(2)

    def connections(n: int, delta: int) -> None:
        async def run() -> None:
            barrier.wait()
            await asyncio.gather(*(presence_update(session, "alice", delta) for _ in range(n)))

        asyncio.run(run())

    threads = [threading.Thread(target=connections, args=(20, 1)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    counts = {k.decode(): int(v) for k, v in team_mode.hgetall(presence._keys(session)[0]).items()}
    assert counts == {"alice": 40}

    async def leave(n: int) -> list[list[str]]:
        return await asyncio.gather(*(presence_update(session, "alice", -1) for _ in range(n)))

    async_to_sync(leave)(39)
    assert async_to_sync(presence_update)(session, "alice", 0) == ["alice"]
    assert async_to_sync(presence_update)(session, "alice", -1) == []


def test_the_keys_expire_unless_a_heartbeat_refreshes_them(team_mode):  # noqa: ANN001
    session = new_session_id()

    async_to_sync(presence_update)(session, "bob", 1)

    for key in presence._keys(session):
        assert 0 < team_mode.ttl(key) <= KEY_TTL


def test_a_watcher_not_seen_for_a_while_drops_out(team_mode, monkeypatch):  # noqa: ANN001
    """A web process that died cannot say goodbye: its connections expire with their last heartbeat."""
    session = new_session_id()
    async_to_sync(presence_update)(session, "ghost", 1)
    later = presence.time.time() + STALE_AFTER + 1
    monkeypatch.setattr(presence.time, "time", lambda: later)

    assert async_to_sync(presence_update)(session, "carol", 1) == ["carol"]
    assert team_mode.hget(presence._keys(session)[0], "ghost") is None


def test_embedded_mode_keeps_presence_in_process(settings, monkeypatch):  # noqa: ANN001
    settings.REDIS_URL = ""
    monkeypatch.setattr(presence, "_redis_update", None)  # not called: it would raise
    session = new_session_id()

    async def story() -> list[list[str]]:
        joined = await asyncio.gather(*(presence_update(session, name, 1) for name in ("bob", "alice", "bob")))
        return [*joined, await presence_update(session, "bob", -1), await presence_update(session, "bob", -1)]

    *joined, one_bob_left, bob_gone = async_to_sync(story)()

    assert joined[-1] == ["alice", "bob"]
    assert one_bob_left == ["alice", "bob"] and bob_gone == ["alice"]
