"""Two running sessions of acme wrote the same two paths: each path is its own approval in each session; what
nobody decided expires with a reason once both sessions have finished (not before: while one runs a lead can still
decide); a lead can dismiss them in bulk, a member cannot, another organisation does not even see the session."""

from __future__ import annotations

import pytest
from django.db import transaction

from agents_app.models import AgentDefinition, AgentRun
from agents_app.services.conflicts import ACTION, conflict_record
from artifacts_app.services import artifact_write
from harness_cli.display import describe
from sessions_app.events import Actor
from sessions_app.models import ApprovalRequest, AuditEntry, DevelopmentSession, SessionEvent
from sessions_app.services.sessions import session_transition

pytestmark = pytest.mark.django_db(transaction=True)
PATHS = ("app/models.py", "app/views.py")
REASON = "both sessions finished before anyone decided; both versions stand in their own sessions"


def running(user, acme, intent: str) -> DevelopmentSession:  # noqa: ANN001
    return DevelopmentSession.objects.create(organization=acme, created_by=user, intent=intent, status="running")


@pytest.fixture
def pair(cast, acme) -> tuple[DevelopmentSession, DevelopmentSession]:  # noqa: ANN001
    """The member's session writes both paths after the lead's session did (flag policy, the default)."""
    mine, theirs = running(cast["member"], acme, "build a chat app"), running(cast["lead"], acme, "a chat with threads")
    run = AgentRun.objects.create(session=mine, agent=AgentDefinition.objects.get(slug="backend", organization=None))
    other = {"session__public_id": theirs.public_id, "session__intent": theirs.intent, "session_id": theirs.pk}
    for path in PATHS:
        artifact_write(session=theirs, path=path, content="# theirs\n", actor=Actor.system(), base_number=0)
        with transaction.atomic():
            conflict_record(run=run, path=path, others=[other], actor=Actor.for_agent("backend"), approval=None)
            artifact_write(session=mine, path=path, content="# mine\n", actor=Actor.system(), base_number=0)
    return mine, theirs


def conflicts(session: DevelopmentSession) -> list[ApprovalRequest]:
    return list(ApprovalRequest.objects.filter(session=session, action=ACTION).order_by("id"))


def finish(session: DevelopmentSession, status: str = "completed") -> None:
    with transaction.atomic():
        session = DevelopmentSession.objects.select_for_update().get(pk=session.pk)
        session_transition(session=session, to=status, actor=Actor.system(), event_type=f"session.{status}")


def test_it_gives_every_conflicting_path_its_own_approval_in_each_session(pair):  # noqa: ANN001
    for session, other in (pair, pair[::-1]):
        approvals = conflicts(session)
        assert sorted(a.details["path"] for a in approvals) == sorted(PATHS), "one approval per path"
        assert all(a.details["paths"] == [a.details["path"]] for a in approvals)
        assert {a.details["other"] for a in approvals} == {other.public_id}
        assert all(a.status == "pending" and a.details["path"] in a.summary for a in approvals)


def test_the_card_of_each_path_links_the_other_session_and_shows_its_diff(pair, cast, api):  # noqa: ANN001
    mine, theirs = pair
    cards = api(cast["lead"]).get(f"/api/v1/sessions/{mine.public_id}/approvals/?status=pending").json()
    assert sorted(c["details"]["path"] for c in cards) == sorted(PATHS)
    for card in cards:
        conflict = card["conflict"]
        assert [f["path"] for f in conflict["files"]] == [card["details"]["path"]]
        assert conflict["sessions"][0]["web_url"] == f"/development/{theirs.public_id}/"
        assert conflict["approve"].startswith(f"Approve: this session's version of {card['details']['path']}")
        assert "expires once both sessions have finished" in conflict["if_undecided"]
        diff = conflict["files"][0]["diff"]
        assert f"{theirs.public_id} {card['details']['path']} v1" in diff and "+# mine" in diff


def test_nothing_expires_while_the_other_session_still_runs(pair):  # noqa: ANN001
    mine, theirs = pair
    finish(mine)
    assert {a.status for a in conflicts(mine) + conflicts(theirs)} == {"pending"}, "a lead can still decide"
    assert not SessionEvent.objects.filter(type="approval.decided").exists()


