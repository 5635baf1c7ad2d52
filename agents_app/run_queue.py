"""Putting one run in the queue, or parking it as paused: the two moves every part of the engine makes."""

from __future__ import annotations

from django.utils import timezone

from agents_app import dispatch
from agents_app.models import AgentRun, RunStatus
from sessions_app.events import Actor, event_record


def queue_run(run: AgentRun, *, actor: Actor, event_type: str = "agent.queued", data: dict | None = None) -> bool:
    """PENDING/PAUSED/FAILED/AWAITING_APPROVAL/AWAITING_ANSWER → QUEUED by conditional update, with a new task id
    (deliveries of an older one find nothing to claim); True if this call did it."""
    task_id = dispatch.new_task_id()
    updated = AgentRun.objects.filter(pk=run.pk, status=run.status, attempt=run.attempt).update(
        status=RunStatus.QUEUED, task_id=task_id, queued_at=timezone.now(), retry_at=None, control_request=""
    )
    if not updated:
        return False
    run.status, run.task_id = RunStatus.QUEUED, task_id
    # Registered before the event, so on commit the task is sent first and the event's live publish
    # (a channel-layer round trip) does not delay the worker.
    dispatch.run_agent_on_commit(run.pk, task_id)
    event_record(
        session=run.session, type=event_type, actor=actor, run=run, data={"agent": run.agent.slug, **(data or {})}
    )
    return True


def park_waiting(run: AgentRun, *, status: str, event: str, data: dict, actor: Actor) -> None:
    """A locked run waits for a person (an approval, an answer): its worker is freed, nothing requeues it."""
    run.status = status
    run.save(update_fields=["status"])
    event_record(session=run.session, type=event, actor=actor, run=run, data={"agent": run.agent.slug, **data})


def park_paused(run: AgentRun, *, reason: str = "") -> None:
    """A locked run that was asked to pause stops here (at a step boundary, or after its worker was lost)."""
    run.status, run.control_request = RunStatus.PAUSED, ""
    run.save(update_fields=["status", "control_request"])
    data = {"agent": run.agent.slug, "step": run.step, **({"reason": reason} if reason else {})}
    event_record(session=run.session, type="agent.paused", actor=Actor.system(), run=run, data=data)
