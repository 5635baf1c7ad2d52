"""Live delivery benchmarks (`make bench`): printed, never asserted.

Measured as a client sees it, each figure beside a raw baseline taken in the same run, under the same load:
- commit → client: the clock starts BEFORE the transaction that records the event; every watcher is a
  `websockets` client of a real daphne process (started on the test database), all read at once
  (`asyncio.gather`); the baseline is Redis PUBLISH → SUBSCRIBE to as many subscribers, read the same way;
  raw and measured rounds alternate, after a warm-up of both;
- server CPU per event: the daphne process's user+system time (/proc/<pid>/stat) before and after the events,
  divided by their number, at 1, 10 and 50 watchers; and net of what the same sockets cost idle for as long
  (each one's access check every 2 s, presence), which is not per event;
- replay: `Cursor.pages()` (the path of SSE, the websocket and `GET …/events/`) against a SELECT of the same
  rows and columns plus `json.dumps` of them, alternating, both warmed.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from sessions_app.events import Actor, event_record
from sessions_app.models import DevelopmentSession, SessionEvent
from sessions_app.streaming import Cursor
from tests.conftest import start_daphne, stop_daphne

pytestmark = [pytest.mark.bench, pytest.mark.django_db(transaction=True)]

EVENTS = 120  # per number of watchers, half in each of the two alternating rounds
WARMUP = 10
WATCHERS = (1, 10, 50)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 2)


def what_ran() -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
        else:
            cursor.execute("SELECT sqlite_version()")
        version = cursor.fetchone()[0]
    layer = settings.CHANNEL_LAYERS["default"]
    hosts = layer.get("CONFIG", {}).get("hosts") or [{}]
    address = hosts[0].get("address", "") if isinstance(hosts[0], dict) else str(hosts[0])
    scheme = address.split("://", 1)[0] if "://" in address else "in-process"
    return (
        f"database: {connection.vendor} {version} · channel layer: {layer['BACKEND']} ({scheme}) · "
        f"os.cpu_count(): {os.cpu_count()}"
    )


@pytest.fixture
def session(cast, acme):  # noqa: ANN001, ANN201
    return DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="bench")


@pytest.fixture
def daphne(tmp_path):  # noqa: ANN001, ANN201
    server, url = start_daphne(tmp_path)
    yield server, url
    stop_daphne(server)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (clock ticks → seconds)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Writer:
    """Records events from a thread of its own, as a worker does: `event_record` in a transaction, the publish
    on commit. The clock is read before the transaction begins. One thread, so one database connection."""

    def __init__(self, session: DevelopmentSession) -> None:
        self.session = session
        self.thread = ThreadPoolExecutor(max_workers=1)
        self.took: list[float] = []  # ms from the clock's start until the commit and the publish returned

    def write(self) -> float:
        began = time.time()
        with transaction.atomic():
            event_record(session=self.session, type="bench.tick", actor=Actor.system(), data={"t": began})
        self.took.append((time.time() - began) * 1000)
        return began

    async def write_async(self) -> float:
        return await asyncio.get_running_loop().run_in_executor(self.thread, self.write)

    def raw_commit(self) -> float:
        """The database's floor for the same write: one INSERT of a row like an event's, committed (durably, as
        every commit here), on the same connection. Milliseconds."""
        began = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_raw_commit (type, data, at) VALUES (%s, %s, now())",
                ["bench.tick", json.dumps({"t": began})],
            )
        return (time.perf_counter() - began) * 1000

    async def raw_commits(self, count: int) -> list[float]:
        def run() -> list[float]:
            with connection.cursor() as cursor:
                cursor.execute(
                    "CREATE TABLE IF NOT EXISTS bench_raw_commit (id bigserial PRIMARY KEY, type varchar(60), "
                    "data jsonb, at timestamptz)"
                )
            return [self.raw_commit() for _ in range(count)]

        return await asyncio.get_running_loop().run_in_executor(self.thread, run)

    def close(self) -> None:
        self.thread.submit(lambda: connection.close()).result()  # the thread's own connection
        self.thread.shutdown()


async def next_event(socket, arrivals: list[float]) -> None:  # noqa: ANN001
    """Reads one socket until an event with a seq arrives (presence and other ephemeral messages are skipped)."""
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 30))
        if message.get("seq") is not None:
            arrivals.append(time.time())
            return


async def ws_round(sockets: list, writer: Writer, events: int, latencies: list[float] | None) -> None:
    for _ in range(events):
        arrivals: list[float] = []
        readers = [asyncio.create_task(next_event(s, arrivals)) for s in sockets]
        began = await writer.write_async()
        await asyncio.gather(*readers)
        if latencies is not None:
            latencies.extend((arrived - began) * 1000 for arrived in arrivals)


async def raw_round(client, subscribers: list, events: int, latencies: list[float] | None) -> None:  # noqa: ANN001
    async def receive(pubsub, arrivals: list[float]) -> None:  # noqa: ANN001
        while (message := await pubsub.get_message(timeout=30)) is None or message["type"] != "message":
            pass
        arrivals.append(time.time())

    for _ in range(events):
        arrivals: list[float] = []
        readers = [asyncio.create_task(receive(p, arrivals)) for p in subscribers]
        began = time.time()
        await client.publish("bench-raw", json.dumps({"seq": 1, "type": "bench.tick", "data": {"t": began}}))
        await asyncio.gather(*readers)
        if latencies is not None:
            latencies.extend((arrived - began) * 1000 for arrived in arrivals)


async def connect(url: str, session: DevelopmentSession, key: str, watchers: int) -> list:
    import websockets

    after = await asyncio.to_thread(lambda: DevelopmentSession.objects.get(pk=session.pk).last_event_seq)
    ws = f"{url.replace('http://', 'ws://', 1)}/ws/sessions/{session.public_id}/?after={after}"
    sockets = [
        await websockets.connect(ws, additional_headers={"Authorization": f"Token {key}"}, max_queue=None)
        for _ in range(watchers)
    ]

    async def until_live(socket) -> None:  # noqa: ANN001
        while json.loads(await asyncio.wait_for(socket.recv(), 30)).get("type") != "live":
            pass

    await asyncio.gather(*(until_live(s) for s in sockets))
    await asyncio.sleep(0.5)  # the joins' presence messages: let them pass before measuring
    for socket in sockets:  # and drop what arrived meanwhile
        while True:
            try:
                await asyncio.wait_for(socket.recv(), 0.05)
            except TimeoutError:
                break
    return sockets


async def measure(url: str, session: DevelopmentSession, key: str, pid: int) -> list[tuple]:
    writer = Writer(session)
    client = aioredis.from_url(settings.REDIS_URL)
    rows = []
    for watchers in WATCHERS:
        sockets = await connect(url, session, key, watchers)
        subscribers = [client.pubsub() for _ in range(watchers)]
        for p in subscribers:
            await p.subscribe("bench-raw")
            await p.get_message(timeout=1)
        await ws_round(sockets, writer, WARMUP, None)
        await raw_round(client, subscribers, WARMUP, None)
        measured: list[float] = []
        raw: list[float] = []
        cpu, wall = 0.0, 0.0
        writer.took.clear()
        for half in range(2):  # alternate which goes first
            for kind in ("raw", "ws") if half == 0 else ("ws", "raw"):
                if kind == "raw":
                    await raw_round(client, subscribers, EVENTS // 2, raw)
                else:
                    before, began = cpu_seconds(pid), time.monotonic()
                    await ws_round(sockets, writer, EVENTS // 2, measured)
                    cpu += cpu_seconds(pid) - before
                    wall += time.monotonic() - began
        commits = await writer.raw_commits(EVENTS)
        # The same sockets, as long, with no event: what watching costs by itself (each socket's access check
        # every HARNESS_ACCESS_CHECK_SECONDS, presence), to take out of the per-event figure.
        before = cpu_seconds(pid)
        await asyncio.sleep(wall)
        idle = cpu_seconds(pid) - before
        for p in subscribers:
            await p.aclose()
        for socket in sockets:
            await socket.close()
        rows.append(
            (watchers, measured, raw, cpu * 1000 / EVENTS, list(writer.took), (cpu - idle) * 1000 / EVENTS, commits)
        )
        await asyncio.sleep(0.5)
    await client.aclose()
    writer.close()
    return rows


def test_commit_to_client_latency_and_server_cpu_by_number_of_watchers(session, daphne, cast):  # noqa: ANN001
    server, url = daphne
    key = Token.objects.get_or_create(user=cast["member"])[0].key
    rows = asyncio.run(measure(url, session, key, server.pid))

    print(f"\nlive delivery — {what_ran()} · daphne: 1 process, websockets client, {EVENTS} events per row")
    print(
        "  watchers | samples | commit→client p50 / p99 ms | raw PUBLISH→SUBSCRIBE p50 / p99 ms | ratio p50 / p99"
        " | of which the writer's commit + publish, p50 ms | a raw INSERT + COMMIT, p50 / p99 ms"
        " | ratio to raw commit + raw publish, p50 / p99"
    )
    for watchers, measured, raw, _, took, _, commits in rows:
        p50, p99, r50, r99 = pct(measured, 0.5), pct(measured, 0.99), pct(raw, 0.5), pct(raw, 0.99)
        c50, c99 = pct(commits, 0.5), pct(commits, 0.99)
        ratio = f"{p50 / r50:.1f}× / {p99 / r99:.1f}×" if r50 and r99 else "n/a"
        floor = f"{p50 / (r50 + c50):.1f}× / {p99 / (r99 + c99):.1f}×" if r50 + c50 and r99 + c99 else "n/a"
        print(
            f"  {watchers} | {len(measured)} | {p50} / {p99} | {r50} / {r99} | {ratio}  (targets ≤5× / ≤10×)"
            f" | {pct(took, 0.5)} | {c50} / {c99} | {floor}"
        )
    one, one_net = rows[0][3], rows[0][5]
    print(
        "  server CPU per event (daphne user+sys, /proc, 10 ms ticks) | gross | ratio to one watcher"
        " | net of the same sockets idle as long (access checks, presence) | ratio"
    )
    for watchers, _, _, cpu, _, net, _ in rows:
        ratio = f"{cpu / one:.1f}×" if one else "n/a"
        net_ratio = f"{net / one_net:.1f}×" if one_net > 0 else "n/a"
        print(
            f"  {watchers} watchers | {cpu:.2f} ms | {ratio} | {net:.2f} ms | {net_ratio}  (target at 50: ≤3×)"
        )


# -- replay --------------------------------------------------------------------------------------------------

RAW_SELECT = """
    SELECT e.seq, e.type, r.public_id, e.actor_kind, e.actor_ref, e.actor_name, e.at, e.data
    FROM sessions_app_sessionevent e LEFT OUTER JOIN agents_app_agentrun r ON r.id = e.run_id
    WHERE e.session_id = %s ORDER BY e.seq