def test_what_nobody_decided_expires_with_the_reason_once_both_have_finished(pair):  # noqa: ANN001
    mine, theirs = pair
    finish(theirs, "failed")
    finish(mine)
    for session in pair:
        approvals = conflicts(session)
        assert len(approvals) == len(PATHS) and {a.status for a in approvals} == {"expired"}
        for approval in approvals:
            assert approval.decided_by is None and REASON in approval.comment
            events = SessionEvent.objects.filter(session=session, type="approval.decided")
            event = events.get(data__approval=approval.public_id)
            assert event.actor_kind == "system" and event.data["decision"] == "expired"
            assert event.data["reason"] == REASON
            line = describe({"type": event.type, "actor": {"kind": "system", "name": "Harness"}, "data": event.data})
            assert line == f"approval {approval.public_id} expired by Harness: {REASON}"
    assert not ApprovalRequest.objects.filter(status="pending").exists()


def test_a_held_back_write_expires_when_its_own_session_ends(cast, acme):  # noqa: ANN001
    mine, theirs = running(cast["member"], acme, "build a chat app"), running(cast["lead"], acme, "another chat")
    run = AgentRun.objects.create(session=mine, agent=AgentDefinition.objects.get(slug="backend", organization=None))
    other = [{"id": theirs.public_id, "intent": theirs.intent}]
    details = {"mode": "block", "path": PATHS[0], "paths": [PATHS[0]], "content": "x", "sessions": other}
    held = ApprovalRequest.objects.create(session=mine, run=run, action=ACTION, summary="held", details=details)

    finish(mine, "cancelled")

    held.refresh_from_db()
    assert held.status == "expired", "the other session still runs, but this write can no longer happen"
    assert "held-back write of app/models.py was never made" in held.comment and "cancelled" in held.comment


def test_a_lead_dismisses_every_pending_conflict_of_a_session(pair, cast, api):  # noqa: ANN001
    mine, theirs = pair
    url = f"/api/v1/sessions/{mine.public_id}/approvals/dismiss/"

    refused = api(cast["member"]).post(url, {}, format="json")
    assert refused.status_code == 403, refused.json()
    assert api(cast["outsider"]).post(url, {}, format="json").status_code == 404
    assert {a.status for a in conflicts(mine)} == {"pending"}, "nothing changed for the refused callers"

    response = api(cast["lead"]).post(url, {"comment": "both are fine"}, format="json")

    assert response.status_code == 200, response.json()
    assert sorted(a["details"]["path"] for a in response.json()["dismissed"]) == sorted(PATHS)
    for approval in conflicts(mine):
        assert approval.status == "dismissed" and approval.decided_by == cast["lead"]
        event = SessionEvent.objects.get(session=mine, type="approval.decided", data__approval=approval.public_id)
        assert event.data["decision"] == "dismissed" and "no decision needed" in event.data["reason"]
        assert event.actor_kind == "user" and event.data["comment"] == "both are fine"
        entry = AuditEntry.objects.get(action="approval.dismissed", target_id=approval.public_id)
        assert entry.actor == cast["lead"] and entry.after["status"] == "dismissed"
    assert {a.status for a in conflicts(theirs)} == {"pending"}, "the other session's lead decides there"
    again = api(cast["lead"]).post(url, {}, format="json")
    assert again.status_code == 200 and again.json()["dismissed"] == []


def test_a_lead_dismisses_the_ones_named_and_not_a_held_back_write(pair, cast, api, acme):  # noqa: ANN001
    mine, _ = pair
    url = f"/api/v1/sessions/{mine.public_id}/approvals/dismiss/"
    first, second = conflicts(mine)
    held = ApprovalRequest.objects.create(
        session=mine, action=ACTION, summary="held", details={"mode": "block", "path": "x.py", "paths": ["x.py"]}
    )

    refused = api(cast["admin"]).post(url, {"approvals": [held.public_id, "apr_nope"]}, format="json")
    assert refused.status_code == 400 and len(refused.json()["errors"]["approvals"]) == 2, refused.json()
    ok = api(cast["admin"]).post(url, {"approvals": [first.public_id]}, format="json")
    assert ok.status_code == 200 and [a["id"] for a in ok.json()["dismissed"]] == [first.public_id]
    assert [a.status for a in conflicts(mine)] == ["dismissed", "pending", "pending"]
    twice = api(cast["admin"]).post(url, {"approvals": [first.public_id]}, format="json")
    assert twice.status_code == 409, twice.json()
