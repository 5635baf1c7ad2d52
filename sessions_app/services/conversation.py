"""The session's thread: every entry is a row and a `conversation.message` event, written in one transaction.

People's messages come from `feedback_submit` (a message is the feedback the agent receives), requirement
changes from `requirement_add`, the intent from `session_create`; agents' replies and questions, and the
answers to them, from `agents_app.services.conversation`. This module only records.
"""

from __future__ import annotations

from typing import Any

from sessions_app.events import Actor, event_record
from sessions_app.models import ActorKind, ConversationMessage, DevelopmentSession

#: An agent's words in the thread are capped (people's are capped by the input rules).
MAX_AGENT_TEXT = 4000


def message_record(
    *,
    session: DevelopmentSession,
    kind: str,
    text: str,
    actor: Actor,
    run: Any | None = None,
    reply_to: ConversationMessage | None = None,
    links: list[dict] | None = None,
    feedback: Any | None = None,
    requirement: Any | None = None,
) -> ConversationMessage:
    """Add one entry to the thread and record its event; call inside the caller's transaction."""
    if actor.kind != ActorKind.USER:
        text = text.replace("\x00", "\ufffd")[:MAX_AGENT_TEXT]
    message = ConversationMessage.objects.create(
        session=session,
        kind=kind,
        author_kind=actor.kind,
        author_user=actor.user,
        author_agent=actor.ref if actor.kind == ActorKind.AGENT else "",
        run=run,
        text=text,
        reply_to=reply_to,
        links=links or [],
        feedback=feedback,
        requirement=requirement,
    )
    event_record(session=session, type="conversation.message", actor=actor, run=run, data=message_data(message))
    return message


def message_data(message: ConversationMessage) -> dict[str, Any]:
    """The event's data (the live thread): what a client needs to draw the entry without asking again."""
    return {
        "id": message.public_id,
        "kind": message.kind,
        "text": message.text,
        "reply_to": message.reply_to.public_id if message.reply_to_id else None,
        "reply_to_kind": message.reply_to.kind if message.reply_to_id else None,
        "run": message.run.public_id if message.run_id else None,
        "agent": message.run.agent.slug if message.run_id else None,
        "links": message.links,
        "feedback_id": message.feedback_id,
        "requirement": _requirement(message),
    }


def _requirement(message: ConversationMessage) -> dict | None:
    if not message.requirement_id:
        return None
    requirement = message.requirement
    return {"id": requirement.pk, "refines": requirement.refines_id, "status": requirement.status}