"""


def raw_select_and_json(session_pk: int) -> int:
    """The floor: one SELECT of the same rows and columns, and `json.dumps` of them."""
    with connection.cursor() as cursor:
        cursor.execute(RAW_SELECT, [session_pk])
        rows = cursor.fetchall()
    return len(json.dumps(rows, default=lambda value: value.isoformat()))


def replay_through_the_cursor(session: DevelopmentSession) -> int:
    async def replay() -> int:
        count = 0
        async for page in Cursor(session, 0, viewer_pk=session.created_by_id).pages():
            count += sum(len(event.text) > 0 for event in page)
        return count

    return asyncio.run(replay())


def timed(fn, *args) -> float:  # noqa: ANN001
    began = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - began) * 1000


def test_replay_time_next_to_a_select_and_json(session):  # noqa: ANN001
    rows = []
    for n in (1000, 10000):
        SessionEvent.objects.filter(session=session).delete()
        now = timezone.now()
        SessionEvent.objects.bulk_create(
            SessionEvent(
                session=session, seq=i, type="bench.x", actor_kind="system", actor_ref="system",
                actor_name="Harness", data={"i": i, "note": "a typical small payload", "files": ["a.py"]}, at=now,
            )
            for i in range(1, n + 1)
        )  # fmt: skip
        assert replay_through_the_cursor(session) == n  # warm both
        raw_select_and_json(session.pk)
        replay_ms, raw_ms = [], []
        for round_ in range(6):  # alternate which goes first
            pair = [("replay", replay_through_the_cursor, session), ("raw", raw_select_and_json, session.pk)]
            for name, fn, arg in pair if round_ % 2 == 0 else reversed(pair):
                (replay_ms if name == "replay" else raw_ms).append(timed(fn, arg))
        replay, raw = statistics.median(replay_ms), statistics.median(raw_ms)
        rows.append((n, round(replay, 1), round(raw, 1), f"{replay / raw:.1f}×"))
    print(f"\nreplay — {what_ran()} · medians of 6 alternating runs, after a warm-up of each")
    print("  events | replay ms (Cursor.pages, keyset pages of 500) | SELECT + json.dumps ms | ratio (target ≤3×)")
    for row in rows:
        print("  " + " | ".join(map(str, row)))
