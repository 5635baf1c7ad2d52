"""Finds work that was really lost and sends it again; it resumes from its checkpoint.

Lost is decided from evidence, never from how long something waited in the queue (a backlog is
not a loss):
- a RUNNING run whose heartbeat went stale lost its worker: queued again — or, when someone asked
  for a pause (the run or its session), parked as paused, as the worker would have done;
- a QUEUED run whose task message neither a broker queue nor a live worker holds lost its message:
  sent again under the SAME task id, so if the original turns up too, only one delivery claims it;
- a session in planning whose planning heartbeat is stale and whose planning message is held
  nowhere is planned again under the same task id (a live planning task is never duplicated);
- a running epic that went quiet is advanced (advancing twice is harmless).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents_app import dispatch
from agents_app.models import AgentRun, RunStatus, VerificationRun, VerificationStatus
from agents_app.run_queue import park_paused, queue_run
from agents_app.task_presence import tasks_held
from agents_app.verification_phase import verification_requeue
from sessions_app.events import Actor, event_record, session_lock_row
from sessions_app.models import DevelopmentSession, SessionStatus, TaskType

logger = logging.getLogger(__name__)
BATCH = 100
#: Between a commit and the send of its task message; younger queued work is never judged.
SEND_GRACE_SECONDS = 10


def requeue_lost_work() -> int:
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.HARNESS_HEARTBEAT_STALE_SECONDS)
    recovered = _requeue_stale_runs(stale_before)
    recovered += _resend_lost_messages(now - timedelta(seconds=SEND_GRACE_SECONDS))
    recovered += _replan_lost_planning(stale_before)
    recovered += _recover_lost_checks(stale_before, now - timedelta(seconds=SEND_GRACE_SECONDS))
    _advance_quiet_epics(stale_before)
    if recovered:
        logger.warning("recovered %s pieces of work left by lost workers or lost messages", recovered)
    return recovered


def _requeue_stale_runs(stale_before: datetime) -> int:
    stale = AgentRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=stale_before)
    requeued = 0
    for run_id, session_id in stale.values_list("pk", "session_id")[:BATCH]:
        with transaction.atomic():
            session_lock_row(session_id)
            run = (
                AgentRun.objects.select_for_update(no_key=True)
                .select_related("agent", "session")
                .filter(pk=run_id, status=RunStatus.RUNNING, heartbeat_at__lt=stale_before)
                .first()
            )
            if run is None:
                continue
            if run.control_request == "pause" or run.session.status == SessionStatus.PAUSED:
                park_paused(run, reason="paused; its worker was lost")
                requeued += 1
                continue
            data = {"reason": "worker lost (heartbeat stale)", "step": run.step}
            if queue_run(run, actor=Actor.system(), event_type="agent.requeued", data=data):
                requeued += 1
    return requeued


def _resend_lost_messages(judged_before: datetime) -> int:
    queued = list(
        AgentRun.objects.filter(status=RunStatus.QUEUED, queued_at__lt=judged_before)
        .order_by("queued_at")
        .values_list("pk", "task_id")[:BATCH]
    )
    if not queued:
        return 0
    held = tasks_held(task_id for _, task_id in queued)
    if held is None:
        return 0
    resent = 0
    for run_id, task_id in queued:
        if task_id in held:
            continue
        with transaction.atomic():
            run = AgentRun.objects.select_related("agent", "session").filter(pk=run_id).first()
            if run is None:
                continue
            session_lock_row(run.session_id)
            run = (
                AgentRun.objects.select_for_update(no_key=True)
                .select_related("agent", "session")
                .filter(pk=run_id, status=RunStatus.QUEUED, task_id=task_id)
                .first()
            )
            if run is None:
                continue
            wait = max(0.0, (run.retry_at - timezone.now()).total_seconds()) if run.retry_at else 0.0
            event_record(
                session=run.session,
                type="agent.requeued",
                actor=Actor.system(),
                run=run,
                data={
                    "agent": run.agent.slug,
                    "reason": "its task message was lost (no broker queue or live worker held it)",
                    "step": run.step,
                },
            )
            dispatch.run_agent_on_commit(run.pk, run.task_id, countdown=wait)
            resent += 1
    return resent


def _replan_lost_planning(stale_before: datetime) -> int:
    candidates = list(
        DevelopmentSession.objects.filter(
            Q(status=SessionStatus.PLANNING) | Q(status=SessionStatus.CREATED, parent__isnull=True),
            plan={},
            updated_at__lt=stale_before,
        )
        .filter(Q(planning_heartbeat_at__isnull=True) | Q(planning_heartbeat_at__lt=stale_before))
        .values_list("pk", "planning_task_id")[:BATCH]
    )
    if not candidates:
        return 0
    held = tasks_held(task_id for _, task_id in candidates)
    if held is None:
        return 0
    replanned = 0
    for session_id, task_id in candidates:
        if task_id and task_id in held:
            continue
        with transaction.atomic():
            session = (
                DevelopmentSession.objects.select_for_update(no_key=True)
                .filter(pk=session_id, plan={}, planning_task_id=task_id)
                .first()
            )
            if session is None or session.status not in (SessionStatus.PLANNING, SessionStatus.CREATED):
                continue
            if not task_id:
                task_id = dispatch.new_task_id()
                DevelopmentSession.objects.filter(pk=session_id).update(planning_task_id=task_id)
            logger.warning("planning of %s was lost; sending it again", session.public_id)
            dispatch.plan_session_on_commit(session_id, task_id)
            replanned += 1
    return replanned


def _recover_lost_checks(stale_before: datetime, judged_before: datetime) -> int:
    """A check whose worker died goes back in the queue; a queued check whose message is held nowhere is re-sent."""
    stale = VerificationRun.objects.filter(status=VerificationStatus.RUNNING, heartbeat_at__lt=stale_before)
    queued = list(
        VerificationRun.objects.filter(status=VerificationStatus.QUEUED, queued_at__lt=judged_before).values_list(
            "pk", "task_id"
        )[:BATCH]
    )
    held = tasks_held(task_id for _, task_id in queued) if queued else set()
    lost = [pk for pk, task_id in queued if held is not None and task_id not in held]
    recovered = 0
    for check_id in [*stale.values_list("pk", flat=True)[:BATCH], *lost]:
        with transaction.atomic():
            check = VerificationRun.objects.select_related("session").filter(pk=check_id).first()
            if check is None:
                continue
            session_lock_row(check.session_id)
            check = VerificationRun.objects.select_for_update().select_related("session").get(pk=check_id)
            if check.status == VerificationStatus.RUNNING and check.heartbeat_at and check.heartbeat_at < stale_before:
                verification_requeue(check, reason="worker lost (heartbeat stale)")
                recovered += 1
            elif check.status == VerificationStatus.QUEUED and check_id in lost:
                dispatch.send_on_commit(dispatch.RUN_VERIFICATION, check.pk, task_id=check.task_id)
                recovered += 1
    return recovered


def _advance_quiet_epics(stale_before: datetime) -> None:
    """An epic whose advance was lost with a worker moves on here (advancing twice is harmless)."""
    quiet = DevelopmentSession.objects.filter(
        task_type=TaskType.EPIC, status=SessionStatus.RUNNING, updated_at__lt=stale_before
    ).values_list("pk", flat=True)[:BATCH]
    for epic_id in quiet:
        dispatch.send(dispatch.ADVANCE_EPIC, epic_id)
