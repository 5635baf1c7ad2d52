"""Live delivery benchmarks (`make bench`): printed, never asserted."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection, transaction
from rest_framework.authtoken.models import Token

from config.asgi import application
from sessions_app.events import Actor, event_record
from sessions_app.models import DevelopmentSession, SessionEvent
from sessions_app.streaming import Cursor

pytestmark = [pytest.mark.bench, pytest.mark.django_db(transaction=True)]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 2)


@pytest.fixture
def session(cast, acme):  # noqa: ANN001, ANN201
    return DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="bench")


@pytest.fixture
def header(cast):  # noqa: ANN001, ANN201
    return (b"authorization", f"Token {Token.objects.get_or_create(user=cast['member'])[0].key}".encode())


def write_event(session) -> float:  # noqa: ANN001
    with transaction.atomic():
        event_record(session=session, type="bench.tick", actor=Actor.system(), data={"t": time.time()})
    return time.time()


async def redis_round_trip(samples: int = 200) -> list[float]:
    client = aioredis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub()
    await pubsub.subscribe("bench-raw")
    await pubsub.get_message(timeout=1)
    out = []
    for _ in range(samples):
        sent = time.time()
        await client.publish("bench-raw", str(sent))
        while (message := await pubsub.get_message(timeout=1)) is None or message["type"] != "message":
            pass
        out.append((time.time() - sent) * 1000)
    await pubsub.aclose()
    await client.aclose()
    return out


async def test_commit_to_client_latency_by_number_of_watchers(session, header):
    rows = [("watchers", "events", "p50 ms", "p99 ms")]
    raw = await redis_round_trip()
    rows.append(("raw Redis PUBLISH→SUBSCRIBE", len(raw), pct(raw, 0.5), pct(raw, 0.99)))
    for watchers in (1, 10, 50):
        after = await database_sync_to_async(lambda: DevelopmentSession.objects.get(pk=session.pk).last_event_seq)()
        url = f"/ws/sessions/{session.public_id}/?after={after}"
        sockets = [
            WebsocketCommunicator(
                application, url, headers=[(b"host", b"testserver"), (b"origin", b"http://testserver"), header]
            )
            for _ in range(watchers)
        ]
        for s in sockets:
            await s.connect()
            while (await s.receive_json_from(timeout=10)).get("type") != "live":
                pass
        latencies = []
        for _ in range(30):
            committed = await database_sync_to_async(write_event)(session)
            for s in sockets:
                while (await s.receive_json_from(timeout=10)).get("seq") is None:
                    pass
                latencies.append((time.time() - committed) * 1000)
        for s in sockets:
            await s.disconnect()
        rows.append(
            (f"{watchers} websocket watchers (Redis layer)", len(latencies), pct(latencies, 0.5), pct(latencies, 0.99))
        )
    print("\ncommit → client latency")
    for row in rows:
        print("  " + " | ".join(map(str, row)))


def test_replay_time_next_to_a_raw_select(session):
    from django.utils import timezone

    rows = [("events", "replay ms (Cursor, pages of 500)", "raw SELECT ms")]
    for n in (1000, 10000):
        SessionEvent.objects.filter(session=session).delete()
        now = timezone.now()
        SessionEvent.objects.bulk_create(
            SessionEvent(
                session=session, seq=i, type="bench.x", actor_kind="system", actor_name="Harness", data={"i": i}, at=now
            )
            for i in range(1, n + 1)
        )

        async def replay() -> int:
            return len([e async for e in Cursor(session, 0, viewer_pk=session.created_by_id).replay()])

        began = time.perf_counter()
        assert asyncio.run(replay()) == n
        replay_ms = (time.perf_counter() - began) * 1000
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM sessions_app_sessionevent WHERE session_id = %s ORDER BY seq", [session.pk])
            assert len(cursor.fetchall()) == n
        rows.append((n, round(replay_ms, 1), round((time.perf_counter() - began) * 1000, 1)))
    print("\nreplay")
    for row in rows:
        print("  " + " | ".join(map(str, row)))
