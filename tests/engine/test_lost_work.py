"""The reaper judges lost work from evidence — a stale heartbeat, a message no broker queue or live
worker holds — never from how long work waited; a re-send keeps the task id; a pause survives."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import Celery
from django.utils import timezone

from agents_app import dispatch, planning, reaper, runtime
from agents_app.models import AgentRun, RunStatus
from agents_app.services import control
from agents_app.task_presence import tasks_held
from sessions_app.models import DevelopmentSession, SessionEvent
from sessions_app.services.sessions import session_create
from tests.support import wait_for

LONG_AGO = timezone.now() - timedelta(hours=1)


def sends(callbacks) -> list[tuple[str, tuple, str | None]]:  # noqa: ANN001
    """What the captured on-commit callbacks would send: (task name, args, task id)."""
    return [(cb.args[0], cb.args[1:], cb.keywords.get("task_id")) for cb in callbacks if hasattr(cb, "keywords")]


@pytest.fixture
def planned(db, start):  # noqa: ANN001, ANN201
    """A planned session whose first run is QUEUED; with the `db` fixture nothing was ever sent."""
    session = start(agents=["requirements-analyst", "architect"], execution_strategy="sequential")
    assert planning.plan_session(session.pk) == "planned"
    run = AgentRun.objects.select_related("agent", "session").get(session=session, status=RunStatus.QUEUED)
    return session, run


def backdate(run: AgentRun, **fields) -> None:  # noqa: ANN003
    AgentRun.objects.filter(pk=run.pk).update(**fields)


def test_a_queued_run_whose_message_nobody_holds_is_sent_again_under_its_task_id(
    planned, django_capture_on_commit_callbacks
):
    session, run = planned
    backdate(run, queued_at=LONG_AGO)

    with django_capture_on_commit_callbacks() as callbacks:
        assert reaper.requeue_lost_work() == 1

    assert sends(callbacks) == [(dispatch.RUN_AGENT, (run.pk,), run.task_id)]
    fresh = AgentRun.objects.get(pk=run.pk)
    assert (fresh.status, fresh.task_id) == (RunStatus.QUEUED, run.task_id)
    event = SessionEvent.objects.get(session=session, type="agent.requeued")
    assert "message was lost" in event.data["reason"]


def test_a_young_queued_run_is_not_judged_at_all(planned, django_capture_on_commit_callbacks):
    """Between a commit and the send of its message there is a moment when nothing holds it."""
    session, run = planned

    with django_capture_on_commit_callbacks() as callbacks:
        assert reaper.requeue_lost_work() == 0

    assert sends(callbacks) == [] and not SessionEvent.objects.filter(type="agent.requeued").exists()


def test_a_queued_run_whose_message_a_live_worker_holds_is_left_alone(
    planned, celery_worker_session, django_capture_on_commit_callbacks
):
    session, run = planned
    backdate(run, queued_at=LONG_AGO)
    # A delivery the worker holds back until later (as a retry's countdown does), under the run's task id.
    celery_worker_session.send_task("agents_app.tasks.ping", args=["held"], task_id=run.task_id, countdown=120)
    try:
        wait_for(lambda: tasks_held([run.task_id]) == {run.task_id}, timeout=10, what="the worker to hold it")

        with django_capture_on_commit_callbacks() as callbacks:
            assert reaper.requeue_lost_work() == 0

        assert sends(callbacks) == []
        assert not SessionEvent.objects.filter(session=session, type="agent.requeued").exists()
    finally:
        celery_worker_session.control.revoke(run.task_id)


def test_a_message_waiting_in_a_broker_queue_counts_as_held():
    broker = Celery(broker="redis://127.0.0.1:6379/11", set_as_current=False)
    broker.conf.broker_connection_retry_on_startup = True
    broker.connection_for_write().default_channel.client.flushdb()
    try:
        broker.send_task("agents_app.tasks.ping", args=["waiting"], task_id="waiting-in-line")

        assert tasks_held(["waiting-in-line", "never-sent"], app=broker, broadcast_timeout=0.2) == {"waiting-in-line"}
    finally:
        broker.connection_for_write().default_channel.client.flushdb()


def test_an_unreadable_broker_is_no_evidence_and_nothing_is_requeued():
    nowhere = Celery(broker="redis://127.0.0.1:1/0", set_as_current=False)
    nowhere.conf.broker_connection_max_retries = 0
    nowhere.conf.broker_connection_timeout = 0.5

    assert tasks_held(["anything"], app=nowhere) is None


def test_a_stale_running_run_is_requeued_with_a_new_task_id(planned, django_capture_on_commit_callbacks):
    session, run = planned
    runtime.run_claim(run.pk, run.task_id)
    backdate(run, heartbeat_at=LONG_AGO)

    with django_capture_on_commit_callbacks() as callbacks:
        assert reaper.requeue_lost_work() == 1

    fresh = AgentRun.objects.get(pk=run.pk)
    assert fresh.status == RunStatus.QUEUED and fresh.task_id != run.task_id
    assert sends(callbacks) == [(dispatch.RUN_AGENT, (run.pk,), fresh.task_id)]
    assert SessionEvent.objects.get(session=session, type="agent.requeued").data["reason"].startswith("worker lost")


@pytest.mark.parametrize("paused", ["the run", "the session"])
def test_a_pause_survives_a_lost_worker(planned, cast, paused, django_capture_on_commit_callbacks):
    session, run = planned
    runtime.run_claim(run.pk, run.task_id)
    if paused == "the run":
        control.run_pause(user=cast["member"], run=run)
    else:
        control.session_pause(user=cast["member"], session=session)
    assert AgentRun.objects.get(pk=run.pk).status == RunStatus.RUNNING  # the worker would stop at its next step
    backdate(run, heartbeat_at=LONG_AGO)  # …but it died first

    with django_capture_on_commit_callbacks() as callbacks:
        reaper.requeue_lost_work()

    fresh = AgentRun.objects.get(pk=run.pk)
    assert (fresh.status, fresh.control_request) == (RunStatus.PAUSED, "")
    assert sends(callbacks) == []
    paused_event = SessionEvent.objects.filter(run=run, type="agent.paused").last()
    assert "worker was lost" in paused_event.data["reason"]
    assert not SessionEvent.objects.filter(session=session, type="agent.requeued").exists()


def test_lost_planning_is_sent_again_under_its_task_id_but_live_planning_is_not(
    db, cast, acme, django_capture_on_commit_callbacks
):
    lost = session_create(user=cast["member"], organization=acme, intent="build a chat app")
    live = session_create(user=cast["member"], organization=acme, intent="build a todo app")
    DevelopmentSession.objects.filter(pk=lost.pk).update(planning_task_id="plan-lost", updated_at=LONG_AGO)
    DevelopmentSession.objects.filter(pk=live.pk).update(
        planning_task_id="plan-live", updated_at=LONG_AGO, planning_heartbeat_at=timezone.now(), status="planning"
    )

    with django_capture_on_commit_callbacks() as callbacks:
        assert reaper.requeue_lost_work() == 1

    assert sends(callbacks) == [(dispatch.PLAN_SESSION, (lost.pk,), "plan-lost")]


def test_a_duplicate_planning_delivery_does_nothing_while_planning_is_alive(db, cast, acme):
    session = session_create(user=cast["member"], organization=acme, intent="build a chat app")
    DevelopmentSession.objects.filter(pk=session.pk).update(
        planning_task_id="plan-1", planning_heartbeat_at=timezone.now(), status="planning"
    )

    assert planning.plan_session(session.pk, task_id="plan-1") == "planning is already under way"
    assert planning.plan_session(session.pk, task_id="plan-0") == "superseded by a newer planning task"
    assert DevelopmentSession.objects.get(pk=session.pk).plan == {}
