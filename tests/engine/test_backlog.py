"""Team mode under a backlog: a real worker process with 2 threads, a slow offline model and a short
heartbeat TTL, six parallel five-agent sessions. Runs wait in the queue far longer than the TTL;
none may be requeued as lost (no worker died), and every session completes."""

from __future__ import annotations

import time

import pytest
from celery import Celery
from django.db import connection

from agents_app.models import AgentRun
from sessions_app.models import DevelopmentSession, SessionEvent
from sessions_app.services.sessions import session_create
from tests.support import kill_worker_process, start_worker_process, wait_for_status, worker_logs

BROKER = "redis://127.0.0.1:6379/10"
SESSIONS = 6
AGENTS = ["requirements-analyst", "architect", "backend", "frontend", "test-engineer"]
TTL = 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_backlog_longer_than_the_heartbeat_ttl_requeues_nothing(cast, acme, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("a separate worker process needs a shared database server")
    broker = Celery(broker=BROKER, set_as_current=False)
    broker.control.purge()
    sessions = []
    for n in range(SESSIONS):
        session = session_create(
            user=cast["member"], organization=acme, intent=f"build chat app {n}", requested_agents=AGENTS,
            execution_strategy="parallel",
        )  # fmt: skip
        DevelopmentSession.objects.filter(pk=session.pk).update(planning_task_id=f"plan-backlog-{n}")
        sessions.append(session)
    started = time.monotonic()
    for n, session in enumerate(sessions):
        broker.send_task("agents_app.tasks.plan_session", args=[session.pk], task_id=f"plan-backlog-{n}")
    env = {
        "HARNESS_OFFLINE_STEP_SECONDS": "0.3",
        "HARNESS_HEARTBEAT_STALE_SECONDS": str(TTL),
        "HARNESS_REAPER_INTERVAL_SECONDS": "1",
    }
    worker = start_worker_process(tmp_path, "backlog", broker=BROKER, env=env, pool="threads", concurrency=2)
    try:
        finished = [wait_for_status(s, "completed", "failed", timeout=300) for s in sessions]
    finally:
        kill_worker_process(worker)
    wall = time.monotonic() - started

    runs = AgentRun.objects.filter(session__in=sessions)
    waits = [(r.started_at - r.queued_at).total_seconds() for r in runs if r.started_at and r.queued_at]
    requeued = SessionEvent.objects.filter(session__in=sessions, type="agent.requeued").count()
    print(
        f"\nbacklog: {SESSIONS} sessions, {runs.count()} runs, 2 worker threads, TTL {TTL} s: "
        f"{wall:.1f} s wall, longest queue wait {max(waits):.1f} s, {requeued} requeued"
    )
    assert [s.status for s in finished] == ["completed"] * SESSIONS, worker_logs(tmp_path)[-3000:]
    assert max(waits) > 3 * TTL, "the test must build a backlog longer than the TTL to mean anything"
    assert requeued == 0
    assert SessionEvent.objects.filter(session__in=sessions, type="agent.started").count() == runs.count()
