"""A guest of one session (shared to view) used to read, in its event log, the id and intent of another session
of the organisation that wrote the same paths: `conflict.detected` and `approval.requested` name the other side.
A guest now reads "another session in your organisation" there — in the events API and in the cursor behind SSE
and the websocket — while members still see which session it is."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.db import transaction

from agents_app.models import AgentDefinition, AgentRun
from agents_app.services.conflicts import conflict_record
from sessions_app.events import Actor
from sessions_app.models import DevelopmentSession
from sessions_app.services.collaboration import session_share
from sessions_app.streaming import Cursor

SECRET = "Migrate payroll to vendor Zebra"


def _conflict(cast, acme) -> tuple[DevelopmentSession, DevelopmentSession]:  # noqa: ANN001
    mine = DevelopmentSession.objects.create(
        organization=acme, created_by=cast["member"], intent="build a chat app", status="running"
    )
    theirs = DevelopmentSession.objects.create(
        organization=acme, created_by=cast["lead"], intent=SECRET, status="running"
    )
    run = AgentRun.objects.create(session=mine, agent=AgentDefinition.objects.get(slug="backend", organization=None))
    other = {"session__public_id": theirs.public_id, "session__intent": theirs.intent, "session_id": theirs.pk}
    with transaction.atomic():
        conflict_record(run=run, path="app/models.py", others=[other], actor=Actor.for_agent("backend"), approval=None)
    session_share(user=cast["member"], session=mine, username="guest", level="view")
    return mine, theirs


def _conflict_events(events: list[dict]) -> list[dict]:
    return [e for e in events if e["type"] in ("conflict.detected", "approval.requested")]


def test_it_reads_the_other_session_in_the_event_log(cast, acme, api):  # noqa: ANN001
    mine, theirs = _conflict(cast, acme)

    guest = api(cast["guest"]).get(f"/api/v1/sessions/{mine.public_id}/events/").json()["events"]
    member = api(cast["member"]).get(f"/api/v1/sessions/{mine.public_id}/events/").json()["events"]

    assert {e["type"] for e in _conflict_events(guest)} == {"conflict.detected", "approval.requested"}
    assert theirs.public_id not in str(guest) and "Zebra" not in str(guest)
    assert "another session in your organisation" in str(_conflict_events(guest))
    assert theirs.public_id in str(_conflict_events(member)) and "Zebra" in str(member), "members still see it"


def test_it_reads_the_other_session_from_the_live_stream(transactional_db, cast, acme):  # noqa: ANN001
    mine, theirs = _conflict(cast, acme)

    async def replay(user) -> list[dict]:  # noqa: ANN001
        return [e async for e in Cursor(mine, 0, viewer_pk=user.pk).replay()]

    guest, member = async_to_sync(replay)(cast["guest"]), async_to_sync(replay)(cast["member"])

    assert _conflict_events(guest) and theirs.public_id not in str(guest) and "Zebra" not in str(guest)
    assert [e["seq"] for e in guest] == [e["seq"] for e in member], "the guest misses no event, only the names"
    assert theirs.public_id in str(member)
