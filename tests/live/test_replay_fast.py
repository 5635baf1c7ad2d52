"""The fast replay path (`sessions_app.replay`) and one serialisation per event (`live.publish`): the texts
parse to exactly the old payloads (`events.event_payload`), gaps are filled and duplicates dropped, guests
still read a redacted copy, and the queries per page do not grow with the rows."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token

from agents_app.models import AgentDefinition, AgentRun
from config.asgi import application
from sessions_app import live
from sessions_app.epic_visibility import OTHER_SESSION
from sessions_app.events import event_payload
from sessions_app.live import Rendered
from sessions_app.models import DevelopmentSession, SessionEvent
from sessions_app.replay import events_rendered
from sessions_app.streaming import Cursor

pytestmark = pytest.mark.django_db(transaction=True)

AWKWARD = {
    "text": 'quotes " and \\ backslashes, a\nnewline, a tab\t, é ü 漢字 🙂, \u2028 and </script>',
    "nested": {"list": [1, 2.5, -3, None, True, False, "x"], "empty": {}, "zero": 0},
    "big": 12345678901234567,
    "float": 0.1,
    "keys in order": {"b": 1, "a": 2, "aa": 3},
}


@pytest.fixture
def session(cast, acme):  # noqa: ANN001, ANN201
    return DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="build a chat app")


def add_events(session: DevelopmentSession, n: int, *, run: AgentRun | None = None, start: int = 1) -> None:
    SessionEvent.objects.bulk_create(
        SessionEvent(
            session=session, seq=i, type="agent.progress", run=run, actor_kind="agent", actor_ref="backend",
            actor_name="Backend", data={"i": i}, at=timezone.now(),
        )
        for i in range(start, start + n)
    )  # fmt: skip
    DevelopmentSession.objects.filter(pk=session.pk).update(last_event_seq=start + n - 1)


def old_payloads(session: DevelopmentSession, after: int = 0) -> list[dict]:
    """What the ORM path produced: `event_payload` of each model row."""
    rows = SessionEvent.objects.filter(session=session, seq__gt=after).select_related("run").order_by("seq")
    return [
        event_payload(e, session_public_id=session.public_id, run_public_id=e.run.public_id if e.run_id else None)
        for e in rows
    ]


def mixed_log(session: DevelopmentSession) -> AgentRun:
    run = AgentRun.objects.create(session=session, agent=AgentDefinition.objects.get(slug="architect"), position=0)
    whole_second = datetime(2026, 11, 25, 20, 0, 0, tzinfo=UTC)  # isoformat without microseconds
    rows = [
        ("session.created", None, "user", "member", "Member", {}, whole_second),
        ("agent.started", run, "agent", "architect", "Architect — “the planner”", AWKWARD, timezone.now()),
        ("agent.progress", run, "agent", "architect", "Architect", {"progress": 50}, timezone.now()),
        ("feedback.submitted", None, "user", "", "member2", {"text": "ok"}, timezone.now()),
        ("artifact.created", run, "system", "system", "Harness", {"path": "app/é.py", "size": 0}, timezone.now()),
    ]
    SessionEvent.objects.bulk_create(
        SessionEvent(
            session=session, seq=seq, type=t, run=r, actor_kind=k, actor_ref=ref, actor_name=name, data=data, at=at
        )
        for seq, (t, r, k, ref, name, data, at) in enumerate(rows, start=1)
    )
    DevelopmentSession.objects.filter(pk=session.pk).update(last_event_seq=len(rows))
    return run


def test_it_replays_exactly_the_old_payloads(session):  # noqa: ANN001
    run = mixed_log(session)

    rendered = events_rendered(session_pk=session.pk, session_public_id=session.public_id, after=0, limit=500)
    parsed = [json.loads(event.text) for event in rendered]

    assert parsed == old_payloads(session)
    assert [list(p) for p in parsed] == [list(p) for p in old_payloads(session)], "same keys, same order"
    assert [(e.seq, e.type) for e in rendered] == [(p["seq"], p["type"]) for p in parsed]
    assert parsed[0]["at"] == "2026-11-25T20:00:00+00:00" and parsed[0]["run"] is None
    assert parsed[1]["run"] == run.public_id and parsed[1]["data"] == AWKWARD
    assert "\n" not in "".join(e.text for e in rendered), "one SSE data line per event"


def test_it_pages_by_seq(session):  # noqa: ANN001
    mixed_log(session)

    page = events_rendered(session_pk=session.pk, session_public_id=session.public_id, after=2, limit=2)

    assert [json.loads(e.text) for e in page] == old_payloads(session, after=2)[:2]


def test_the_events_endpoint_serves_the_same_texts(session, api, cast):  # noqa: ANN001
    mixed_log(session)

    body = api(cast["member"]).get(f"/api/v1/sessions/{session.public_id}/events/?after=1&limit=3")

    assert body.status_code == 200 and body["Content-Type"] == "application/json"
    assert body.json() == {"session": session.public_id, "last_seq": 5, "events": old_payloads(session, after=1)[:3]}


def test_the_websocket_and_the_cursor_replay_the_same_events(session, cast):  # noqa: ANN001
    mixed_log(session)
    key = Token.objects.get_or_create(user=cast["member"])[0].key

    async def receive() -> list[str]:
        socket = WebsocketCommunicator(
            application,
            f"/ws/sessions/{session.public_id}/?after=0",
            headers=[(b"host", b"testserver"), (b"authorization", f"Token {key}".encode())],
        )
        assert (await socket.connect())[0]
        frames = []
        while '"type":"live"' not in (frame := await socket.receive_from(timeout=10)).replace(" ", ""):
            frames.append(frame)
        await socket.disconnect()
        return frames

    frames = async_to_sync(receive)()

    assert [json.loads(f) for f in frames] == old_payloads(session)


def test_it_drops_duplicates_and_fills_gaps_from_the_log(session):  # noqa: ANN001
    add_events(session, 6)

    async def follow() -> tuple[list[int], list, list, list]:
        cursor = Cursor(session, 0, viewer_pk=session.created_by_id)
        replayed = [e.seq async for page in cursor.pages() for e in page]
        cursor.last_seq = 3  # as if the socket had joined after seq 3 and 4, 5 had been dropped in transit
        duplicate = await cursor.accept_rendered(Rendered(2, "agent.progress", '{"seq":2}'))
        live_six = Rendered(6, "agent.progress", "the text published once")
        filled = await cursor.accept_rendered(live_six)
        ephemeral = await cursor.accept_rendered(Rendered(None, "presence.joined", "{}"))
        return replayed, duplicate, filled, ephemeral

    replayed, duplicate, filled, ephemeral = async_to_sync(follow)()

    assert replayed == [1, 2, 3, 4, 5, 6]
    assert duplicate == []
    assert [e.seq for e in filled] == [4, 5, 6]
    assert [json.loads(e.text) for e in filled[:2]] == old_payloads(session, after=3)[:2]
    assert filled[-1].text == "the text published once", "the live text is sent as is, not re-encoded"
    assert [e.type for e in ephemeral] == ["presence.joined"]


def test_a_guest_still_reads_a_redacted_copy_of_a_live_event(session, cast, acme):  # noqa: ANN001
    theirs = DevelopmentSession.objects.create(organization=acme, created_by=cast["lead"], intent="Zebra billing")
    from guardian.shortcuts import assign_perm

    assign_perm("view_developmentsession", cast["guest"], session)
    conflict = {
        "seq": 1, "type": "conflict.detected", "session": session.public_id, "run": None, "at": "",
        "actor": {"kind": "system", "id": "system", "name": "Harness"},
        "data": {"other": theirs.public_id, "summary": f"session {theirs.public_id} writes app.py"},
    }  # fmt: skip
    published = Rendered.of(conflict)

    async def receive(user) -> list[Rendered]:  # noqa: ANN001
        return await Cursor(session, 0, viewer_pk=user.pk).accept_rendered(published)

    guest, member = async_to_sync(receive)(cast["guest"]), async_to_sync(receive)(cast["member"])

    assert member[0] is published, "a member gets the published text itself"
    assert theirs.public_id not in guest[0].text and OTHER_SESSION in guest[0].text
    assert json.loads(guest[0].text)["data"]["other"] is None and guest[0].seq == 1


def test_replay_queries_do_not_grow_with_the_rows(session):  # noqa: ANN001
    def queries_for(n: int) -> int:
        SessionEvent.objects.filter(session=session).delete()
        add_events(session, n)
        with CaptureQueriesContext(connection) as ctx:
            page = events_rendered(session_pk=session.pk, session_public_id=session.public_id, after=0, limit=500)
        assert len(page) == min(n, 500)
        return len(ctx.captured_queries)

    assert queries_for(3) == queries_for(500) == 1


def test_the_events_endpoint_queries_do_not_grow_with_the_rows(session, api, cast):  # noqa: ANN001
    client = api(cast["member"])
    run = AgentRun.objects.create(session=session, agent=AgentDefinition.objects.get(slug="architect"), position=0)

    def queries_for(n: int) -> int:
        SessionEvent.objects.filter(session=session).delete()
        add_events(session, n, run=run)
        client.get(f"/api/v1/sessions/{session.public_id}/events/")  # warm: authentication, content types
        with CaptureQueriesContext(connection) as ctx:
            body = client.get(f"/api/v1/sessions/{session.public_id}/events/").json()
        assert len(body["events"]) == n and body["events"][-1]["run"] == run.public_id
        return len(ctx.captured_queries)

    assert queries_for(10) == queries_for(1000)


def test_publish_serialises_once_for_every_watcher(session, cast, monkeypatch):  # noqa: ANN001
    """Three sockets on the Redis layer receive the very text `live.publish` rendered, once."""
    key = Token.objects.get_or_create(user=cast["member"])[0].key
    payload = {
        "seq": 1, "type": "agent.started", "session": session.public_id, "run": None, "at": "2026-11-25T20:00:00+00:00",
        "actor": {"kind": "agent", "id": "architect", "name": "Architect"}, "data": AWKWARD,
    }  # fmt: skip
    renders = []
    render = live.render
    monkeypatch.setattr(live, "render", lambda p: renders.append(p) or render(p))

    async def watch() -> list[str]:
        sockets = [
            WebsocketCommunicator(
                application,
                f"/ws/sessions/{session.public_id}/?after=0",
                headers=[(b"host", b"testserver"), (b"authorization", f"Token {key}".encode())],
            )
            for _ in range(3)
        ]
        for socket in sockets:
            assert (await socket.connect())[0]
            while json.loads(await socket.receive_from(timeout=10)).get("type") != "live":
                pass
        await asyncio.to_thread(live.publish, session.public_id, payload)  # as `event_record` does on commit
        texts = []
        for socket in sockets:
            while (text := await socket.receive_from(timeout=10)) and json.loads(text).get("seq") != 1:
                pass
            texts.append(text)
            await socket.disconnect()
        return texts

    texts = async_to_sync(watch)()

    published = [p for p in renders if p["type"] == "agent.started"]  # not the presence messages
    assert published == [payload], "rendered once, not once per watcher"
    assert texts == [render(payload)] * 3
    assert json.loads(texts[0]) == payload
