"""Issue 14, item 3: a truncated image passed the upload check (Pillow's verify() reads chunks and CRCs,
not pixels) and broke planning later; a huge canvas of nothing (6300×6300 in 38 KB) was decoded again
on every planning retry. Now every upload is decoded in full once, before anything is written, and an
image that breaks later fails its session with the category `image`, at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import transaction

from agents_app import pixels, vision
from sessions_app.models import DevelopmentSession, Requirement, Screenshot, SessionEvent
from tests.security.crafted_images import picture, png_cut_mid_row, png_of_rows, upload
from tests.support import wait_for_status

MODELS = [DevelopmentSession, Requirement, Screenshot, SessionEvent]


@pytest.fixture
def media(settings, tmp_path):  # noqa: ANN001, ANN201
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def snapshot(media):  # noqa: ANN001, ANN201
    def take() -> tuple:
        return [m.objects.count() for m in MODELS], sorted(str(p) for p in Path(media).rglob("*") if p.is_file())

    return take


def api_create(api, user, *files):  # noqa: ANN001, ANN201
    data = {"organization": "acme", "intent": "build a chat app", "screenshots": list(files)}
    return api(user).post("/api/v1/sessions/", data, format="multipart")


def test_it_uploads_a_png_cut_mid_row_through_the_api(cast, api, snapshot):
    data = png_cut_mid_row()
    assert len(data) <= 80
    before = snapshot()

    response = api_create(api, cast["member"], upload("cut.png", data))

    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert "'cut.png'" in body["detail"] and "truncated" in body["detail"]
    assert "truncated" in str(body["errors"]["screenshots[0]"])
    assert snapshot() == before


def test_it_uploads_a_png_cut_mid_row_through_the_web_form(cast, client, snapshot):
    client.force_login(cast["member"])
    before = snapshot()

    response = client.post(
        "/development/new/",
        {"organization": "acme", "intent": "build a chat app", "screenshots": upload("cut.png", png_cut_mid_row())},
    )

    assert response.status_code == 400
    assert "cut.png" in response.content.decode() and "truncated" in response.content.decode()
    assert snapshot() == before


def test_it_uploads_a_big_canvas_in_a_small_file(cast, api, snapshot, settings):
    """6300×6300 = 39.7 M pixels in 38 KB: refused from the header, before a single pixel is decoded."""
    bomb = png_of_rows(6300, 6300)
    assert len(bomb) < 40_000
    before = snapshot()

    response = api_create(api, cast["member"], upload("canvas.png", bomb))

    assert response.status_code == 413, response.content[:300]
    assert "6300×6300" in response.json()["detail"]
    assert f"{settings.HARNESS_MAX_SCREENSHOT_PIXELS:,}" in response.json()["detail"]
    assert settings.HARNESS_MAX_SCREENSHOT_PIXELS <= 25_000_000  # ≤ 100 MB decoded at 4 bytes a pixel
    assert snapshot() == before


def test_it_uploads_one_good_and_one_truncated_image(cast, api, snapshot):
    """The second file is bad: the first is not written either, and the error names the second."""
    before = snapshot()
    good, cut = upload("good.png", picture(64, 48)), upload("cut.png", png_cut_mid_row())

    response = api_create(api, cast["member"], good, cut)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["screenshots[1]"]
    assert snapshot() == before


def test_it_damages_a_stored_image_before_planning(worker, start, media):
    """A real fault after upload (the stored file cut in half on disk): the session fails with the category
    `image` and a summary naming the file — no retries, no loop."""
    with transaction.atomic():  # planning is dispatched on commit: the file is damaged before it runs
        session = start(screenshots=[upload("design.png", picture(800, 600))])
        stored = Path(Screenshot.objects.get(session=session).image.path)
        stored.write_bytes(stored.read_bytes()[: stored.stat().st_size // 2])

    session = wait_for_status(session, "failed", "completed", "running", timeout=60)

    assert session.status == "failed"
    assert "design.png" in session.completion_summary and "image" in session.completion_summary
    failed = SessionEvent.objects.filter(session=session, type="session.failed").values_list("data", flat=True)
    assert [f["category"] for f in failed] == ["image"]
    assert not SessionEvent.objects.filter(session=session, type="session.planning_retrying").exists()
    assert session.planning_retries == 0


def test_it_decodes_a_cut_file_stored_before_the_upload_check():
    """A file already on disk from before the full decode: both readers refuse it with the one error that
    planning turns into the `image` category — never an OSError to retry."""
    with pytest.raises(pixels.ScreenshotUnreadable, match="truncated"):
        pixels.analyse_image_offline(png_cut_mid_row())
    with pytest.raises(pixels.ScreenshotUnreadable, match="truncated"):
        vision.image_for_model(png_cut_mid_row())
