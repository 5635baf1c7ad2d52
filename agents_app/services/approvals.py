"""Decisions that need a person: an agent asks (or the policy asks for it), a lead decides."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from agents_app.models import AgentRun, RunStatus
from agents_app.run_queue import park_waiting, queue_run
from sessions_app import inputs
from sessions_app.access import require_session_access
from sessions_app.errors import Conflict
from sessions_app.events import Actor, event_record, session_lock_row
from sessions_app.models import ApprovalRequest, ApprovalStatus, SessionStatus


def approval_open(
    *, run: AgentRun, action: str, summary: str, details: dict[str, Any], actor: Actor, blocking: bool = False
) -> ApprovalRequest:
    """Ask a lead to decide; the run goes on (a decision that needs making, not a gate)."""
    approval = ApprovalRequest.objects.create(
        session=run.session, run=run, action=action, summary=summary[:2000], details=details
    )
    event_record(
        session=run.session,
        type="approval.requested",
        actor=actor,
        run=run,
        data={
            "approval": approval.public_id,
            "action": action,
            "summary": approval.summary,
            "details": _brief(details),
            "blocking": blocking,
        },
    )
    return approval


def approval_request(
    *, run: AgentRun, action: str, summary: str, details: dict[str, Any], actor: Actor
) -> ApprovalRequest:
    """Park the run (call inside the worker's fenced step transaction); it frees its worker."""
    approval = approval_open(run=run, action=action, summary=summary, details=details, actor=actor, blocking=True)
    park_waiting(
        run, status=RunStatus.AWAITING_APPROVAL, event="agent.awaiting_approval",
        data={"approval": approval.public_id}, actor=actor,
    )  # fmt: skip
    return approval


def approval_decide(*, user: Any, approval: ApprovalRequest, decision: str, comment: str = "") -> ApprovalRequest:
    """A lead approves or rejects; the parked run is queued again and sees the decision at its next step."""
    comment = inputs.clean_text(comment, inputs.COMMENT, field="comment")
    with transaction.atomic():
        session_lock_row(approval.session_id)
        approval = (
            ApprovalRequest.objects.select_for_update().select_related("session__organization").get(pk=approval.pk)
        )
        session = approval.session
        require_session_access(user, session, "decide", doing="decide approvals")
        if not approval.is_pending():
            raise Conflict(f"Approval {approval.public_id} was already {approval.status} by {approval.decided_by}.")
        approval.status = ApprovalStatus.APPROVED if decision == "approve" else ApprovalStatus.REJECTED
        approval.decided_by, approval.decided_at, approval.comment = user, timezone.now(), comment
        approval.save(update_fields=["status", "decided_by", "decided_at", "comment"])
        actor = Actor.for_user(user)
        event_record(
            session=session,
            type="approval.decided",
            actor=actor,
            run=approval.run,
            data={"approval": approval.public_id, "decision": approval.status, "comment": approval.comment},
        )
        run = (
            AgentRun.objects.select_for_update(no_key=True)
            .select_related("agent", "session")
            .filter(pk=approval.run_id)
            .first()
        )
        if run is not None and run.status == RunStatus.AWAITING_APPROVAL:
            if session.status == SessionStatus.RUNNING:
                queue_run(run, actor=actor, event_type="agent.resumed", data={"approval": approval.public_id})
            else:
                run.status = RunStatus.PAUSED
                run.save(update_fields=["status"])
    return approval


def _brief(details: dict[str, Any]) -> dict[str, Any]:
    """Events carry a preview, not whole files."""
    return {k: (v[:500] + "…" if isinstance(v, str) and len(v) > 500 else v) for k, v in details.items()}
