"""Issue 14, item 4: the offline analysis resized every screenshot to 160 px wide, so a narrow one was
enlarged — a 237-byte 10×2000 PNG became 160×32,000 (9 s, 250 MB), and 10×4,000,000 (inside the pixel
limit) would have been 64 M samples. Now shapes no screen has are refused at upload, and the analysis
only ever shrinks, into a fixed box."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents_app import pixels
from sessions_app.models import DevelopmentSession, Screenshot
from tests.security.crafted_images import picture, png_of_rows, upload


@pytest.fixture
def media(settings, tmp_path):  # noqa: ANN001, ANN201
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def api_create(api, user, *files):  # noqa: ANN001, ANN201
    data = {"organization": "acme", "intent": "build a chat app", "screenshots": list(files)}
    return api(user).post("/api/v1/sessions/", data, format="multipart")


def nothing_written(media) -> bool:  # noqa: ANN001
    return (
        not DevelopmentSession.objects.exists()
        and not Screenshot.objects.exists()
        and not any(p.is_file() for p in Path(media).rglob("*"))
    )


@pytest.mark.parametrize("width, height", [(10, 2000), (10, 4_000_000)])
def test_it_uploads_a_narrow_strip(cast, api, media, width, height):
    data = png_of_rows(width, height)
    assert len(data) < 50_000

    response = api_create(api, cast["member"], upload("strip.png", data))

    assert response.status_code == 400, response.content[:300]
    detail = response.json()["detail"]
    assert "'strip.png'" in detail and f"{width}×{height}" in detail and "20:1" in detail
    assert "20:1" in str(response.json()["errors"]["screenshots[0]"])
    assert nothing_written(media)


@pytest.mark.parametrize(
    "width, height, status, says",
    [(4, 60, 400, "at least 8"), (16_385, 900, 413, "16,384"), (900, 16_385, 413, "16,384")],
)
def test_it_uploads_a_sliver_or_a_side_longer_than_any_capture(cast, api, media, width, height, status, says):
    response = api_create(api, cast["member"], upload("odd.png", png_of_rows(width, height)))

    assert response.status_code == status, response.content[:300]
    assert says in response.json()["detail"]
    assert nothing_written(media)


def test_it_accepts_a_tall_page_capture_within_the_ratio(cast, api, media):
    """A full-page capture (1280×16,000, 12.5:1) is a real screenshot and stays allowed."""
    response = api_create(api, cast["member"], upload("page.png", png_of_rows(1280, 16_000)))

    assert response.status_code == 201, response.content[:300]


@pytest.mark.parametrize(
    "width, height, sample",
    [
        (20, 400, (20, 400)),  # narrow, at the 20:1 limit: kept as it is, never enlarged
        (40, 30, (40, 30)),  # tiny: kept as it is
        (1280, 800, (160, 100)),  # a desktop capture: 160 wide, as before
        (1280, 16_000, (38, 480)),  # a full page: into the 160×480 box
        (5000, 5000, (160, 160)),  # the largest allowed canvas
    ],
)
def test_it_analyses_an_allowed_image_offline_without_enlarging_it(width, height, sample):
    analysis = pixels.analyse_image_offline(png_of_rows(width, height))

    worked_on = (analysis["sample"]["width"], analysis["sample"]["height"])
    assert worked_on == sample
    assert worked_on[0] <= width and worked_on[1] <= height
    assert worked_on[0] * worked_on[1] <= pixels.SAMPLE_BOX[0] * pixels.SAMPLE_BOX[1]
    assert (analysis["image"]["width"], analysis["image"]["height"]) == (width, height)


def test_it_analyses_a_narrow_strip_stored_before_the_upload_check(settings):
    """A file already on disk from before the shape rules: analysed in the box, never 160×32,000."""
    analysis = pixels.analyse_image_offline(png_of_rows(10, 2000))

    assert (analysis["sample"]["width"], analysis["sample"]["height"]) == (2, 480)


def test_it_analyses_a_canvas_over_the_pixel_limit_stored_before_it(settings):
    settings.HARNESS_MAX_SCREENSHOT_PIXELS = 1_000_000

    with pytest.raises(pixels.ScreenshotUnreadable, match="pixels"):
        pixels.analyse_image_offline(png_of_rows(2000, 2000))


def test_it_accepts_a_good_screenshot_still(cast, api, media):
    response = api_create(api, cast["member"], upload("design.png", picture(1280, 800)))

    assert response.status_code == 201
    assert response.json()["screenshots"][0]["width"] == 1280
