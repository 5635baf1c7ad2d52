"""Bad input gets a 4xx that says what to fix, never a 500, and writes nothing — not a row, not a file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from artifacts_app.models import ArtifactVersion
from sessions_app.models import (
    ApprovalRequest,
    DevelopmentSession,
    Feedback,
    Requirement,
    Screenshot,
    SessionEvent,
)

MODELS = [DevelopmentSession, Requirement, Screenshot, Feedback, SessionEvent, ApprovalRequest, ArtifactVersion]


def png(
    width: int = 64, height: int = 48, mode: str = "RGB", fmt: str = "PNG", name: str = "design.png"
) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), "white" if mode != "1" else 1).save(buffer, fmt)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@pytest.fixture
def media(settings, tmp_path):  # noqa: ANN001, ANN201
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def snapshot(media):  # noqa: ANN001, ANN201
    def take() -> tuple:
        return tuple(m.objects.count() for m in MODELS), sorted(str(p) for p in Path(media).rglob("*") if p.is_file())

    return take


def create(api, user, **fields):  # noqa: ANN001, ANN003, ANN201
    data = {"organization": "acme", "intent": "build a chat app", **fields}
    return api(user).post("/api/v1/sessions/", data, format="multipart")


BAD_CREATES = {
    "blank intent": ({"intent": "   "}, 400, "intent"),
    "unknown organisation": ({"organization": "nope"}, 404, "not found"),
    "someone else's organisation": ({"organization": "globex"}, 404, "not found"),
    "bad strategy": ({"execution_strategy": "random"}, 400, "execution_strategy"),
    "eleven screenshots": ({"screenshots": [png() for _ in range(11)]}, 400, "At most 10"),
    "text named .png": (
        {"screenshots": [SimpleUploadedFile("x.png", b"hello, not an image")]},
        415,
        "PNG, JPEG or WebP",
    ),
    "a GIF": ({"screenshots": [png(fmt="GIF", name="x.gif")]}, 415, "GIF"),
    "unknown agent": ({"agents": ["wizard"]}, 400, "Unknown agents"),
    "restricted agent for a member": ({"agents": ["deployment"]}, 403, "restricted"),
    "parent that is not an epic": (None, 400, "not an epic"),
}


@pytest.mark.parametrize("case", list(BAD_CREATES))
def test_a_bad_session_create_says_what_to_fix_and_writes_nothing(cast, api, snapshot, case):
    fields, status, message = BAD_CREATES[case]
    if fields is None:
        parent = DevelopmentSession.objects.create(
            organization_id=cast["member"].memberships.first().organization_id, created_by=cast["member"], intent="x"
        )
        fields = {"parent": parent.public_id}
    before = snapshot()

    response = create(api, cast["member"], **fields)

    assert response.status_code == status, response.content[:400]
    assert message.lower() in response.json()["detail"].lower() + str(response.json()["errors"]).lower()
    assert isinstance(response.json()["errors"], dict)
    assert snapshot() == before


def test_a_truncated_png_is_refused(cast, api, snapshot):
    data = png().read()
    before = snapshot()
    response = create(api, cast["member"], screenshots=[SimpleUploadedFile("cut.png", data[: len(data) // 2])])
    assert response.status_code in (400, 415) and response.json()["detail"]
    assert snapshot() == before


def test_size_and_pixel_limits_give_413(cast, api, snapshot, settings):
    before = snapshot()
    settings.HARNESS_MAX_SCREENSHOT_BYTES = 200
    too_big = create(api, cast["member"], screenshots=[png(400, 400, mode="RGB")])
    settings.HARNESS_MAX_SCREENSHOT_BYTES = 10 * 1024 * 1024
    settings.HARNESS_MAX_SCREENSHOT_PIXELS = 1000
    too_many_pixels = create(api, cast["member"], screenshots=[png(100, 100)])
    settings.HARNESS_MAX_SCREENSHOT_PIXELS = 40_000_000
    bomb = create(api, cast["member"], screenshots=[png(20000, 20000, mode="1")])

    assert (too_big.status_code, too_many_pixels.status_code, bomb.status_code) == (413, 413, 413)
    assert "limit" in too_big.json()["detail"] and "pixels" in bomb.json()["detail"]
    assert snapshot() == before


def test_a_failure_after_the_files_are_written_leaves_no_orphan_file(cast, api, snapshot, monkeypatch):
    from sessions_app.services import sessions as service

    def explode(**kwargs):  # noqa: ANN003, ANN202
        raise RuntimeError("the database went away")

    monkeypatch.setattr(service, "event_record", explode)
    before = snapshot()
    with pytest.raises(RuntimeError):
        create(api, cast["member"], screenshots=[png(), png(32, 32)])
    assert snapshot() == before


def test_a_good_multipart_create_stores_everything(cast, api, media):
    response = create(api, cast["member"], screenshots=[png(), png(800, 600)], requirements=["Channels", "Search"])

    assert response.status_code == 201, response.content[:400]
    body = response.json()
    assert body["web_url"].endswith(f"/development/{body['id']}/")
    assert [s["width"] for s in body["screenshots"]] == [64, 800]
    assert [r["text"] for r in body["requirements"]] == ["Channels", "Search"]
    assert len([p for p in Path(media).rglob("*") if p.is_file()]) == 2


@pytest.fixture
def session(cast, acme):  # noqa: ANN001, ANN201
    return DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="x", status="running")


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("feedback/", {"text": ""}, 400),
        ("feedback/", {"text": "hi", "run": "run_nope"}, 404),
        ("requirements/", {"text": "  "}, 400),
        ("requirements/", {"text": "x", "refines": 999999}, 404),
        ("share/", {"username": "nobody-here"}, 400),
        ("share/", {"username": "guest", "level": "owner"}, 400),
        ("pause/", None, 200),
        ("resume/", None, 409),
        ("retry/", None, 409),
    ],
)
def test_session_writes_refuse_bad_input_with_a_message(cast, api, session, snapshot, path, body, status):
    before = snapshot()
    response = api(cast["member"]).post(f"/api/v1/sessions/{session.public_id}/{path}", body, format="json")
    assert response.status_code == status, response.content[:300]
    if status >= 400:
        assert response.json()["detail"]
        assert snapshot() == before


def test_feedback_on_a_finished_session_is_a_conflict(cast, api, session):
    session.status = "completed"
    session.save(update_fields=["status"])
    response = api(cast["member"]).post(
        f"/api/v1/sessions/{session.public_id}/feedback/", {"text": "late"}, format="json"
    )
    assert response.status_code == 409 and "completed" in response.json()["detail"]


def test_decisions_are_checked(cast, api, session):
    approval = ApprovalRequest.objects.create(session=session, action="write_file", summary="x")
    lead = api(cast["lead"])
    bad = lead.post(f"/api/v1/approvals/{approval.public_id}/decide/", {"decision": "maybe"}, format="json")
    first = lead.post(f"/api/v1/approvals/{approval.public_id}/decide/", {"decision": "reject"}, format="json")
    again = lead.post(f"/api/v1/approvals/{approval.public_id}/decide/", {"decision": "approve"}, format="json")
    assert (bad.status_code, first.status_code, again.status_code) == (400, 200, 409)
    assert "decision" in bad.json()["errors"] and "already" in again.json()["detail"]


def test_a_stale_edit_is_a_conflict(cast, api, session):
    from artifacts_app.models import Artifact

    artifact = Artifact.objects.create(session=session, path="a.py", latest_version_number=2)
    for n in (1, 2):
        ArtifactVersion.objects.create(
            artifact=artifact, number=n, content=f"v{n}", sha256="0" * 64, author_kind="user"
        )
    client = api(cast["member"])
    missing = client.put(f"/api/v1/artifacts/{artifact.public_id}/", {"content": "x"}, format="json")
    stale = client.put(f"/api/v1/artifacts/{artifact.public_id}/", {"content": "x", "base_version": 1}, format="json")
    assert missing.status_code == 400 and "base_version" in missing.json()["errors"]
    assert stale.status_code == 409 and "reload" in stale.json()["detail"]
    assert artifact.versions.count() == 2


def test_malformed_json_and_wrong_content_types(cast, api):
    client = api(cast["member"])
    broken = client.generic("POST", "/api/v1/sessions/", "{not json", content_type="application/json")
    text = client.generic("POST", "/api/v1/sessions/", "intent=x", content_type="text/plain")
    assert broken.status_code == 400 and "JSON" in broken.json()["detail"]
    assert text.status_code == 415 and broken.json()["detail"]
