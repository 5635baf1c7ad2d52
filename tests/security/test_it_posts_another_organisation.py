"""Issue 14, item 9 (the web half): an outsider who posts the new-session form with `organization=acme` got a
session silently created in their own organisation. An organisation you are not in is a 404 that says so —
the same message as the API — never another organisation's page and never a quiet fallback."""

from __future__ import annotations

import pytest
from django.test import Client

from agents_app.models import KnowledgeDocument
from sessions_app.models import DevelopmentSession

NOT_YOURS = "not found among yours"


@pytest.fixture
def outsider(cast):  # noqa: ANN001, ANN201
    client = Client()
    client.force_login(cast["outsider"])
    return client


def test_it_posts_the_new_session_form_with_another_organisation(outsider):
    response = outsider.post("/development/new/", {"organization": "acme", "intent": "build a chat app"})
    assert response.status_code == 404, response.content[:300]
    assert NOT_YOURS in response.content.decode()
    assert not DevelopmentSession.objects.exists(), "no session, in acme or in globex"


def test_it_posts_the_new_session_form_with_an_unknown_organisation(outsider):
    response = outsider.post("/development/new/", {"organization": "nope", "intent": "build a chat app"})
    assert response.status_code == 404
    assert not DevelopmentSession.objects.exists()


def test_it_opens_the_new_session_form_of_another_organisation(outsider):
    response = outsider.get("/development/new/", {"organization": "acme"})
    assert response.status_code == 404
    page = response.content.decode()
    assert NOT_YOURS in page and "Acme" not in page


def test_it_posts_the_api_with_another_organisation_and_reads_the_same_message(outsider, cast, api):
    web = outsider.post("/development/new/", {"organization": "acme", "intent": "build a chat app"})
    response = api(cast["outsider"]).post(
        "/api/v1/sessions/", {"organization": "acme", "intent": "build a chat app"}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["detail"] in web.content.decode().replace("&#x27;", "'")
    assert not DevelopmentSession.objects.exists()


def test_it_posts_the_knowledge_form_with_another_organisation(outsider):
    response = outsider.post(
        "/knowledge/", {"organization": "acme", "title": "Our secrets", "body": "the acme roadmap"}
    )
    assert response.status_code == 404
    assert NOT_YOURS in response.content.decode()
    assert not KnowledgeDocument.objects.exists()


def test_it_still_lets_a_member_start_a_session_from_the_form(cast):
    client = Client()
    client.force_login(cast["member"])
    response = client.post("/development/new/", {"organization": "acme", "intent": "build a chat app"})
    assert response.status_code == 302, response.content[:300]
    session = DevelopmentSession.objects.get()
    assert session.organization.slug == "acme" and response["Location"].endswith(f"/{session.public_id}/")
