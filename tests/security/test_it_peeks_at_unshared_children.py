"""Issue 14 (9c): a guest the epic is shared with (to view) used to read the ids and intents of all its
children. They now see only the children shared with them too — in the API detail (children, plan,
completion summary), the list filtered by parent, the event log (API, and the cursor behind SSE and the
websocket) and the web page — while members of the organisation still see every child."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from guardian.shortcuts import assign_perm

from harness_cli.display import describe
from sessions_app.events import Actor, event_record
from sessions_app.models import DevelopmentSession
from sessions_app.streaming import Cursor

VIEW = "sessions_app.view_developmentsession"
INTENTS = {
    "shared": "Build the public landing page",
    "secret1": "Migrate payroll to vendor Zebra",
    "secret2": "Wind down the Oslo office",
}


@pytest.fixture
def epic(cast, acme):  # noqa: ANN001, ANN201
    epic = DevelopmentSession.objects.create(
        organization=acme, created_by=cast["lead"], intent="Q3 programme", task_type="epic", status="running"
    )
    children = {
        key: DevelopmentSession.objects.create(
            organization=acme, created_by=cast["lead"], intent=intent, parent=epic, status="completed"
        )
        for key, intent in INTENTS.items()
    }
    children["shared"].depends_on.set([children["secret1"]])
    plan = {
        "kind": "epic",
        "children": [
            {"key": k, "session": c.public_id, "intent": c.intent, "depends_on": ["secret1"] if k == "shared" else []}
            for k, c in children.items()
        ],
    }
    summary = "All 3 child sessions completed.\n" + "\n".join(f"- {c.intent}: done" for c in children.values())
    DevelopmentSession.objects.filter(pk=epic.pk).update(plan=plan, completion_summary=summary)
    event_record(session=epic, type="epic.breakdown_ready", actor=Actor.system(), data=plan)
    for key, child in children.items():
        event_record(
            session=epic,
            type="epic.child_status",
            actor=Actor.system(),
            data={"child": child.public_id, "key": key, "intent": child.intent, "status": "completed"},
        )
    event_record(
        session=epic,
        type="session.completed",
        actor=Actor.system(),
        data={"summary": summary, "children": [c.public_id for c in children.values()]},
    )
    for session in (epic, children["shared"]):
        assign_perm(VIEW, cast["guest"], session)
    epic.refresh_from_db()
    return epic, children


def secrets(children: dict) -> list[str]:
    return [s for key, c in children.items() if key != "shared" for s in (c.public_id, c.intent, key)]


def leaked(text: str, children: dict) -> list[str]:
    return [s for s in secrets(children) if s in text]


def test_it_peeks_at_unshared_children_in_the_detail(cast, api, epic):
    epic, children = epic

    response = api(cast["guest"]).get(f"/api/v1/sessions/{epic.public_id}/")

    assert response.status_code == 200
    body = response.json()
    assert [c["id"] for c in body["children"]] == [children["shared"].public_id]
    assert body["children"][0]["depends_on"] == []
    assert [c["session"] for c in body["plan"]["children"]] == [children["shared"].public_id]
    assert body["plan"]["children"][0]["depends_on"] == []
    assert INTENTS["shared"] in body["completion_summary"]
    assert leaked(response.content.decode(), children) == []


def test_members_still_see_every_child(cast, api, epic):
    epic, children = epic
    for user in ("member", "lead"):
        body = api(cast[user]).get(f"/api/v1/sessions/{epic.public_id}/").json()
        assert {c["id"] for c in body["children"]} == {c.public_id for c in children.values()}
        assert len(body["plan"]["children"]) == 3 and INTENTS["secret1"] in body["completion_summary"]
        events = api(cast[user]).get(f"/api/v1/sessions/{epic.public_id}/events/?after=0").json()["events"]
        assert len(events[0]["data"]["children"]) == 3 and events[2]["data"]["intent"] == INTENTS["secret1"]


def test_it_peeks_at_unshared_children_through_the_list(cast, api, epic):
    epic, children = epic

    guest = api(cast["guest"]).get(f"/api/v1/sessions/?parent={epic.public_id}").json()["results"]
    lead = api(cast["lead"]).get(f"/api/v1/sessions/?parent={epic.public_id}").json()["results"]

    assert [s["id"] for s in guest] == [children["shared"].public_id]
    assert {s["id"] for s in lead} == {c.public_id for c in children.values()}


def test_it_peeks_at_unshared_children_in_the_event_log(cast, api, epic):
    epic, children = epic

    response = api(cast["guest"]).get(f"/api/v1/sessions/{epic.public_id}/events/?after=0")

    events = response.json()["events"]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]  # every seq is there: no gap for the client
    assert [c["session"] for c in events[0]["data"]["children"]] == [children["shared"].public_id]
    assert [e["data"].get("hidden", False) for e in events[1:4]] == [False, True, True]
    assert events[4]["data"]["children"] == [children["shared"].public_id]
    assert leaked(response.content.decode(), children) == []


def test_it_peeks_at_unshared_children_on_the_web_page(cast, epic):
    epic, children = epic
    browser = Client()
    browser.force_login(cast["guest"])

    page = browser.get(f"/development/{epic.public_id}/")

    assert page.status_code == 200 and INTENTS["shared"] in page.content.decode()
    assert leaked(page.content.decode(), children) == []


def test_a_guest_of_a_child_does_not_read_the_epic_intent_on_its_page(cast, epic):
    epic, children = epic
    assign_perm(VIEW, cast["outsider"], children["shared"])
    browser = Client()
    browser.force_login(cast["outsider"])

    page = browser.get(f"/development/{children['shared'].public_id}/").content.decode()

    assert INTENTS["shared"] in page and "Q3 programme" not in page


def test_it_peeks_at_unshared_children_through_the_live_stream(transactional_db, cast, epic):
    """The cursor behind SSE and the websocket: the replay and a live event, as the guest receives them."""
    epic, children = epic
    live = {
        "seq": 6, "type": "epic.child_status", "session": epic.public_id, "run": None, "at": "",
        "actor": {"kind": "system", "id": None, "name": "Harness"},
        "data": {
            "child": children["secret2"].public_id, "key": "secret2", "intent": INTENTS["secret2"],
            "from": "running", "status": "failed",
        },
    }  # fmt: skip

    async def receive(viewer_pk: int) -> list[dict]:
        cursor = Cursor(epic, 0, viewer_pk=viewer_pk)
        return [event async for event in cursor.replay()] + await cursor.accept(live)

    guest = async_to_sync(receive)(cast["guest"].pk)
    lead = async_to_sync(receive)(cast["lead"].pk)

    assert [e["seq"] for e in guest] == [1, 2, 3, 4, 5, 6]
    assert leaked(repr(guest), children) == []
    assert leaked(repr(lead), children) != [] and len(lead[0]["data"]["children"]) == 3
    assert live["data"]["intent"] == INTENTS["secret2"]  # the shared live message is not changed for others
    assert describe(guest[-1]) == "a child session not shared with you: running → failed"  # `harness watch`
