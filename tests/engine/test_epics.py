"""Epics: broken down into child sessions that run in dependency order, steered as one, completed together;
and conflicts between running sessions of one organisation that write the same path."""

from __future__ import annotations

import json

from django.db import transaction

from agents_app import epics
from agents_app.epic_breakdown import offline_breakdown, validate_breakdown
from agents_app.llm import offline
from agents_app.models import AgentDefinition, AgentPolicy, AgentRun, ConflictHandling, RunStatus
from agents_app.services.approvals import approval_decide
from agents_app.services.control import session_cancel, session_pause, session_resume
from artifacts_app.services import artifact_write
from harness_cli.display import QUIET_EVENTS, describe
from sessions_app.events import Actor, event_payload
from sessions_app.models import ApprovalRequest, DevelopmentSession, SessionEvent
from sessions_app.services.sessions import session_create, session_transition
from tests.support import assert_gap_free, wait_for, wait_for_status

EPIC = {"intent": "build a team chat product", "task_type": "epic"}
REQUIREMENTS = ["Users can create channels", "Users can send direct messages"]


def children_of(epic):  # noqa: ANN001, ANN201
    return list(DevelopmentSession.objects.filter(parent=epic).prefetch_related("depends_on").order_by("id"))


def assert_the_cli_describes_every_event(*sessions) -> None:  # noqa: ANN002
    """The terminal shows a line for each recorded event type (progress is drawn as bars instead)."""
    for event in SessionEvent.objects.filter(session__in=sessions).exclude(type__in=QUIET_EVENTS):
        line = describe(event_payload(event, session_public_id="dev_x", run_public_id=None))
        assert line and "None" not in line, f"no useful CLI line for {event.type}: {line!r} from {event.data}"


def test_an_epic_runs_its_children_in_dependency_order_and_completes_with_them(worker, start):
    epic = wait_for_status(start(**EPIC, requirements=REQUIREMENTS), "completed", "failed", timeout=180)

    assert epic.status == "completed", epic.completion_summary
    children = children_of(epic)
    assert len(children) == 4 and all(c.status == "completed" for c in children)
    assert [c["key"] for c in epic.plan["children"]][0] == "foundation"
    for child in children:
        assert child.organization_id == epic.organization_id and child.task_type != "epic"
        for dep in child.depends_on.all():
            assert dep.finished_at <= child.started_at, f"{child.intent} started before {dep.intent} finished"
    assert epic.finished_at >= max(c.finished_at for c in children)
    types = assert_gap_free(epic)
    assert "epic.breakdown_ready" in types and types[-1] == "session.completed"
    finished = SessionEvent.objects.get(session=epic, type="session.completed")
    assert finished.data["tokens"] == epic.tokens_used + sum(c.tokens_used for c in children) > 0
    mirrored = SessionEvent.objects.filter(session=epic, type="epic.child_status", data__status="completed")
    assert sorted(e.data["child"] for e in mirrored) == sorted(c.public_id for c in children)
    # Later children see earlier children's files: the integration child's first look at the workspace.
    integration = next(c for c in children if c.plan and c.intent.startswith("Integration"))
    listing = json.dumps([r.checkpoint.get("messages", []) for r in AgentRun.objects.filter(session=integration)])
    foundation = next(c for c in children if c.intent.startswith("Foundation"))
    assert f"from {foundation.public_id}" in listing
    assert_the_cli_describes_every_event(epic, *children)


def test_pausing_an_epic_reaches_its_running_children_and_resuming_finishes_it(worker, start, cast):
    # Hold every agent at its first model call: the test pauses the epic while an agent is mid-step.
    gates = [offline.hold(agent=slug, step=1) for slug in AgentDefinition.objects.values_list("slug", flat=True)]
    try:
        epic = start(**EPIC)
        wait_for(lambda: any(g.reached.is_set() for g in gates), timeout=60, what="an agent to be mid-step")
        running = DevelopmentSession.objects.get(parent=epic, status="running")

        session_pause(user=cast["member"], session=epic)

        running.refresh_from_db()
        assert running.status == "paused"
        held = AgentRun.objects.get(session=running, status=RunStatus.RUNNING)
        assert held.control_request == "pause", "the agent mid-step is asked to stop at its boundary"
        waiting = DevelopmentSession.objects.filter(parent=epic, status="created").count()
        assert waiting >= 1, "children that had not started stay waiting"
        added = start(intent="add an audit log of channel changes", parent=epic.public_id)
        assert epics.epic_advance(epic.pk) == "epic is paused"
        assert DevelopmentSession.objects.get(pk=added.pk).status == "created", "a paused epic starts no new child"
        offline.release_all()
        wait_for(
            lambda: not AgentRun.objects.filter(session__parent=epic, status=RunStatus.RUNNING).exists(),
            what="agents to stop at a step boundary",
        )
        assert AgentRun.objects.get(pk=held.pk).status == RunStatus.PAUSED

        session_resume(user=cast["member"], session=epic)

        epic = wait_for_status(epic, "completed", "failed", timeout=180)
        assert epic.status == "completed", epic.completion_summary
        assert DevelopmentSession.objects.get(pk=added.pk).status == "completed"
        assert any(entry.get("added_by_hand") for entry in epic.plan["children"])
    finally:
        offline.release_all()


def test_cancelling_an_epic_cancels_every_unfinished_child(worker, start, cast):
    epic = start(**EPIC)
    wait_for(lambda: DevelopmentSession.objects.filter(parent=epic).exists(), what="the breakdown")

    session_cancel(user=cast["member"], session=epic)

    statuses = {c.status for c in children_of(epic)}
    assert statuses <= {"cancelled", "completed"} and "cancelled" in statuses
    assert DevelopmentSession.objects.get(pk=epic.pk).status == "cancelled"


