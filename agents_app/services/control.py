"""Pause, resume, cancel and retry — for a whole session or one agent.

A running agent is never interrupted mid-step: pausing it sets a request the worker honours at
the next step boundary (the step in flight is saved). Cancelling is immediate: the worker's next
fenced write is refused, so a cancelled run writes nothing more.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from agents_app import epics, scheduler
from agents_app.models import AgentRun, FailureCategory, RunStatus
from sessions_app.access import require_session_access
from sessions_app.errors import Conflict
from sessions_app.events import Actor, event_record, session_lock_row
from sessions_app.models import DevelopmentSession, SessionStatus
from sessions_app.services.sessions import session_lock, session_transition

OPEN = (
    RunStatus.PENDING, RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.AWAITING_APPROVAL, RunStatus.AWAITING_ANSWER,
    RunStatus.PAUSED,
)  # fmt: skip


def _locked_run(run: AgentRun) -> AgentRun:
    """Lock order everywhere: session row, then run rows."""
    session_lock_row(run.session_id)
    return AgentRun.objects.select_for_update(no_key=True).select_related("agent", "session").get(pk=run.pk)


def _pause_run(run: AgentRun, actor: Actor) -> None:
    if run.status == RunStatus.RUNNING:
        AgentRun.objects.filter(pk=run.pk).update(control_request="pause")
        event_record(
            session=run.session, type="agent.pause_requested", actor=actor, run=run, data={"agent": run.agent.slug}
        )
        return
    # A run waiting for an answer pauses too (its question stays open; resumed, it takes the answer or waits again).
    if run.status in (RunStatus.PENDING, RunStatus.QUEUED, RunStatus.AWAITING_ANSWER):
        run.status, run.control_request = RunStatus.PAUSED, ""
        run.save(update_fields=["status", "control_request"])
        event_record(session=run.session, type="agent.paused", actor=actor, run=run, data={"agent": run.agent.slug})


def _resume_run(run: AgentRun, actor: Actor) -> None:
    if run.status == RunStatus.RUNNING and run.control_request == "pause":
        AgentRun.objects.filter(pk=run.pk).update(control_request="")
        event_record(session=run.session, type="agent.resumed", actor=actor, run=run, data={"agent": run.agent.slug})
        return
    if run.status != RunStatus.PAUSED:
        return
    # Back to pending: the scheduler queues it when its dependencies are complete.
    run.status = RunStatus.PENDING
    run.save(update_fields=["status"])
    event_record(session=run.session, type="agent.resumed", actor=actor, run=run, data={"agent": run.agent.slug})


def _cancel_run(run: AgentRun, actor: Actor, reason: str) -> None:
    if run.is_terminal():
        return
    run.status, run.failure_category, run.error = RunStatus.CANCELLED, FailureCategory.CANCELLED, reason
    run.finished_at, run.control_request = timezone.now(), ""
    run.save(update_fields=["status", "failure_category", "error", "finished_at", "control_request"])
    event_record(
        session=run.session,
        type="agent.cancelled",
        actor=actor,
        run=run,
        data={"agent": run.agent.slug, "reason": reason},
    )


# --- one agent ----------------------------------------------------------------------------------


def run_pause(*, user: Any, run: AgentRun) -> AgentRun:
    with transaction.atomic():
        run = _locked_run(run)
        require_session_access(user, run.session, "control", doing="pause agents")
        if run.is_terminal():
            raise Conflict(f"{run.agent.slug} is {run.status}; there is nothing to pause.")
        _pause_run(run, Actor.for_user(user))
    return run


def run_resume(*, user: Any, run: AgentRun) -> AgentRun:
    with transaction.atomic():
        run = _locked_run(run)
        require_session_access(user, run.session, "control", doing="resume agents")
        if run.status != RunStatus.PAUSED and run.control_request != "pause":
            raise Conflict(f"{run.agent.slug} is {run.status}, not paused.")
        _resume_run(run, Actor.for_user(user))
    scheduler.advance(run.session_id)
    return run


def run_cancel(*, user: Any, run: AgentRun) -> AgentRun:
    with transaction.atomic():
        run = _locked_run(run)
        require_session_access(user, run.session, "control", doing="cancel agents")
        if run.is_terminal():
            raise Conflict(f"{run.agent.slug} is already {run.status}.")
        _cancel_run(run, Actor.for_user(user), reason=f"cancelled by {user.get_username()}")
    scheduler.advance(run.session_id)
    return run


def run_retry(*, user: Any, run: AgentRun) -> AgentRun:
    with transaction.atomic():
        session = session_lock(run.session)
        run = _locked_run(run)
        require_session_access(user, session, "control", doing="retry agents")
        if run.status not in (RunStatus.FAILED, RunStatus.CANCELLED):
            raise Conflict(f"{run.agent.slug} is {run.status}; only failed or cancelled agents can be retried.")
        _retry_run(run, Actor.for_user(user))
        if session.status == SessionStatus.FAILED:
            session_transition(
                session=session, to=SessionStatus.RUNNING, actor=Actor.for_user(user), event_type="session.resumed"
            )
    scheduler.advance(run.session_id)
    return run


def _retry_run(run: AgentRun, actor: Actor) -> None:
    """Back to pending, keeping its checkpoint: the retried agent continues from its last saved step."""
    previous = {"failure_category": run.failure_category, "error": run.error}
    run.status, run.failure_category, run.error, run.finished_at = RunStatus.PENDING, "", "", None
    run.retries += 1
    run.save(update_fields=["status", "failure_category", "error", "finished_at", "retries"])
    event_record(
        session=run.session,
        type="agent.retrying",
        actor=actor,
        run=run,
        data={"agent": run.agent.slug, "retries": run.retries, "previous": previous},
    )


# --- the whole session ----------------------------------------------------------------------------


def _session_runs(session: DevelopmentSession) -> list[AgentRun]:
    return list(
        AgentRun.objects.select_for_update(no_key=True)
        .filter(session=session, status__in=OPEN)
        .select_related("agent", "session")
    )


def session_pause(*, user: Any, session: DevelopmentSession) -> DevelopmentSession:
    """Pause the session (an epic: and its started children); agents stop at their next step boundary."""
    with transaction.atomic():
        session = session_lock(session)
        require_session_access(user, session, "control", doing="pause this session")
        if session.status not in (SessionStatus.RUNNING, SessionStatus.PLANNING, SessionStatus.CREATED):
            raise Conflict(f"Session {session.public_id} is {session.status}; only a running session can be paused.")
        actor = Actor.for_user(user)
        _pause_session(session, actor)
        for child in _children(session, SessionStatus.RUNNING, SessionStatus.PLANNING):
            _pause_session(child, actor)
    return session


def _pause_session(session: DevelopmentSession, actor: Actor) -> None:
    for run in _session_runs(session):
        _pause_run(run, actor)
    session_transition(session=session, to=SessionStatus.PAUSED, actor=actor, event_type="session.paused")


def session_resume(*, user: Any, session: DevelopmentSession) -> DevelopmentSession:
    with transaction.atomic():
        session = session_lock(session)
        require_session_access(user, session, "control", doing="resume this session")
        if session.status != SessionStatus.PAUSED:
            raise Conflict(f"Session {session.public_id} is {session.status}, not paused.")
        actor = Actor.for_user(user)
        _resume_session(session, actor)
        children = _children(session, SessionStatus.PAUSED)
        for child in children:
            _resume_session(child, actor)
    for advanced in (session, *children):
        scheduler.advance(advanced.pk)
    if session.is_epic:
        epics.epic_advance(session.pk)  # children that became ready while it was paused start now
    return session


def _resume_session(session: DevelopmentSession, actor: Actor) -> None:
    for run in _session_runs(session):
        _resume_run(run, actor)
    planned = bool(session.plan)
    target = SessionStatus.RUNNING if planned else SessionStatus.PLANNING
    session_transition(session=session, to=target, actor=actor, event_type="session.resumed")
    if not planned:
        scheduler.kickoff_on_commit(session)


def session_cancel(*, user: Any, session: DevelopmentSession) -> DevelopmentSession:
    """Cancel the session (an epic: and every child that has not finished)."""
    with transaction.atomic():
        session = session_lock(session)
        require_session_access(user, session, "control", doing="cancel this session")
        if session.is_terminal() and session.status != SessionStatus.FAILED:
            raise Conflict(f"Session {session.public_id} is already {session.status}.")
        actor = Actor.for_user(user)
        reason = f"session cancelled by {user.get_username()}"
        _cancel_session(session, actor, reason)
        open_statuses = [s for s in SessionStatus.values if s not in (SessionStatus.COMPLETED, SessionStatus.CANCELLED)]
        for child in _children(session, *open_statuses):
            _cancel_session(child, actor, f"its epic was cancelled by {user.get_username()}")
    return session


def _cancel_session(session: DevelopmentSession, actor: Actor, reason: str) -> None:
    for run in _session_runs(session):
        _cancel_run(run, actor, reason=reason)
    session_transition(session=session, to=SessionStatus.CANCELLED, actor=actor, event_type="session.cancelled")


def _children(session: DevelopmentSession, *statuses: str) -> list[DevelopmentSession]:
    """An epic's children in those statuses, locked (epic first, then children: the order everywhere)."""
    if not session.is_epic:
        return []
    return list(
        DevelopmentSession.objects.select_for_update(no_key=True)
        .filter(parent=session, status__in=statuses)
        .order_by("id")
    )


def session_retry(*, user: Any, session: DevelopmentSession) -> DevelopmentSession:
    with transaction.atomic():
        session = session_lock(session)
        require_session_access(user, session, "control", doing="retry this session")
        failed = list(
            AgentRun.objects.select_for_update(no_key=True)
            .filter(session=session, status__in=(RunStatus.FAILED, RunStatus.CANCELLED))
            .select_related("agent", "session")
        )
        if session.status != SessionStatus.FAILED or not failed:
            raise Conflict(f"Session {session.public_id} is {session.status}; only a failed session can be retried.")
        actor = Actor.for_user(user)
        for run in failed:
            _retry_run(run, actor)
        session_transition(session=session, to=SessionStatus.RUNNING, actor=actor, event_type="session.resumed")
    scheduler.advance(session.pk)
    return session
