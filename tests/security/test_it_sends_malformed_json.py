"""Issue 14, item 8 (HTTP): a body the parser cannot or should not read is a 400 in the standard error body —
nested JSON that would exhaust the stack, a lone surrogate, multipart without (or with a broken) boundary —
never a 500 and never an empty body, before or after authentication."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from sessions_app.jsonlimits import MAX_DEPTH as MAX_JSON_DEPTH
from sessions_app.models import DevelopmentSession, Feedback

TOKEN_URL = "/api/v1/auth/token/"
SESSIONS_URL = "/api/v1/sessions/"


def assert_standard_400(response, *words: str) -> dict:  # noqa: ANN001
    assert response.status_code == 400, (response.status_code, response.content[:300])
    body = response.json()
    assert set(body) == {"detail", "errors"} and isinstance(body["errors"], dict), body
    assert body["detail"], body
    for word in words:
        assert word.lower() in (body["detail"] + str(body["errors"])).lower(), body
    return body


@pytest.fixture
def member_api(cast, api):  # noqa: ANN001, ANN201
    return api(cast["member"])


def test_it_nests_2000_brackets_into_the_token_endpoint_unauthenticated(db):
    response = APIClient().post(TOKEN_URL, "[" * 2000, content_type="application/json")
    assert_standard_400(response, "nested")


def test_it_nests_2000_braces_into_the_token_endpoint_unauthenticated(db):
    response = APIClient().post(TOKEN_URL, '{"a":' * 2000 + "1" + "}" * 2000, content_type="application/json")
    assert_standard_400(response, "nested")


def test_it_nests_past_the_depth_limit_into_a_session_create(member_api):
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    body = f'{{"organization": "acme", "intent": "build a chat app", "requirements": {deep}}}'
    response = member_api.post(SESSIONS_URL, body, content_type="application/json")
    assert_standard_400(response, str(MAX_JSON_DEPTH))
    assert not DevelopmentSession.objects.exists()


def test_it_sends_invalid_json_and_gets_told_where(member_api):
    response = member_api.post(SESSIONS_URL, '{"organization": "acme", "intent": ', content_type="application/json")
    assert_standard_400(response, "json")


def test_it_sends_a_lone_surrogate_escape_in_an_intent(member_api):
    body = '{"organization": "acme", "intent": "build \\ud800 a chat app"}'
    response = member_api.post(SESSIONS_URL, body, content_type="application/json")
    assert_standard_400(response, "surrogate")
    assert not DevelopmentSession.objects.exists()


def test_it_sends_a_nul_escape_in_feedback(member_api, cast, acme):
    session = DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="x")
    response = member_api.post(
        f"/api/v1/sessions/{session.public_id}/feedback/", '{"text": "a\\u0000b"}', content_type="application/json"
    )
    assert "text" in assert_standard_400(response, "NUL")["errors"]
    assert not Feedback.objects.exists()


MULTIPART_BODY = b'--xyz\r\nContent-Disposition: form-data; name="intent"\r\n\r\nbuild a chat app\r\n--xyz--\r\n'


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", MULTIPART_BODY),
        ("multipart/form-data; boundary=", MULTIPART_BODY),
        ("multipart/form-data; boundary=abc", MULTIPART_BODY),
        ("multipart/form-data; boundary=xyz", MULTIPART_BODY[:30]),
    ],
    ids=["no boundary", "empty boundary", "another boundary", "truncated body"],
)
def test_it_sends_broken_multipart_to_a_session_create(member_api, content_type, body):
    response = member_api.post(SESSIONS_URL, body, content_type=content_type)
    assert_standard_400(response, "multipart")
    assert not DevelopmentSession.objects.exists()


def test_it_sends_multipart_without_a_boundary_to_the_token_endpoint(db):
    response = APIClient().post(TOKEN_URL, MULTIPART_BODY, content_type="multipart/form-data")
    assert_standard_400(response, "boundary")


def test_it_reads_ordinary_json_as_before(member_api):
    response = member_api.post(
        SESSIONS_URL,
        {"organization": "acme", "intent": "build a chat app", "requirements": ["Channels"]},
        format="json",
    )
    assert response.status_code == 201, response.content[:300]


def test_it_sends_multipart_without_a_boundary_from_a_logged_in_browser(cast):
    """With the session cookie, DRF's CSRF check reads the form before the view does; the parse error must
    still come back in the standard body (a guard: DRF routes it through its parsers)."""
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(cast["member"])
    browser.get("/development/new/")
    csrf = browser.cookies["csrftoken"].value
    response = browser.post(SESSIONS_URL, MULTIPART_BODY, content_type="multipart/form-data", HTTP_X_CSRFTOKEN=csrf)
    assert_standard_400(response, "boundary")
    assert not DevelopmentSession.objects.exists()


def test_it_sends_too_many_form_fields(member_api, settings):
    """Django's field-count limit used to escape to its bare HTML 400 page: an empty body for an API client."""
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    body = "&".join(f"requirements={i}" for i in range(50)) + "&organization=acme&intent=x"
    response = member_api.post(SESSIONS_URL, body, content_type="application/x-www-form-urlencoded")
    assert_standard_400(response, "fields")
    assert not DevelopmentSession.objects.exists()


def test_it_sends_a_body_over_the_memory_limit(member_api, settings):
    """Django's body-size limit: a 413 in the standard body, not the bare HTML 400 page."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = '{"organization": "acme", "intent": "' + "x" * 2000 + '"}'
    response = member_api.post(SESSIONS_URL, body, content_type="application/json")
    assert response.status_code == 413, response.content[:300]
    assert set(response.json()) == {"detail", "errors"} and response.json()["detail"]


@pytest.fixture
def artifact(cast, acme):  # noqa: ANN001, ANN201
    from artifacts_app.services import artifact_write
    from sessions_app.events import Actor

    session = DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="x")
    return artifact_write(
        session=session, path="app/main.py", content="print(1)\n", actor=Actor.for_user(cast["member"]), base_number=0
    ).artifact


@pytest.mark.parametrize("version", ["²", "1.5", "-1", "9" * 30, "1e3"])
def test_it_asks_the_code_panel_for_a_version_that_is_no_number(cast, artifact, version):
    """The session page's JSON endpoint (not DRF): '²' passed `str.isdigit()` and reached `int()` — a 500."""
    from django.test import Client

    browser = Client()
    browser.force_login(cast["member"])
    response = browser.get(f"/development/files/{artifact.public_id}/", {"version": version})
    assert_standard_400(response, "version")


def test_it_asks_the_code_panel_for_a_missing_version_or_a_foreign_file(cast, artifact):
    from django.test import Client

    member, outsider = Client(), Client()
    member.force_login(cast["member"])
    outsider.force_login(cast["outsider"])
    url = f"/development/files/{artifact.public_id}/"
    assert member.get(url, {"version": "1"}).json()["version"] == 1
    for response in (member.get(url, {"version": "7"}), outsider.get(url)):
        assert response.status_code == 404 and set(response.json()) == {"detail", "errors"}, response.content[:200]


def test_it_posts_multipart_without_a_boundary_to_the_web_form(cast):
    """A web page's unreadable form reaches Django's own 400: a page that says what happened, not a bare title."""
    from django.test import Client

    browser = Client()
    browser.force_login(cast["member"])
    response = browser.post("/development/new/", MULTIPART_BODY, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "could not read what was sent" in response.content.decode()
    assert not DevelopmentSession.objects.exists()
