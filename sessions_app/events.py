"""The event recorder: one `SessionEvent` per state change, written in the caller's transaction
and published to the session's live group only after that transaction commits."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from sessions_app import live
from sessions_app.models import ActorKind, DevelopmentSession, SessionEvent

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    kind: str
    name: str
    ref: str = ""
    user: AbstractBaseUser | None = None

    @classmethod
    def for_user(cls, user: AbstractBaseUser) -> Actor:
        return cls(kind=ActorKind.USER, name=user.get_username(), ref=user.get_username(), user=user)

    @classmethod
    def for_agent(cls, slug: str, name: str | None = None) -> Actor:
        return cls(kind=ActorKind.AGENT, name=name or slug, ref=slug)

    @classmethod
    def system(cls) -> Actor:
        return cls(kind=ActorKind.SYSTEM, name="Harness", ref="system")

    def as_payload(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.ref, "name": self.name}


def event_payload(event: SessionEvent, *, session_public_id: str, run_public_id: str | None) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "type": event.type,
        "session": session_public_id,
        "run": run_public_id,
        "actor": {"kind": event.actor_kind, "id": event.actor_ref, "name": event.actor_name},
        "at": event.at.isoformat(),
        "data": event.data,
    }


def session_lock_row(session_id: int) -> None:
    """Take the session row lock first: every writer locks session → run → artifact, never the reverse.

    FOR NO KEY UPDATE, not FOR UPDATE: PostgreSQL checks foreign keys at commit with a KEY SHARE
    lock on the referenced row, which FOR UPDATE would block — a deadlock between a writer holding
    a session and a transaction committing an event (or a child session) that references it."""
    DevelopmentSession.objects.select_for_update(no_key=True).filter(pk=session_id).values_list("pk", flat=True).first()


def event_record(
    *,
    session: DevelopmentSession,
    type: str,
    actor: Actor,
    data: dict[str, Any] | None = None,
    run: Any | None = None,
) -> SessionEvent:
    """Append an event to the session's log with the next gap-free `seq`.

    The session row lock taken here is held until the caller's transaction ends, so concurrent
    writers of one session queue up and commit in `seq` order: a reader of the log never sees
    seq N+1 before seq N.
    """
    with transaction.atomic():
        last_seq = (
            DevelopmentSession.objects.select_for_update(no_key=True)
            .values_list("last_event_seq", flat=True)
            .get(pk=session.pk)
        )
        seq = last_seq + 1
        DevelopmentSession.objects.filter(pk=session.pk).update(last_event_seq=seq)
        event = SessionEvent.objects.create(
            session=session,
            seq=seq,
            type=type,
            run=run,
            actor_kind=actor.kind,
            actor_user=actor.user,
            actor_ref=actor.ref,
            actor_name=actor.name,
            data=data or {},
            at=timezone.now(),
        )
        session.last_event_seq = seq
        payload = event_payload(
            event, session_public_id=session.public_id, run_public_id=run.public_id if run else None
        )
        transaction.on_commit(lambda: live.publish(session.public_id, payload))
    return event


def event_send_ephemeral(
    *, session_public_id: str, type: str, actor: Actor, data: dict[str, Any], run_public_id: str | None = None
) -> None:
    """Live-only events (`agent.delta`, `presence.*`): no `seq`, never stored or replayed."""
    live.publish(
        session_public_id,
        {
            "seq": None,
            "type": type,
            "session": session_public_id,
            "run": run_public_id,
            "actor": actor.as_payload(),
            "at": timezone.now().isoformat(),
            "data": data,
        },
    )
