"""Engine benchmarks (`make bench`): printed, never asserted."""

from __future__ import annotations

import statistics
import time
import uuid

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents_app import planning, runtime
from agents_app.models import AgentRun, RunStatus
from agents_app.tasks import ping
from sessions_app.models import DevelopmentSession
from sessions_app.services.governance import membership_add, organization_create
from tests.support import wait_for

pytestmark = [pytest.mark.bench, pytest.mark.django_db(transaction=True)]
FIVE = ["requirements-analyst", "architect", "backend", "frontend", "test-engineer"]


def _solo_organization(member, n: int, i: int) -> str:  # noqa: ANN001
    organization = organization_create(actor=None, slug=f"bench-{n}-{i}", name=f"Bench {n}/{i}")
    membership_add(actor=None, organization=organization, user=member, role="member")
    return organization.slug


def table(title: str, rows: list[tuple]) -> None:
    print(f"\n{title}")
    for row in rows:
        print("  " + " | ".join(str(c) for c in row))


def test_queries_and_milliseconds_per_agent_step(start):
    session = start(agents=["backend"])
    planning.plan_session(session.pk)
    run = AgentRun.objects.get(session=session)
    attempt = runtime.run_claim(run.pk, run.task_id)
    counts, times = [], []
    while True:
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            state = runtime.step(run.pk, attempt)
            times.append((time.perf_counter() - began) * 1000)
        counts.append(len(captured))
        if state != "continue":
            break
    summary = (len(counts), round(statistics.mean(counts), 1), max(counts))
    summary += (round(statistics.median(times), 1), round(max(times), 1))
    table(
        "agent step (offline provider, PostgreSQL)",
        [("steps", "queries mean", "queries max", "ms p50", "ms max"), summary],
    )


def test_enqueue_to_start_latency_next_to_a_noop_task(worker, start):
    noop = []
    for _ in range(30):
        key = f"bench:{uuid.uuid4()}"
        sent = time.time()
        ping.delay(key)
        ran = wait_for(lambda k=key: cache.get(k), timeout=10, interval=0.002)
        noop.append((ran - sent) * 1000)
    sessions = [start(agents=["requirements-analyst"]) for _ in range(10)]
    for session in sessions:
        wait_for(lambda s=session: DevelopmentSession.objects.get(pk=s.pk).is_terminal(), timeout=60)
    runs = AgentRun.objects.filter(session__in=sessions)
    engine = [(r.started_at - r.queued_at).total_seconds() * 1000 for r in runs if r.started_at and r.queued_at]
    rows = [("what", "n", "p50 ms", "max ms")]
    rows.append(("no-op task", len(noop), round(statistics.median(noop), 1), round(max(noop), 1)))
    rows.append(
        ("agent run (queued → claimed)", len(engine), round(statistics.median(engine), 1), round(max(engine), 1))
    )
    table("enqueue → start (Celery on Redis, worker threads)", rows)


def test_sessions_per_minute_by_concurrency(worker, start, cast):
    """Each session in its own organisation measures the engine; the last row puts 20 in one
    organisation, where identical sessions write the same files and every overlap is flagged as a
    cross-session conflict for a lead — the price of that coordination."""
    rows = [("concurrent 5-agent sessions", "wall s", "sessions/min", "agent runs/min")]
    for n, shared in ((5, False), (20, False), (40, False), (20, True)):
        organizations = ["acme"] * n if shared else [_solo_organization(cast["member"], n, i) for i in range(n)]
        began = time.monotonic()
        sessions = [
            start(intent=f"build app {i}", agents=FIVE, execution_strategy="hybrid", organization=org)
            for i, org in enumerate(organizations)
        ]
        ids = [s.pk for s in sessions]
        finished = DevelopmentSession.objects.filter(pk__in=ids, status__in=["completed", "failed"])
        wait_for(lambda ids=ids, finished=finished: finished.count() == len(ids), timeout=600, interval=0.2)
        wall = time.monotonic() - began
        assert not AgentRun.objects.filter(session_id__in=ids).exclude(status=RunStatus.COMPLETED).exists()
        label = f"{n} in one organisation (conflicts flagged)" if shared else f"{n}, one organisation each"
        rows.append((label, round(wall, 1), round(n / wall * 60, 1), round(n * 5 / wall * 60, 1)))
    table("throughput (offline provider, 4 worker threads, 2 cores)", rows)
