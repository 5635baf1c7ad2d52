"""Scale-out benchmarks (`make bench`): printed, never asserted.

Throughput: the same N five-agent sessions (one organisation each, offline provider) on one web process
and one Celery worker, on two of each, and on one worker with twice the concurrency — subprocesses on
this machine with a Redis of their own and the test's PostgreSQL, each set-up twice in mirrored order.
On a 2-core machine a second worker process competes for the same cores as the first: read those rows
as "what a second process costs or gains here", not as what a second machine would add.

Latency: on two web processes A and B, events committed by a non-web process (as a worker's are) and
events written through A's API, each received by watchers on A and on B, next to a raw Redis
PUBLISH→SUBSCRIBE on the same Redis and the API call's own round trip."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from urllib.parse import urlparse

import httpx
import pytest
import redis.asyncio as aioredis
from channels.layers import channel_layers
from django.db import connection, connections, transaction
from rest_framework.authtoken.models import Token

from agents_app.models import AgentRun, RunStatus
from sessions_app.events import Actor, event_record
from sessions_app.models import DevelopmentSession
from sessions_app.services.governance import membership_add, organization_create
from tests.scale_support import Cluster, ws_url
from tests.support import wait_for

pytestmark = [pytest.mark.bench, pytest.mark.django_db(transaction=True)]
FIVE = ["requirements-analyst", "architect", "backend", "frontend", "test-engineer"]
SESSIONS = 10
CONCURRENCY = 2  # prefork processes per worker in the one-vs-two rows
WATCHERS_PER_WEB = 5
WRITES = 60


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 2)


def table(title: str, rows: list[tuple]) -> None:
    print(f"\n{title}")
    for row in rows:
        print("  " + " | ".join(str(c) for c in row))


def what_ran(cluster: Cluster) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version" if connection.vendor == "postgresql" else "SELECT sqlite_version()")
        version = cursor.fetchone()[0].split()[0]
    return (
        f"{connection.vendor} {version}; broker {urlparse(cluster.redis.url).scheme}:// (one redis-server); "
        f"{cluster.n_webs} daphne, {cluster.n_workers} celery worker(s) × {cluster.concurrency} {cluster.pool}; "
        f"os.cpu_count() = {os.cpu_count()}"
    )


@pytest.fixture
def key(cast):  # noqa: ANN001, ANN201
    return Token.objects.get_or_create(user=cast["member"])[0].key


# Each set-up twice, in mirrored order (A B C C B A), so a drift in the machine's load (other jobs on the
# shared cores) falls on all of them alike. The third gives one worker the slots two workers have: it tells
# more slots from more processes.
ROUNDS = [(1, CONCURRENCY), (2, CONCURRENCY), (1, 2 * CONCURRENCY)]
ROUNDS += ROUNDS[::-1]


def test_sessions_per_minute_one_vs_two_web_and_worker_processes(cast, key, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("separate web and worker processes need a shared database server")
    rows = [("round", "processes", "wall s", "sessions/min", "agent runs/min", "runs by worker", "completed")]
    per_setup: dict[str, list[float]] = {}
    notes: dict[str, str] = {}
    for n, (processes, concurrency) in enumerate(ROUNDS, start=1):
        label = f"{processes} web + {processes} worker × {concurrency}"
        wall, by_worker, completed, notes[label] = _throughput_round(
            cast, key, tmp_path / f"round-{n}", processes, concurrency
        )
        per_setup.setdefault(label, []).append(SESSIONS / wall * 60)
        rows.append(
            (n, label, round(wall, 1), round(SESSIONS / wall * 60, 1), round(SESSIONS * 5 / wall * 60, 1),
             dict(sorted(by_worker.items())), f"{completed}/{SESSIONS * 5} runs")
        )  # fmt: skip
    table(f"scale-out throughput: {SESSIONS} concurrent five-agent sessions per round (offline provider)", rows)
    for label, figures in per_setup.items():
        print(f"  {label}: {statistics.mean(figures):.1f} sessions/min mean of {[round(f, 1) for f in figures]}")
    for note in notes.values():
        print(f"  ran: {note}")


def _throughput_round(cast, key: str, path, processes: int, concurrency: int) -> tuple:  # noqa: ANN001
    slugs = []
    for i in range(SESSIONS):
        organization = organization_create(actor=None, slug=f"{path.name}-{i}", name=f"{path.name} {i}")
        membership_add(actor=None, organization=organization, user=cast["member"], role="member")
        slugs.append(organization.slug)
    path.mkdir()
    with Cluster(path, webs=processes, workers=processes, concurrency=concurrency) as cluster:
        began = time.monotonic()
        ids = []
        for i, slug in enumerate(slugs):  # round robin over the web processes, as a load balancer would
            body = {"organization": slug, "intent": f"build app {i}", "agents": FIVE, "execution_strategy": "hybrid"}
            created = httpx.post(
                f"{cluster.web_urls[i % processes]}/api/v1/sessions/",
                json=body, headers={"Authorization": f"Token {key}"}, timeout=30,
            )  # fmt: skip
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        finished = DevelopmentSession.objects.filter(public_id__in=ids, status__in=["completed", "failed"])
        wait_for(lambda: finished.count() == SESSIONS, timeout=600, interval=0.2)
        wall = time.monotonic() - began
        by_worker = Counter(t["worker"].split("@")[0] for t in cluster.tasks_run() if t["task"].endswith("run_agent"))
        ran = what_ran(cluster)
    completed = AgentRun.objects.filter(session__public_id__in=ids, status=RunStatus.COMPLETED).count()
    return wall, by_worker, completed, ran


def test_commit_to_client_on_the_writers_process_and_the_other(cast, acme, key, tmp_path, settings):
    if connection.vendor != "postgresql":
        pytest.skip("separate web processes need a shared database server")
    session = DevelopmentSession.objects.create(
        organization=acme, created_by=cast["member"], intent="bench", status="running"
    )  # no plan, no runs, no worker: the only events are the writes below
    with Cluster(tmp_path, webs=2, workers=0) as cluster:
        # This process writes too, as a worker does: its channel layer must be the cluster's.
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [{"address": cluster.redis.url, "socket_timeout": 15}],
                    "prefix": os.environ.get("HARNESS_CHANNEL_PREFIX", "harness"),
                },
            }
        }
        channel_layers.backends.clear()
        try:
            raw, figures = asyncio.run(_latency(cluster, session.pk, session.public_id, key))
        finally:
            channel_layers.backends.clear()
        ran = what_ran(cluster)
    rows = [("what", "samples", "p50 ms", "p99 ms")]
    rows.append(("raw Redis PUBLISH→SUBSCRIBE (the cluster's Redis)", len(raw), pct(raw, 0.5), pct(raw, 0.99)))
    for what, values in figures.items():
        rows.append((what, len(values), pct(values, 0.5), pct(values, 0.99)))
    table(
        f"commit → client across web processes: {WRITES} writes of each kind, alternating; "
        f"{WATCHERS_PER_WEB} websocket watchers on each of A and B, received concurrently",
        rows,
    )
    print(
        "  a commit stamped just before it (inside the transaction) is the honest commit → client figure; `at` is"
        " stamped when the event is recorded, earlier in the API's transaction; `sent` before the HTTP request,"
        " so those rows include the request's own handling"
    )
    print(f"  ran: {ran}")


def _commit(session_pk: int, marker: str) -> float:
    """One event committed by this process (not a web process), like a worker's: stamped just before the commit."""
    session = DevelopmentSession.objects.get(pk=session_pk)
    with transaction.atomic():
        event_record(session=session, type="bench.tick", actor=Actor.system(), data={"text": marker})
        return time.time()


