"""Kill a real Celery worker process with SIGKILL mid-run, five times: the session still completes,
nothing is written twice, the event log has no gap, and no checkpointed step is redone."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection

from agents_app.models import AgentRun, RunStatus
from agents_app.services.control import session_pause, session_resume
from artifacts_app.models import ArtifactVersion
from sessions_app.models import SessionEvent
from sessions_app.services.sessions import session_create
from tests.support import (
    assert_gap_free,
    kill_worker_process,
    start_worker_process,
    wait_for,
    wait_for_status,
    worker_logs,
)

KILLS = 5
# Its own broker database: the in-process test worker (other tests) must not take these tasks.
BROKER = "redis://127.0.0.1:6379/9"
WORKER_ENV = {
    "HARNESS_OFFLINE_STEP_SECONDS": "0.25",
    "HARNESS_HEARTBEAT_STALE_SECONDS": "2",
    "HARNESS_REAPER_INTERVAL_SECONDS": "1",
}


def start_worker(tmp_path: Path, n: int) -> subprocess.Popen:
    return start_worker_process(tmp_path, str(n), broker=BROKER, env=WORKER_ENV)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_survives_five_worker_kills_mid_run(cast, acme, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("a separate worker process needs a shared database server")
    # The domain service writes the session without dispatching; planning goes to this test's broker.
    session = session_create(
        user=cast["member"],
        organization=acme,
        intent="build a chat app",
        requested_agents=["requirements-analyst", "architect", "backend", "frontend", "test-engineer"],
        execution_strategy="hybrid",
    )
    broker = Celery(broker=BROKER, set_as_current=False)  # shared tasks must keep using the real app
    broker.control.purge()
    broker.send_task("agents_app.tasks.plan_session", args=[session.pk])
    worker = start_worker(tmp_path, 0)
    kills = 0
    try:
        last_step_total = 0
        while kills < KILLS:
            # Wait until an agent is mid-run and has made progress since the last kill.
            def mid_run(last_step_total: int = last_step_total) -> bool:
                running = AgentRun.objects.filter(session=session, status=RunStatus.RUNNING).exists()
                total = sum(AgentRun.objects.filter(session=session).values_list("step", flat=True))
                return running and total > last_step_total

            wait_for(mid_run, timeout=90, interval=0.05, what="an agent to be mid-run")
            last_step_total = sum(AgentRun.objects.filter(session=session).values_list("step", flat=True))
            kill_worker_process(worker)
            kills += 1
            worker = start_worker(tmp_path, kills)
        session = wait_for_status(session, "completed", "failed", timeout=240)
    finally:
        if worker.poll() is None:
            kill_worker_process(worker)

    logs = worker_logs(tmp_path)
    assert session.status == "completed", f"{session.completion_summary}\n{logs[-4000:]}"
    assert_gap_free(session)
    assert SessionEvent.objects.filter(session=session, type="agent.requeued").count() >= 1
    for run in AgentRun.objects.filter(session=session):
        versions = list(ArtifactVersion.objects.filter(author_run=run).values_list("artifact__path", "author_step"))
        paths = Counter(path for path, _ in versions)
        # Offline agents write each of their files once: a second version would be a redone step.
        assert all(count == 1 for count in paths.values()), (run.agent.slug, paths)
        steps = [step for _, step in versions]
        assert len(steps) == len(set(steps))
        resumed = list(
            SessionEvent.objects.filter(run=run, type="agent.started").order_by("seq").values_list("data", flat=True)
        )
        resumed_steps = [d["resumed_from_step"] for d in resumed]
        assert resumed_steps == sorted(resumed_steps), "a run went back to an earlier checkpoint"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_session_paused_just_before_its_worker_dies_stays_paused(cast, acme, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("a separate worker process needs a shared database server")
    session = session_create(
        user=cast["member"], organization=acme, intent="build a chat app", requested_agents=["backend"]
    )
    broker = Celery(broker=BROKER, set_as_current=False)
    broker.control.purge()
    broker.send_task("agents_app.tasks.plan_session", args=[session.pk])
    slow = {**WORKER_ENV, "HARNESS_OFFLINE_STEP_SECONDS": "1.5"}  # the kill lands mid-step
    worker = start_worker_process(tmp_path, "pause-0", broker=BROKER, env=slow)
    try:
        run = wait_for(
            lambda: AgentRun.objects.filter(session=session, status=RunStatus.RUNNING, step__gte=1).first(),
            timeout=60,
            what="the agent to be mid-run",
        )
        session_pause(user=cast["member"], session=session)  # the worker would stop at its next step…
        kill_worker_process(worker)  # …but it dies first
        worker = start_worker_process(tmp_path, "pause-1", broker=BROKER, env=WORKER_ENV)

        wait_for(lambda: AgentRun.objects.get(pk=run.pk).status == RunStatus.PAUSED, timeout=30, what="the reaper")
        paused = SessionEvent.objects.filter(run=run, type="agent.paused").last()
        assert "worker was lost" in paused.data["reason"]
        assert not SessionEvent.objects.filter(run=run, type="agent.requeued").exists()
        assert SessionEvent.objects.filter(run=run, type="agent.started").count() == 1

        session_resume(user=cast["member"], session=session)
        session = wait_for_status(session, "completed", "failed", timeout=120)
    finally:
        if worker.poll() is None:
            kill_worker_process(worker)

    assert session.status == "completed", worker_logs(tmp_path)[-3000:]
    assert_gap_free(session)
    paths = list(ArtifactVersion.objects.filter(author_run=run).values_list("artifact__path", flat=True))
    assert sorted(paths) == sorted(set(paths))
