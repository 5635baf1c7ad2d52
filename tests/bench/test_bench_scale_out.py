"""Scale-out benchmarks (`make bench`): printed, never asserted.

The same N five-agent sessions (one organisation each, offline provider) on one web process and one
Celery worker, then on two of each — all subprocesses on this machine, one Redis of their own and the
test's PostgreSQL. Then, on two web processes, commit → client latency for watchers on the process
whose API took the write and on the other one, next to a raw Redis PUBLISH→SUBSCRIBE on the same Redis
and the write's own HTTP round trip. On a 2-core machine a second worker process competes for the same
cores as the first: read the throughput rows as "what a second process costs or gains here", not as
what a second machine would add."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from datetime import datetime
from urllib.parse import urlparse

import httpx
import pytest
import redis.asyncio as aioredis
from django.db import connection
from rest_framework.authtoken.models import Token

from agents_app.models import AgentRun, RunStatus
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


def test_sessions_per_minute_one_vs_two_web_and_worker_processes(cast, key, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("separate web and worker processes need a shared database server")
    rows = [("processes", "sessions", "wall s", "sessions/min", "agent runs/min", "runs by worker", "completed")]
    notes = []
    # The third row gives one worker the slots two workers have: it tells more slots from more processes.
    for processes, concurrency in ((1, CONCURRENCY), (2, CONCURRENCY), (1, 2 * CONCURRENCY)):
        slugs = []
        for i in range(SESSIONS):
            slug = f"scale-{processes}-{concurrency}-{i}"
            organization = organization_create(actor=None, slug=slug, name=slug)
            membership_add(actor=None, organization=organization, user=cast["member"], role="member")
            slugs.append(organization.slug)
        path = tmp_path / f"x{processes}-{concurrency}"
        path.mkdir()
        with Cluster(path, webs=processes, workers=processes, concurrency=concurrency) as cluster:
            notes.append(what_ran(cluster))
            began = time.monotonic()
            ids = []
            for i, slug in enumerate(slugs):  # round robin over the web processes, as a load balancer would
                body = {
                    "organization": slug,
                    "intent": f"build app {i}",
                    "agents": FIVE,
                    "execution_strategy": "hybrid",
                }
                created = httpx.post(
                    f"{cluster.web_urls[i % processes]}/api/v1/sessions/",
                    json=body, headers={"Authorization": f"Token {key}"}, timeout=30,
                )  # fmt: skip
                assert created.status_code == 201, created.text
                ids.append(created.json()["id"])
            finished = DevelopmentSession.objects.filter(public_id__in=ids, status__in=["completed", "failed"])
            wait_for(lambda finished=finished: finished.count() == SESSIONS, timeout=600, interval=0.2)
            wall = time.monotonic() - began
            by_worker = Counter(
                t["worker"].split("@")[0] for t in cluster.tasks_run() if t["task"].endswith("run_agent")
            )
        completed = AgentRun.objects.filter(session__public_id__in=ids, status=RunStatus.COMPLETED).count()
        rows.append(
            (
                f"{processes} web + {processes} worker × {concurrency}",
                SESSIONS,
                round(wall, 1),
                round(SESSIONS / wall * 60, 1),
                round(SESSIONS * 5 / wall * 60, 1),
                dict(sorted(by_worker.items())),
                f"{completed}/{SESSIONS * 5} runs",
            )
        )
    table(f"scale-out throughput: {SESSIONS} concurrent five-agent sessions (offline provider)", rows)
    for note in notes:
        print(f"  ran: {note}")


def test_commit_to_client_on_the_writers_process_and_the_other(cast, acme, key, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("separate web processes need a shared database server")
    session = DevelopmentSession.objects.create(
        organization=acme, created_by=cast["member"], intent="bench", status="running"
    )  # no plan, no runs, no worker: the only events are the writes below
    with Cluster(tmp_path, webs=2, workers=0) as cluster:
        raw, figures = asyncio.run(_latency(cluster, session.public_id, key))
        ran = what_ran(cluster)
    rows = [("what", "samples", "p50 ms", "p99 ms")]
    rows.append(("raw Redis PUBLISH→SUBSCRIBE (the cluster's Redis)", len(raw), pct(raw, 0.5), pct(raw, 0.99)))
    for what, values in figures.items():
        rows.append((what, len(values), pct(values, 0.5), pct(values, 0.99)))
    table(
        f"commit → client across web processes: {WRITES} writes through A's API (POST feedback/), "
        f"{WATCHERS_PER_WEB} websocket watchers on each process, received concurrently",
        rows,
    )
    print(
        "  `at` is stamped in the writer's transaction, before its commit; `sent` before the HTTP request, so its rows"
        " include the request's own handling"
    )
    print(f"  ran: {ran}")


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


async def _latency(cluster: Cluster, session_id: str, key: str) -> tuple[list[float], dict[str, list[float]]]:
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
            if message.get("type") == "feedback.submitted":
                at = datetime.fromisoformat(message["at"]).timestamp()
                arrivals[name][message["data"]["text"]] = (arrived, at)

    receivers = [asyncio.create_task(receive(name, socket)) for name, socket in sockets]
    raw = await _raw_redis(cluster.redis.url)
    figures: dict[str, list[float]] = {
        "event recorded on A (`at`, before commit) → watcher on A, the writer's process": [],
        "event recorded on A (`at`, before commit) → watcher on B, the other process": [],
        "POST sent to A → its response": [],
        "POST sent to A → watcher on A": [],
        "POST sent to A → watcher on B": [],
    }
    at_a, at_b, round_trip, sent_a, sent_b = figures.values()
    async with httpx.AsyncClient(headers=header, timeout=30) as client:
        for n in range(WRITES + 5):  # the first five warm both processes and are not counted
            marker = f"bench-{n}"
            sent = time.time()
            response = await client.post(f"{a}/api/v1/sessions/{session_id}/feedback/", json={"text": marker})
            answered = time.time()
            assert response.status_code == 201, response.text
            deadline = time.monotonic() + 10
            while not all(marker in seen for seen in arrivals.values()) and time.monotonic() < deadline:
                await asyncio.sleep(0.001)
            if n < 5:
                continue
            round_trip.append((answered - sent) * 1000)
            for (web, _), seen in arrivals.items():
                if marker in seen:
                    arrived, at = seen[marker]
                    (at_a if web == "A" else at_b).append((arrived - at) * 1000)
                    (sent_a if web == "A" else sent_b).append((arrived - sent) * 1000)
    for task in receivers:
        task.cancel()
    for _, socket in sockets:
        await socket.close()
    return raw, figures
