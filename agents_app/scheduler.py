"""`advance(session)`: the database decides what runs next; Celery only executes.

Safe to call any number of times from anywhere: it locks the session row, queues every pending
run whose dependencies are complete (within the policy's parallelism), finishes the session when
nothing is left, and dispatches the queued runs' tasks only after the transaction commits.
"""

from __future__ import annotations

import logging

from django.db import transaction

from agents_app import dispatch, verification_phase
from agents_app.models import PARKED_RUN_STATUSES, AgentRun, RunStatus
from agents_app.run_queue import queue_run
from agents_app.selectors import policy_for, verification_summary
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
        policy = policy_for(session.organization)
        verifying = all(r.status == RunStatus.COMPLETED for r in runs) and verification_phase.phase_state(
            session, policy
        )[0] in ("needed", "in_flight")
        _update_phase(session, runs, verifying=verifying)
        _finish_if_done(session, runs, policy)


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


def _update_phase(session: DevelopmentSession, runs: list[AgentRun], *, verifying: bool) -> None:
    open_runs = [r for r in runs if r.status != RunStatus.COMPLETED]
    if open_runs:
        phase = min(open_runs, key=lambda r: (r.position, r.pk)).phase
    else:
        phase = "verification" if verifying else "done"
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


def _finish_if_done(session: DevelopmentSession, runs: list[AgentRun], policy) -> None:  # noqa: ANN001
    if any(r.status in (*ACTIVE, *PARKED_RUN_STATUSES, RunStatus.PAUSED) for r in runs):
        return
    if all(r.status == RunStatus.COMPLETED for r in runs):
        _verify_then_complete(session, runs, policy)
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


def _verify_then_complete(session: DevelopmentSession, runs: list[AgentRun], policy) -> None:  # noqa: ANN001
    """The agents are done: check the files (once per set of versions), repair, then end the session."""
    state, check = verification_phase.phase_state(session, policy)
    if state == "needed":
        verification_phase.verification_queue(session, actor=Actor.system())
        return
    if state == "in_flight":
        return
    if check is not None and check.status == "failed":
        if verification_phase.repair(session, check, runs, policy):
            return
        if policy.verification == "gate":
            session_finish(
                session=session,
                status=SessionStatus.FAILED,
                summary=f"Stopped: the checks failed after {check.round} repair round(s) — {check.summary}. "
                "Fix the files (or give feedback and retry) to continue.",
                data={"category": "verification", "verification": verification_summary(check)},
            )
            return
    session_complete(session, runs, check=check)


def _blocked_by(run: AgentRun, failed: list[AgentRun]) -> bool:
    failed_ids = {f.pk for f in failed}
    return any(dep.pk in failed_ids or dep.status != RunStatus.COMPLETED for dep in run.depends_on.all())


def session_complete(session: DevelopmentSession, runs: list[AgentRun], *, check=None) -> None:  # noqa: ANN001
    from artifacts_app.models import Artifact

    files = list(Artifact.objects.filter(session=session).order_by("path").values_list("path", "latest_version_number"))
    session.tokens_used, session.cost_usd = DevelopmentSession.objects.values_list("tokens_used", "cost_usd").get(
        pk=session.pk
    )
    lines = [f"{len(runs)} agents completed; {len(files)} files written."]
    if check is not None:
        lines.append(f"Checks: {check.status} — {check.summary}")
    lines += [f"- {r.agent.name}: {r.summary}" for r in runs if r.summary]
    session_finish(
        session=session,
        status=SessionStatus.COMPLETED,
        summary="\n".join(lines),
        data={
            "files": [{"path": p, "version": v} for p, v in files],
            "tokens": session.tokens_used,
            "cost_usd": str(session.cost_usd),
            **({"verification": verification_summary(check)} if check is not None else {}),
        },
    )
