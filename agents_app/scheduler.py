"""`advance(session)`: the database decides what runs next; Celery only executes.

Safe to call any number of times from anywhere: it locks the session row, queues every pending
run whose dependencies are complete (within the policy's parallelism), finishes the session when
nothing is left, and dispatches the queued runs' tasks only after the transaction commits.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from agents_app import dispatch
from agents_app.models import AgentRun, RunStatus
from agents_app.selectors import policy_for
from sessions_app.events import Actor, event_record
from sessions_app.models import DevelopmentSession, SessionStatus
from sessions_app.services.sessions import session_finish

logger = logging.getLogger(__name__)
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


def kickoff_on_commit(session: DevelopmentSession) -> None:
    """Plan the session once its creation has committed, under a task id kept on the row."""
    task_id = dispatch.new_task_id()
    DevelopmentSession.objects.filter(pk=session.pk).update(planning_task_id=task_id, planning_heartbeat_at=None)
    session.planning_task_id = task_id
    dispatch.plan_session_on_commit(session.pk, task_id)


def queue_run(run: AgentRun, *, actor: Actor, event_type: str = "agent.queued", data: dict | None = None) -> bool:
    """PENDING/PAUSED/FAILED/AWAITING_APPROVAL → QUEUED by conditional update, with a new task id
    (deliveries of an older one find nothing to claim); True if this call did it."""
    task_id = dispatch.new_task_id()
    updated = AgentRun.objects.filter(pk=run.pk, status=run.status, attempt=run.attempt).update(
        status=RunStatus.QUEUED, task_id=task_id, queued_at=timezone.now(), retry_at=None, control_request=""
    )
    if not updated:
        return False
    run.status, run.task_id = RunStatus.QUEUED, task_id
    event_record(
        session=run.session, type=event_type, actor=actor, run=run, data={"agent": run.agent.slug, **(data or {})}
    )
    dispatch.run_agent_on_commit(run.pk, task_id)
    return True


def park_paused(run: AgentRun, *, reason: str = "") -> None:
    """A locked run that was asked to pause stops here (at a step boundary, or after its worker was lost)."""
    run.status, run.control_request = RunStatus.PAUSED, ""
    run.save(update_fields=["status", "control_request"])
    data = {"agent": run.agent.slug, "step": run.step, **({"reason": reason} if reason else {})}
    event_record(session=run.session, type="agent.paused", actor=Actor.system(), run=run, data=data)


def advance(session_id: int) -> None:
    with transaction.atomic():
        session = DevelopmentSession.objects.select_for_update(no_key=True).filter(pk=session_id).first()
        if session is None or session.status != SessionStatus.RUNNING:
            return
        runs = list(
            AgentRun.objects.filter(session=session).select_related("agent", "session").prefetch_related("depends_on")
        )
        if not runs:
            return
        _queue_ready(session, runs)
        _update_phase(session, runs)
        _finish_if_done(session, runs)


def _queue_ready(session: DevelopmentSession, runs: list[AgentRun]) -> None:
    by_id = {run.pk: run for run in runs}
    capacity = policy_for(session.organization).max_parallel_agents - sum(r.status in ACTIVE for r in runs)
    for run in sorted(runs, key=lambda r: (r.position, r.pk)):
        if capacity <= 0:
            break
        if run.status != RunStatus.PENDING:
            continue
        deps = [by_id[d.pk] for d in run.depends_on.all() if d.pk in by_id]
        if all(dep.status == RunStatus.COMPLETED for dep in deps):
            run.session = session
            if queue_run(run, actor=Actor.system()):
                capacity -= 1


def _update_phase(session: DevelopmentSession, runs: list[AgentRun]) -> None:
    open_runs = [r for r in runs if r.status != RunStatus.COMPLETED]
    phase = min(open_runs, key=lambda r: (r.position, r.pk)).phase if open_runs else "done"
    if phase == session.current_phase:
        return
    completed = list(session.completed_phases)
    if session.current_phase and session.current_phase not in completed:
        completed.append(session.current_phase)
    previous = session.current_phase
    session.current_phase, session.completed_phases = phase, completed
    session.save(update_fields=["current_phase", "completed_phases", "updated_at"])
    event_record(
        session=session,
        type="session.phase_changed",
        actor=Actor.system(),
        data={"from": previous, "to": phase, "completed_phases": completed},
    )


def _finish_if_done(session: DevelopmentSession, runs: list[AgentRun]) -> None:
    if any(r.status in (*ACTIVE, RunStatus.AWAITING_APPROVAL, RunStatus.PAUSED) for r in runs):
        return
    if all(r.status == RunStatus.COMPLETED for r in runs):
        session_complete(session, runs)
        return
    blocked = [r for r in runs if r.status == RunStatus.PENDING]
    failed = [r for r in runs if r.status in (RunStatus.FAILED, RunStatus.CANCELLED)]
    if failed and all(_blocked_by(r, failed) for r in blocked):
        reasons = "; ".join(f"{r.agent.slug} {r.status}: {r.error or r.failure_category}" for r in failed)
        session_finish(
            session=session,
            status=SessionStatus.FAILED,
            summary=f"Stopped: {reasons}. Retry the failed agents to continue.",
            data={"failed_runs": [r.public_id for r in failed]},
        )


def _blocked_by(run: AgentRun, failed: list[AgentRun]) -> bool:
    failed_ids = {f.pk for f in failed}
    return any(dep.pk in failed_ids or dep.status != RunStatus.COMPLETED for dep in run.depends_on.all())


def session_complete(session: DevelopmentSession, runs: list[AgentRun]) -> None:
    from artifacts_app.models import Artifact

    files = list(Artifact.objects.filter(session=session).order_by("path").values_list("path", "latest_version_number"))
    session.tokens_used, session.cost_usd = DevelopmentSession.objects.values_list("tokens_used", "cost_usd").get(
        pk=session.pk
    )
    lines = [f"{len(runs)} agents completed; {len(files)} files written."]
    lines += [f"- {r.agent.name}: {r.summary}" for r in runs if r.summary]
    session_finish(
        session=session,
        status=SessionStatus.COMPLETED,
        summary="\n".join(lines),
        data={
            "files": [{"path": p, "version": v} for p, v in files],
            "tokens": session.tokens_used,
            "cost_usd": str(session.cost_usd),
        },
    )
