"""The event recorder: one `SessionEvent` per state change, written in the caller's transaction
and published to the session's live group only after that transaction commits."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
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


def session_lock_row(session_id: int) -> int | None:
    """Take the session row lock first: every writer locks session → run → artifact, never the reverse.
    Returns the session's `last_event_seq` as locked (None: no such session).

    FOR NO KEY UPDATE, not FOR UPDATE: PostgreSQL checks foreign keys at commit with a KEY SHARE
    lock on the referenced row, which FOR UPDATE would block — a deadlock between a writer holding
    a session and a transaction committing an event (or a child session) that references it."""
    return (
        DevelopmentSession.objects.select_for_update(no_key=True)
        .filter(pk=session_id)
        .values_list("last_event_seq", flat=True)
        .first()
    )


class EventBatch:
    """A session's events recorded in one transaction, written by ONE insert and ONE counter update at the end.

    Opened by `event_batch` under the session row lock, so the seqs it hands out are the next ones and nobody
    else can take them before it commits; published in seq order once the transaction commits."""

    def __init__(self, session: DevelopmentSession, last_seq: int) -> None:
        self.session, self.last_seq = session, last_seq
        self.events: list[SessionEvent] = []
        self.payloads: list[dict[str, Any]] = []
        #: More of the session row to write with the counter (the step's usage): one statement for both.
        self.session_fields: dict[str, Any] = {}

    def add(self, *, type: str, actor: Actor, data: dict[str, Any] | None, run: Any | None) -> SessionEvent:
        self.last_seq += 1
        event = _event(self.session, self.last_seq, type, actor, data, run)
        self.session.last_event_seq = self.last_seq
        self.events.append(event)
        self.payloads.append(
            event_payload(event, session_public_id=self.session.public_id, run_public_id=run.public_id if run else None)
        )
        return event

    def flush(self) -> None:
        if not self.events:
            if self.session_fields:
                DevelopmentSession.objects.filter(pk=self.session.pk).update(**self.session_fields)
            return
        SessionEvent.objects.bulk_create(self.events)
        counter = {"last_event_seq": self.last_seq, **self.session_fields}
        DevelopmentSession.objects.filter(pk=self.session.pk).update(**counter)
        public_id, payloads = self.session.public_id, list(self.payloads)
        transaction.on_commit(lambda: [live.publish(public_id, p) for p in payloads])
        self.events, self.payloads = [], []


_batches = threading.local()


def _open_batches() -> dict[int, EventBatch]:
    if not hasattr(_batches, "by_session"):
        _batches.by_session = {}
    return _batches.by_session


def open_batch(session_pk: int) -> EventBatch | None:
    """The session's `event_batch`, if one is open here: then the caller's transaction holds the session row lock."""
    return _open_batches().get(session_pk)


@contextmanager
def event_batch(session: DevelopmentSession, *, locked_seq: int | None = None) -> Iterator[EventBatch]:
    """Inside a transaction: lock the session row and collect every event recorded for it until the block ends,
    then write them all at once. An exception leaves nothing behind (the caller's transaction rolls back).
    `locked_seq`: the caller already holds the row lock and read `last_event_seq` under it."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_batch must run inside a transaction")
    open_batches = _open_batches()
    if session.pk in open_batches:  # nested: the outer batch writes them
        yield open_batches[session.pk]
        return
    last_seq = session_lock_row(session.pk) if locked_seq is None else locked_seq
    batch = EventBatch(session, last_seq or 0)
    open_batches[session.pk] = batch
    try:
        yield batch
    finally:
        open_batches.pop(session.pk, None)
    batch.flush()


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
    seq N+1 before seq N. Inside `event_batch` the event is written with the batch's other events.
    """
    batch = open_batch(session.pk)
    if batch is not None:
        return batch.add(type=type, actor=actor, data=data, run=run)
    with transaction.atomic(savepoint=False):
        event = _event(session, 0, type, actor, data, run)
        if connection.vendor == "postgresql":
            _insert_next(event)
        else:
            last_seq = (
                DevelopmentSession.objects.select_for_update(no_key=True)
                .values_list("last_event_seq", flat=True)
                .get(pk=session.pk)
            )
            event.seq = last_seq + 1
            DevelopmentSession.objects.filter(pk=session.pk).update(last_event_seq=event.seq)
            event.save(force_insert=True)
        session.last_event_seq = event.seq
        payload = event_payload(
            event, session_public_id=session.public_id, run_public_id=run.public_id if run else None
        )
        transaction.on_commit(lambda: live.publish(session.public_id, payload))
    return event


_INSERT_NEXT = """
    WITH counter AS (
        UPDATE sessions_app_developmentsession SET last_event_seq = last_event_seq + 1
        WHERE id = %s RETURNING last_event_seq
    )
    INSERT INTO sessions_app_sessionevent
        (session_id, seq, type, run_id, actor_kind, actor_user_id, actor_ref, actor_name, data, at)
    SELECT %s, counter.last_event_seq, %s, %s, %s, %s, %s, %s, %s, %s FROM counter
    RETURNING id, seq
"""


def _insert_next(event: SessionEvent) -> None:
    """PostgreSQL: take the session's next seq and insert the event in ONE statement. The UPDATE locks the session
    row until the transaction ends, exactly as `SELECT … FOR NO KEY UPDATE` + `UPDATE` did in two."""
    data = SessionEvent._meta.get_field("data").get_db_prep_save(event.data, connection)
    at = SessionEvent._meta.get_field("at").get_db_prep_save(event.at, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_NEXT,
            [
                event.session_id, event.session_id, event.type, event.run_id, event.actor_kind, event.actor_user_id,
                event.actor_ref, event.actor_name, data, at,
            ],
        )  # fmt: skip
        row = cursor.fetchone()
    if row is None:
        raise DevelopmentSession.DoesNotExist(f"session {event.session_id} does not exist")
    event.pk, event.seq = row
    event._state.adding, event._state.db = False, connection.alias


def _event(
    session: DevelopmentSession, seq: int, type: str, actor: Actor, data: dict[str, Any] | None, run: Any | None
) -> SessionEvent:
    return SessionEvent(
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