def test_an_epic_fails_when_a_child_stops_and_says_which(worker, start, cast):
    epic = start(**EPIC)
    first = wait_for(
        lambda: DevelopmentSession.objects.filter(parent=epic).exclude(status="created").first(), what="a child"
    )

    session_cancel(user=cast["member"], session=first)

    epic = wait_for_status(epic, "failed", "completed", timeout=60)
    assert epic.status == "failed" and first.public_id in epic.completion_summary
    assert all(c.status in ("created", "cancelled") for c in children_of(epic) if c.pk != first.pk)


def test_a_breakdown_is_validated_like_a_plan():
    cyclic = {
        "children": [
            {"key": "a", "intent": "one", "depends_on": ["b"]},
            {"key": "b", "intent": "two", "depends_on": ["a"]},
        ]
    }
    assert validate_breakdown(cyclic, "x")[0] is None
    too_few = {"children": [{"key": "a", "intent": "one"}]}
    assert validate_breakdown(too_few, "x")[0] is None
    unknown = {
        "children": [
            {"key": "API", "intent": "the api", "task_type": "epic", "depends_on": ["nowhere", "api"]},
            {"key": "ui", "intent": "the ui", "depends_on": ["api"]},
        ]
    }
    children, notes = validate_breakdown(unknown, "x")
    assert [(c["key"], c["depends_on"], c["task_type"]) for c in children] == [
        ("api", [], "feature"),
        ("ui", ["api"], "feature"),
    ]
    assert any("nowhere" in note for note in notes)
    offline = offline_breakdown("a shop", ["cart", "checkout"])["children"]
    assert [c["key"] for c in offline] == ["foundation", "part-1-cart", "part-2-checkout", "integration"]
    assert offline[-1]["depends_on"] == ["part-1-cart", "part-2-checkout"]


def test_epic_input_is_checked(api, cast):
    client = api(cast["lead"])
    with_agents = client.post(
        "/api/v1/sessions/", {"organization": "acme", **EPIC, "agents": ["backend"]}, format="json"
    )
    assert with_agents.status_code == 400 and "agents" in with_agents.json()["errors"]
    plain = session_create(user=cast["lead"], organization=cast["lead"].memberships.get().organization, intent="x")
    not_epic = client.post(
        "/api/v1/sessions/", {"organization": "acme", "intent": "child", "parent": plain.public_id}, format="json"
    )
    assert not_epic.status_code == 400 and "parent" in not_epic.json()["errors"]
    assert DevelopmentSession.objects.count() == 1


def _running_session_that_wrote(cast, path):  # noqa: ANN001, ANN202
    """Another session of acme, running, that has written `path` (its own workspace)."""
    member = cast["member2"]
    other = session_create(user=member, organization=member.memberships.get().organization, intent="a parallel chat")
    for status, event_type in (("planning", "session.planning"), ("running", "session.started")):
        session_transition(session=other, to=status, actor=Actor.system(), event_type=event_type)
    artifact_write(session=other, path=path, content="# theirs\n", actor=Actor.for_user(member), base_number=0)
    return other


def test_two_running_sessions_writing_one_path_are_flagged_for_a_decision(worker, start, cast):
    other = _running_session_that_wrote(cast, "app/models.py")

    session = wait_for_status(start(requirements=["Users can create channels"]), "completed", "failed")

    assert session.status == "completed", "flagging does not stop the writer"
    approval = ApprovalRequest.objects.get(session=session, action="cross_session_conflict")
    assert approval.details["paths"] == ["app/models.py"] and approval.details["sessions"][0]["id"] == other.public_id
    assert approval.is_pending(), "the other session still runs: a lead can still decide"
    here = SessionEvent.objects.get(session=session, type="conflict.detected")
    there = wait_for(lambda: SessionEvent.objects.filter(session=other, type="conflict.detected").first())
    assert here.data["approval"] == there.data["approval"] == approval.public_id
    assert there.data["sessions"][0]["id"] == session.public_id
    assert_the_cli_describes_every_event(session, other)
    theirs = ApprovalRequest.objects.get(session=other, action="cross_session_conflict")  # the other side's lead
    assert theirs.public_id == there.data["own_approval"] and theirs.details["paths"] == ["app/models.py"]
    decided = approval_decide(user=cast["lead"], approval=theirs, decision="approve", comment="keep both")
    assert decided.status == "approved"
    with transaction.atomic():  # the other session ends too: what nobody decided expires
        other = DevelopmentSession.objects.select_for_update().get(pk=other.pk)
        session_transition(session=other, to="completed", actor=Actor.system(), event_type="session.completed")
    approval.refresh_from_db()
    assert approval.status == "expired" and "both sessions finished" in approval.comment


def test_with_a_blocking_policy_the_later_writer_waits_for_a_lead(worker, start, cast, acme):
    AgentPolicy.objects.update_or_create(
        organization=acme, defaults={"cross_session_conflicts": ConflictHandling.BLOCK}
    )
    _running_session_that_wrote(cast, "app/models.py")
    session = start(requirements=["Users can create channels"])

    approval = wait_for(
        lambda: ApprovalRequest.objects.filter(session=session, action="cross_session_conflict").first(),
        what="the conflict to be put to a lead",
    )
    run = approval.run
    wait_for(lambda: AgentRun.objects.get(pk=run.pk).status == RunStatus.AWAITING_APPROVAL)
    assert not session.artifacts.filter(path="app/models.py").exists(), "nothing written before the decision"

    approval_decide(user=cast["lead"], approval=approval, decision="approve", comment="ours wins")

    session = wait_for_status(session, "completed", "failed")
    assert session.status == "completed"
    assert session.artifacts.filter(path="app/models.py").exists()
