"""Finds work that a dead worker left behind and queues it again (it resumes from its checkpoint)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents_app import scheduler
from agents_app.models import AgentRun, RunStatus
from sessions_app.events import Actor, session_lock_row
from sessions_app.models import DevelopmentSession, SessionStatus, TaskType

logger = logging.getLogger(__name__)
BATCH = 100


def requeue_stale_runs() -> int:
    """RUNNING with a stale heartbeat, or QUEUED whose task never started: queue again, in bounded batches."""
    stale_after = timedelta(seconds=settings.HARNESS_HEARTBEAT_STALE_SECONDS)
    now = timezone.now()
    stale = list(
        AgentRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=now - stale_after).values_list(
            "pk", "session_id"
        )[:BATCH]
    )
    lost = list(
        AgentRun.objects.filter(status=RunStatus.QUEUED, queued_at__lt=now - stale_after).values_list(
            "pk", "session_id"
        )[:BATCH]
    )
    requeued = 0
    for run_id, session_id in stale + lost:
        with transaction.atomic():
            session_lock_row(session_id)
            run = AgentRun.objects.select_related("agent", "session").filter(pk=run_id).first()
            if run is None or run.status not in (RunStatus.RUNNING, RunStatus.QUEUED):
                continue
            if scheduler.queue_run(
                run,
                actor=Actor.system(),
                event_type="agent.requeued",
                data={
                    "reason": "worker lost" if run.status == RunStatus.RUNNING else "task never started",
                    "step": run.step,
                },
            ):
                requeued += 1
    _restart_stuck_planning(now - stale_after)
    if requeued:
        logger.warning("requeued %s runs left by lost workers", requeued)
    return requeued


def _restart_stuck_planning(before) -> None:  # noqa: ANN001
    """A session whose planning task was lost (worker died while planning) is planned again."""
    stuck = (
        DevelopmentSession.objects.filter(
            status__in=(SessionStatus.CREATED, SessionStatus.PLANNING), updated_at__lt=before
        )
        .exclude(status=SessionStatus.CREATED, parent__isnull=False)  # an epic's child waits for its epic
        .values_list("pk", flat=True)[:BATCH]
    )
    from agents_app import tasks

    for session_id in stuck:
        tasks.plan_session.delay(session_id)
    # An epic whose advance was lost with a worker moves on here (advancing twice is harmless).
    running_epics = DevelopmentSession.objects.filter(
        task_type=TaskType.EPIC, status=SessionStatus.RUNNING, updated_at__lt=before
    ).values_list("pk", flat=True)[:BATCH]
    for epic_id in running_epics:
        tasks.advance_epic.delay(epic_id)
