"""Issue 14, item 6: every interface keeps the same limits on what people type. The web forms took a 1 MB
intent, a 100 KB requirement and NUL bytes (and the sessions ran until the token budget); the knowledge form
took NUL; the websocket stored NUL feedback. One input layer (`sessions_app.inputs`) now defines each field's
rules; the services enforce them, so the API, the web, the socket and the CLI refuse the same things."""

from __future__ import annotations

import re

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework.authtoken.models import Token

from agents_app.api.serializers import KnowledgeCreateInput
from agents_app.models import KnowledgeDocument
from artifacts_app.api.serializers import ArtifactEditInput
from sessions_app import inputs
from sessions_app.api.serializers import ApprovalDecideInput, FeedbackInput, RequirementInput, SessionCreateInput
from sessions_app.errors import InvalidInput
from sessions_app.models import DevelopmentSession, Feedback, Requirement, SessionEvent

NEW = "/development/new/"


@pytest.fixture
def browser(cast):  # noqa: ANN001, ANN201
    client = Client()
    client.force_login(cast["member"])
    return client


def post_new(browser, **fields):  # noqa: ANN001, ANN003, ANN201
    return browser.post(NEW, {"organization": "acme", "intent": "build a chat app", **fields})


def assert_form_rerendered(response, field: str, kept: str) -> str:  # noqa: ANN001
    assert response.status_code == 400, (response.status_code, response.content[:300])
    page = response.content.decode()
    assert 'id="new-session"' in page, "the form is shown again"
    alert = re.search(r'role="alert">([^<]*)<', page)
    assert alert and f"&#x27;{field}&#x27;" in alert.group(1), "the message names the field"
    assert kept in page, "the person's input is kept"
    return page


OVERFILLS = {
    "a 1 MB intent": ({"intent": "build a chat app " + "x" * 1_000_000}, "intent", "build a chat app"),
    "a 100 KB requirement": ({"requirements": ["Channels", "y" * 100_000]}, "requirements", "Channels"),
    "NUL in the intent": ({"intent": "build a chat\x00 app for the team"}, "intent", "for the team"),
    "NUL in a requirement": ({"requirements": ["Channels\x00", "Search"]}, "requirements", "Search"),
}


@pytest.mark.parametrize("case", list(OVERFILLS))
def test_it_overfills_the_new_session_form(browser, case):
    fields, field, kept = OVERFILLS[case]
    response = post_new(browser, **fields)
    assert_form_rerendered(response, field, kept)
    assert not DevelopmentSession.objects.exists()


def test_it_gets_the_limit_number_from_the_one_rule(browser, api, cast):
    """The web page, the API and the service quote the same number, and it is the rule's."""
    limit = inputs.INTENT.max_length
    too_long = "z" * (limit + 1)
    page = assert_form_rerendered(post_new(browser, intent=too_long), "intent", "zzz")
    assert str(limit) in page
    assert f'maxlength="{limit}"' in page, "the textarea carries the same limit"

    body = (
        api(cast["member"])
        .post("/api/v1/sessions/", {"organization": "acme", "intent": too_long}, format="json")
        .json()
    )
    assert str(limit) in " ".join(body["errors"]["intent"])

    from agents_app.services.start import development_start

    with pytest.raises(InvalidInput) as refused:
        development_start(user=cast["member"], organization="acme", intent=too_long)
    assert str(limit) in refused.value.detail and "intent" in refused.value.errors
    assert not DevelopmentSession.objects.exists()


def test_it_finds_the_serializers_quote_the_same_limits():
    assert SessionCreateInput().fields["intent"].max_length == inputs.INTENT.max_length
    assert SessionCreateInput().fields["requirements"].child.max_length == inputs.REQUIREMENT.max_length
    assert RequirementInput().fields["text"].max_length == inputs.REQUIREMENT.max_length
    assert FeedbackInput().fields["text"].max_length == inputs.FEEDBACK.max_length
    assert ApprovalDecideInput().fields["comment"].max_length == inputs.COMMENT.max_length
    assert KnowledgeCreateInput().fields["title"].max_length == inputs.KNOWLEDGE_TITLE.max_length
    assert ArtifactEditInput().fields["content"].max_length == inputs.ARTIFACT_CONTENT.max_length


def test_it_puts_nul_into_the_knowledge_form(cast):
    client = Client()
    client.force_login(cast["member"])
    response = client.post(
        "/knowledge/?organization=acme",
        {"organization": "acme", "title": "Deploy notes", "body": "step one\x00step two", "tags": "ops"},
    )
    assert response.status_code == 400, response.content[:300]
    page = response.content.decode()
    assert "body" in page and "NUL" in page
    assert "Deploy notes" in page, "the person's input is kept"
    assert not KnowledgeDocument.objects.exists()


@pytest.mark.parametrize(
    ("title", "body", "field"),
    [("Notes\x00", "text", "title"), ("Notes", "a\ud800b", "body"), ("t" * 201, "text", "title")],
)
def test_it_writes_bad_knowledge_through_the_service(cast, title, body, field):
    from agents_app.services.knowledge import knowledge_create

    with pytest.raises(InvalidInput) as refused:
        knowledge_create(user=cast["member"], organization="acme", title=title, body=body)
    assert field in refused.value.errors
    assert not KnowledgeDocument.objects.exists()


@pytest.mark.parametrize("text", ["please\x00 stop", "a lone \ud800 surrogate", "f" * (inputs.FEEDBACK.max_length + 1)])
def test_it_gives_bad_feedback_and_requirements_to_the_services(cast, acme, text):
    from sessions_app.services.collaboration import feedback_submit, requirement_add

    session = DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="x")
    with pytest.raises(InvalidInput) as refused:
        feedback_submit(user=cast["member"], session=session, text=text)
    assert "text" in refused.value.errors
    with pytest.raises(InvalidInput):
        requirement_add(user=cast["member"], session=session, text=text)
    assert not Feedback.objects.exists() and not Requirement.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_it_sends_nul_feedback_over_the_websocket(cast, acme):
    from config.asgi import application

    session = await database_sync_to_async(DevelopmentSession.objects.create)(
        organization=acme, created_by=cast["member"], intent="build a chat app"
    )
    key = (await database_sync_to_async(Token.objects.get_or_create)(user=cast["member"]))[0].key
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver"), (b"authorization", f"Token {key}".encode())]
    communicator = WebsocketCommunicator(application, f"/ws/sessions/{session.public_id}/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    while (await communicator.receive_json_from(timeout=5)).get("type") != "live":
        pass

    await communicator.send_json_to({"action": "feedback", "text": "stop\x00 now"})
    reply = await communicator.receive_json_from(timeout=5)
    while reply.get("seq", 0) is None:  # presence frames
        reply = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()

    assert reply["type"] == "error" and reply["status"] == 400, reply
    assert re.search(r"NUL", reply["detail"]), reply
    assert not await database_sync_to_async(Feedback.objects.exists)()
    assert not await database_sync_to_async(
        SessionEvent.objects.filter(session=session, type="feedback.submitted").exists
    )()
