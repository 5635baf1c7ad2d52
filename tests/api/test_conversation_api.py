"""GET/POST sessions/{id}/conversation/: the thread as people read and write it — who may, what a message
becomes, answering an agent's question once, what is refused, and paging."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm

from agents_app import planning, runtime
from agents_app.models import AgentRun, RunStatus
from sessions_app.models import ConversationMessage, DevelopmentSession, Feedback, SessionEvent

QUESTION = "Which port should the API listen on?"


def url(session: DevelopmentSession) -> str:
    return f"/api/v1/sessions/{session.public_id}/conversation/"


@pytest.fixture
def session(start, cast):  # noqa: ANN001, ANN201
    """Member's planned session, shared with `guest` to view only."""
    started = start(agents=["requirements-analyst"])
    assert planning.plan_session(started.pk) == "planned"
    assign_perm("sessions_app.view_developmentsession", cast["guest"], started)
    return DevelopmentSession.objects.get(pk=started.pk)


@pytest.fixture
def question(start, cast):  # noqa: ANN001, ANN201
    """An offline agent that asked a question (a requirement `ask: …`) and waits for the answer."""
    started = start(agents=["requirements-analyst"], requirements=[f"ask: {QUESTION}"])
    assert planning.plan_session(started.pk) == "planned"
    assign_perm("sessions_app.view_developmentsession", cast["guest"], started)
    run = AgentRun.objects.get(session=started, status=RunStatus.QUEUED)
    attempt = runtime.run_claim(run.pk, run.task_id)
    assert runtime.step(run.pk, attempt) == "continue"
    assert runtime.step(run.pk, attempt) == "parked"
    return ConversationMessage.objects.select_related("session", "run").get(session=started, kind="question")


def test_it_shows_the_thread_to_everyone_who_sees_the_session(session, cast, api):
    for user in ("member", "lead", "guest"):
        response = api(cast[user]).get(url(session))
        assert response.status_code == 200, user
        [intent] = response.json()["results"]
        assert intent["kind"] == "message" and intent["text"] == "build a chat app"
        assert intent["author"] == {"kind": "user", "id": "member", "name": "member"}
        assert intent["id"].startswith("msg_")
    assert api(cast["outsider"]).get(url(session)).status_code == 404
    assert api(None).get(url(session)).status_code == 401


def test_a_message_is_feedback_for_the_agents_and_appears_in_the_thread(session, cast, api):
    run = AgentRun.objects.get(session=session)

    response = api(cast["member"]).post(url(session), {"text": "Mind the empty state", "run": run.public_id})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "message" and body["run"] == run.public_id and body["agent"] == "requirements-analyst"
    feedback = Feedback.objects.get(pk=body["feedback"])
    assert feedback.text == "Mind the empty state" and feedback.run_id == run.pk and feedback.status == "pending"
    api(cast["lead"]).post(f"/api/v1/sessions/{session.public_id}/feedback/", {"text": "and the error state"})
    api(cast["lead"]).post(f"/api/v1/sessions/{session.public_id}/requirements/", {"text": "Dark mode"})
    thread = api(cast["guest"]).get(url(session)).json()["results"]
    texts = [(m["kind"], m["text"], m["requirement"] is not None) for m in thread]
    assert texts == [
        ("message", "build a chat app", False),
        ("message", "Mind the empty state", False),
        ("message", "and the error state", False),
        ("message", "Dark mode", True),
    ]
    event = SessionEvent.objects.filter(session=session, type="conversation.message").order_by("seq").first()
    assert event.data["id"] == body["id"] and event.data["kind"] == "message" and event.data["reply_to"] is None
    assert event.actor_name == "member"


def test_a_viewer_reads_but_may_not_write_or_answer(question, cast, api):
    session = question.session
    assert api(cast["guest"]).post(url(session), {"text": "hi"}).status_code == 403
    refused = api(cast["guest"]).post(url(session), {"text": "8080", "reply_to": question.public_id})
    assert refused.status_code == 403
    assert "shared with you to view" in refused.json()["detail"]
    assert not ConversationMessage.objects.filter(session=session, kind="answer").exists()


