"""Engine benchmarks (`make bench`): printed, never asserted.

Compared figures are measured in the same run under the same load, and every table says what ran
(`tests/bench/report.py`): the database, the broker, the worker pool and its concurrency, the CPUs.
"""

from __future__ import annotations

import statistics
import time
import uuid

import pytest
from celery.signals import after_task_publish
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents_app import planning, runtime
from agents_app.dispatch import RUN_AGENT
from agents_app.models import AgentRun, RunStatus
from agents_app.tasks import ping
from sessions_app.models import DevelopmentSession, SessionEvent
from sessions_app.services.governance import membership_add, organization_create
from tests.bench.report import table
from tests.support import add_files, wait_for

pytestmark = [pytest.mark.bench, pytest.mark.django_db(transaction=True)]
FIVE = ["requirements-analyst", "architect", "backend", "frontend", "test-engineer"]


def _solo_organization(member, n: int, i: int) -> str:  # noqa: ANN001
    organization = organization_create(actor=None, slug=f"bench-{n}-{i}", name=f"Bench {n}/{i}")
    membership_add(actor=None, organization=organization, user=member, role="member")
    return organization.slug


def test_queries_and_milliseconds_per_agent_step(start, cast):
    """The offline backend agent, stepped as `runtime.execute` steps it (one `Carried` per task): every statement
    the database receives, split into data statements and transaction control, by the kind of step; and the same
    agent again in a session that already holds 500 files (in another organisation: the same paths in one
    organisation would be cross-session conflicts, measured by the throughput bench)."""
    rows = [("session", "step", "n", "data statements", "+ BEGIN/COMMIT…", "ms p50", "ms max")]
    for files in (0, 500):
        organization = _solo_organization(cast["member"], files, 0)
        session = start(agents=["backend"], intent=f"build a chat app ({files} files)", organization=organization)
        add_files(session, files)
        planning.plan_session(session.pk)
        run = AgentRun.objects.get(session=session)
        attempt = runtime.run_claim(run.pk, run.task_id)
        carried, by_kind = runtime.Carried(), {}
        number, state = 0, "continue"
        while state == "continue":
            number += 1
            with CaptureQueriesContext(connection) as captured:
                began = time.perf_counter()
                state = runtime.step(run.pk, attempt, carried)
                elapsed = (time.perf_counter() - began) * 1000
            statements = [q["sql"].split(" ", 1)[0].upper() for q in captured.captured_queries]
            control = sum(s in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK") for s in statements)
            writes = any('INSERT INTO "artifacts_app_artifactversion"' in q["sql"] for q in captured.captured_queries)
            kind = "first of the task" if number == 1 else ("last (finish)" if state != "continue" else None)
            kind = kind or ("writes a file" if writes else "writes nothing")
            by_kind.setdefault(kind, []).append((len(statements) - control, control, elapsed))
        for kind, samples in by_kind.items():
            data = sorted({d for d, _, _ in samples})
            control = sorted({c for _, c, _ in samples})
            times = [t for _, _, t in samples]
            rows.append((
                f"{files} files", kind, len(samples), "/".join(map(str, data)), "/".join(map(str, control)),
                round(statistics.median(times), 1), round(max(times), 1),
            ))  # fmt: skip
    table("agent step (offline provider): statements by kind of step", rows)


class _PingBesideEachAgentTask:
    """Each time a run's task is published, a no-op is published right behind it into the same queue, so
    both wait for the same worker under the same load at the same moment."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, float]] = []
        self.agent_sent: dict[str, float] = {}

    def __enter__(self) -> _PingBesideEachAgentTask:
        after_task_publish.connect(self._published, weak=False)
        return self

    def __exit__(self, *exc: object) -> None:
        after_task_publish.disconnect(self._published)

    def _published(self, sender=None, headers=None, **kwargs) -> None:  # noqa: ANN001, ANN003
        if sender != RUN_AGENT:
            return
        self.agent_sent[headers["id"]] = time.time()
        key = f"bench:{uuid.uuid4()}"
        self.sent.append((key, time.time()))
        ping.delay(key)

    def noop_ms(self) -> list[float]:
        ran = [(wait_for(lambda k=key: cache.get(k), timeout=30, interval=0.002), sent) for key, sent in self.sent]
        return [(end - sent) * 1000 for end, sent in ran]


def _runs_of(sessions: list[DevelopmentSession]) -> list[AgentRun]:
    runs = list(AgentRun.objects.filter(session__in=sessions))
    continued = SessionEvent.objects.filter(session__in=sessions, type="agent.continued")
    assert not continued.exists(), "a continuation re-stamps queued_at; these runs must take one slice"
    assert runs and all(r.started_at and r.queued_at for r in runs), "every run was queued and claimed"
    return runs


def _finished(sessions: list[DevelopmentSession]) -> bool:
    return not DevelopmentSession.objects.filter(
        pk__in=[s.pk for s in sessions], status__in=["created", "planning", "running"]
    ).exists()


def _measure(start, n: int) -> tuple:  # noqa: ANN001
    """n one-agent sessions started at once. An agent's span is its `queued_at` (stamped in the transaction
    that queues it) to its `started_at` (stamped by the claim as the task body begins); `sent` splits it
    where the task reached the broker, after the commit."""
    with _PingBesideEachAgentTask() as pings:
        sessions = [start(agents=["requirements-analyst"]) for _ in range(n)]
        wait_for(lambda: _finished(sessions), timeout=120)
        noop = pings.noop_ms()
    runs = _runs_of(sessions)
    engine = [(r.started_at - r.queued_at).total_seconds() * 1000 for r in runs]
    before_send = [(pings.agent_sent[r.task_id] - r.queued_at.timestamp()) * 1000 for r in runs]
    noop_p50, engine_p50 = statistics.median(noop), statistics.median(engine)
    return (
        f"{n} session{'s' if n > 1 else ''} at once",
        len(noop),
        noop_p50,
        max(noop),
        len(engine),
        engine_p50,
        max(engine),
        statistics.median(before_send),
        f"{engine_p50 / noop_p50:.1f}×",
    )


def test_enqueue_to_start_latency_next_to_a_noop_task(worker, start):
    """The no-op is sent right behind each agent task (same queue, same worker, same moment), on an idle
    worker (one session at a time) and with 10 sessions started at once."""
    _measure(start, 1)  # warm both paths: connections, imports, the provider
    idle = [_measure(start, 1) for _ in range(5)]
    idle_row = (
        "1 session at a time (5×)",
        sum(r[1] for r in idle),
        statistics.median(r[2] for r in idle),
        max(r[3] for r in idle),
        sum(r[4] for r in idle),
        statistics.median(r[5] for r in idle),
        max(r[6] for r in idle),
        statistics.median(r[7] for r in idle),
        f"{statistics.median(r[5] for r in idle) / statistics.median(r[2] for r in idle):.1f}×",
    )
    loaded_row = _measure(start, 10)
    header = (
        "load",
        "no-op n",
        "no-op p50 ms",
        "no-op max",
        "agent n",
        "agent p50 ms",
        "agent max",
        "of which queued → sent p50",
        "p50 ratio",
    )
    table(
        "enqueue → start: an agent run's queued → claimed beside a no-op task sent right behind its task",
        [header, idle_row, loaded_row],
    )


def test_sessions_per_minute_by_concurrency(worker, start, cast):
    """Each session in its own organisation measures the engine; the last row puts 20 in one
    organisation, where identical sessions write the same files and every overlap is flagged as a
    cross-session conflict for a lead — the price of that coordination."""
    rows = [("concurrent 5-agent sessions", "wall s", "sessions/min", "agent runs/min")]
    rate = {}
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
        rows.append((label, wall, n / wall * 60, n * 5 / wall * 60))
        rate[(n, shared)] = n / wall * 60
    table("throughput (offline provider)", rows)
    print(f"  40 vs 5 concurrent sessions, sessions/min: {rate[(40, False)] / rate[(5, False)]:.2f} (target ≥ 0.9)")