async def _raw_redis(url: str, samples: int = 200) -> list[float]:
    client = aioredis.from_url(url)
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


async def _latency(
    cluster: Cluster, session_pk: int, session_id: str, key: str
) -> tuple[list[float], dict[str, list[float]]]:
    import websockets

    a, b = cluster.web_urls
    header = {"Authorization": f"Token {key}"}
    arrivals: dict[tuple[str, int], dict[str, tuple[float, float]]] = {}  # (web, n) → marker → (arrived, `at`)
    sockets = []
    for web, base in (("A", a), ("B", b)):
        for i in range(WATCHERS_PER_WEB):
            socket = await websockets.connect(ws_url(base, session_id, 0), additional_headers=header)
            while json.loads(await socket.recv()).get("type") != "live":
                pass
            sockets.append(((web, i), socket))
            arrivals[(web, i)] = {}

    async def receive(name: tuple[str, int], socket) -> None:  # noqa: ANN001
        async for raw in socket:
            arrived = time.time()
            message = json.loads(raw)
            if message.get("type") in ("feedback.submitted", "bench.tick"):
                at = datetime.fromisoformat(message["at"]).timestamp()
                arrivals[name][message["data"]["text"]] = (arrived, at)

    async def everyone_has(marker: str) -> None:
        deadline = time.monotonic() + 10
        while not all(marker in seen for seen in arrivals.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.001)

    receivers = [asyncio.create_task(receive(name, socket)) for name, socket in sockets]
    raw = await _raw_redis(cluster.redis.url)
    figures: dict[str, list[float]] = {
        "commit by a non-web process (stamped just before it) → watcher on A": [],
        "commit by a non-web process (stamped just before it) → watcher on B": [],
        "POST feedback/ to A: event recorded (`at`) → watcher on A, the writer's process": [],
        "POST feedback/ to A: event recorded (`at`) → watcher on B, the other process": [],
        "POST sent to A → its response": [],
        "POST sent to A → watcher on A": [],
        "POST sent to A → watcher on B": [],
    }
    direct_a, direct_b, at_a, at_b, round_trip, sent_a, sent_b = figures.values()
    writer = ThreadPoolExecutor(1)  # one thread, one database connection, closed at the end
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(headers=header, timeout=30) as client:
        for n in range(WRITES + 5):  # the first five warm everything and are not counted
            marker = f"api-{n}"
            sent = time.time()
            response = await client.post(f"{a}/api/v1/sessions/{session_id}/feedback/", json={"text": marker})
            answered = time.time()
            assert response.status_code == 201, response.text
            await everyone_has(marker)
            direct = f"direct-{n}"
            committed = await loop.run_in_executor(writer, _commit, session_pk, direct)
            await everyone_has(direct)
            if n < 5:
                continue
            round_trip.append((answered - sent) * 1000)
            for (web, _), seen in arrivals.items():
                if marker in seen:
                    arrived, at = seen[marker]
                    (at_a if web == "A" else at_b).append((arrived - at) * 1000)
                    (sent_a if web == "A" else sent_b).append((arrived - sent) * 1000)
                if direct in seen:
                    (direct_a if web == "A" else direct_b).append((seen[direct][0] - committed) * 1000)
    await loop.run_in_executor(writer, connections.close_all)
    writer.shutdown()
    for task in receivers:
        task.cancel()
    for _, socket in sockets:
        await socket.close()
    return raw, figures