def test_the_first_answer_resumes_the_agent_and_a_second_is_a_409_naming_who_answered(question, cast, api):
    session = question.session
    listed = api(cast["member"]).get(url(session)).json()["results"]
    asked = next(m for m in listed if m["kind"] == "question")
    assert asked["id"] == question.public_id and asked["text"] == QUESTION and asked["answer"] is None
    assert asked["author"] == {"kind": "agent", "id": "requirements-analyst", "name": "Requirements analyst"}

    response = api(cast["lead"]).post(url(session), {"text": "8080", "reply_to": question.public_id})

    assert response.status_code == 201, response.json()
    assert response.json()["kind"] == "answer" and response.json()["reply_to"] == question.public_id
    assert AgentRun.objects.get(pk=question.run_id).status == RunStatus.QUEUED
    assert not Feedback.objects.filter(session=session).exists()  # an answer is the tool result, not feedback
    again = api(cast["member"]).post(url(session), {"text": "9090", "reply_to": question.public_id})
    assert again.status_code == 409
    assert "already answered by lead" in again.json()["detail"]
    listed = api(cast["member"]).get(url(session)).json()["results"]
    asked = next(m for m in listed if m["kind"] == "question")
    assert asked["answer"]["author"] == "lead" and asked["answer"]["id"] == response.json()["id"]


def test_a_reply_to_an_agents_message_goes_to_that_agent(question, cast, api):
    session = question.session
    other = AgentRun.objects.create(session=session, agent=question.run.agent, status=RunStatus.PENDING, position=9)
    wrong = api(cast["lead"]).post(url(session), {"text": "x", "reply_to": question.public_id, "run": other.public_id})
    assert wrong.status_code == 400 and "agent that asked" in wrong.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"text": "   "}, 400, "text"),
        ({"text": "a\x00b"}, 400, "text"),
        ({"text": 42}, 400, "text"),
        ({"text": "x" * 5001}, 400, "text"),
        ({}, 400, "text"),
        ({"text": "hi", "reply_to": "msg_nosuchmessage0000000"}, 404, None),
        ({"text": "hi", "run": "run_nosuchrun000000000000"}, 404, None),
    ],
)
def test_it_refuses_what_it_cannot_take(session, cast, api, body, status, field):
    response = api(cast["member"]).post(url(session), body, format="json")
    assert response.status_code == status, response.json()
    if field:
        assert field in response.json()["errors"]
    assert ConversationMessage.objects.filter(session=session).count() == 1  # only the intent


def test_a_message_of_another_session_cannot_be_replied_to(session, question, cast, api):
    response = api(cast["member"]).post(url(session), {"text": "8080", "reply_to": question.public_id})
    assert response.status_code == 404
    assert not ConversationMessage.objects.filter(kind="answer").exists()


def test_a_finished_session_takes_no_more_messages(session, cast, api):
    DevelopmentSession.objects.filter(pk=session.pk).update(status="completed")
    response = api(cast["member"]).post(url(session), {"text": "late"})
    assert response.status_code == 409 and "completed" in response.json()["detail"]


def test_it_pages_oldest_first_with_a_cursor_in_constant_queries(session, cast, api):
    client = api(cast["member"])
    for n in range(4):
        assert client.post(url(session), {"text": f"note {n}"}).status_code == 201

    seen, next_url = [], url(session) + "?page_size=2"
    while next_url:
        page = client.get(next_url).json()
        assert len(page["results"]) <= 2
        seen += [m["text"] for m in page["results"]]
        next_url = page["next"]
    assert seen == ["build a chat app", "note 0", "note 1", "note 2", "note 3"]

    with CaptureQueriesContext(connection) as few:
        client.get(url(session))
    for n in range(4, 30):
        client.post(url(session), {"text": f"note {n}"})
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(url(session)).json()["results"]) == 31
    assert len(many) == len(few)


def test_a_reply_to_an_agents_reply_is_feedback_for_that_agent(session, cast, api):
    run = AgentRun.objects.get(session=session, status=RunStatus.QUEUED)
    attempt = runtime.run_claim(run.pk, run.task_id)
    runtime.step(run.pk, attempt)
    runtime.step(run.pk, attempt)
    api(cast["member"]).post(url(session), {"text": "Shorter stories, please"})
    runtime.step(run.pk, attempt)  # delivered: "Got it — …", and (it finishes) "I changed no files …"
    ack = ConversationMessage.objects.filter(session=session, kind="reply").order_by("id").first()

    body = {"text": "Thanks, and keep them short", "reply_to": ack.public_id}
    response = api(cast["member"]).post(url(session), body)

    assert response.status_code == 201, response.json()
    assert response.json()["reply_to"] == ack.public_id and response.json()["run"] == run.public_id
    assert Feedback.objects.get(pk=response.json()["feedback"]).run_id == run.pk
    listed = api(cast["guest"]).get(url(session)).json()["results"]
    assert [m["kind"] for m in listed] == ["message", "message", "reply", "reply", "message"]
    assert listed[2]["author"] == {"kind": "agent", "id": "requirements-analyst", "name": "Requirements analyst"}
    assert listed[2]["run"] == run.public_id and listed[2]["text"].startswith("[offline] Got it — ")
