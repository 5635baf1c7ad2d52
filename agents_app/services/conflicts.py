"""Two running sessions of one organisation writing the same path: detected, recorded, put to a lead.

Each session has its own workspace, so nothing is overwritten; but the two versions will meet when
the work is merged, so a lead decides. The policy says whether the later writer waits for that
decision (`block`) or goes on while it is pending (`flag`). The other sessions (and the epic, for
an epic's children) hear of it in their own logs, after this transaction commits, in their own
transactions — never two session locks at once.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from agents_app.models import AgentRun
from agents_app.services.approvals import approval_open
from sessions_app.events import Actor, event_record
from sessions_app.models import ApprovalRequest, DevelopmentSession

ACTION = "cross_session_conflict"


def already_flagged(session: DevelopmentSession, path: str) -> bool:
    return ApprovalRequest.objects.filter(session=session, action=ACTION, details__path=path).exists()


def conflict_details(session: DevelopmentSession, path: str, others: list[dict[str, Any]]) -> tuple[str, dict]:
    names = ", ".join(f"{o['session__public_id']} ({o['session__intent'][:60]})" for o in others)
    summary = f"{path} is also being written by running session(s) {names}; decide which version should stand."
    details = {
        "path": path,
        "sessions": [{"id": o["session__public_id"], "intent": o["session__intent"][:200]} for o in others],
    }
    return summary, details


def conflict_record(
    *, run: AgentRun, path: str, others: list[dict[str, Any]], actor: Actor, approval: ApprovalRequest | None
) -> ApprovalRequest:
    """Call inside the writer's step transaction. Opens the decision unless a parked call already did."""
    summary, details = conflict_details(run.session, path, others)
    if approval is None:
        approval = approval_open(run=run, action=ACTION, summary=summary, details=details, actor=actor)
    data = {**details, "approval": approval.public_id, "blocking": run.status == "awaiting_approval"}
    event_record(session=run.session, type="conflict.detected", actor=actor, run=run, data=data)
    session = run.session
    notify = [o["session_id"] for o in others] + ([session.parent_id] if session.parent_id else [])
    written_by = {"id": session.public_id, "intent": session.intent[:200], "agent": run.agent.slug}
    transaction.on_commit(lambda: _tell_others(notify, path, written_by, approval.public_id))
    return approval


def _tell_others(session_ids: list[int], path: str, written_by: dict, approval_id: str) -> None:
    for session_id in dict.fromkeys(session_ids):
        with transaction.atomic():
            session = DevelopmentSession.objects.filter(pk=session_id).first()
            if session is None:
                continue
            event_record(
                session=session,
                type="conflict.detected",
                actor=Actor.system(),
                data={"path": path, "sessions": [written_by], "approval": approval_id, "elsewhere": True},
            )
