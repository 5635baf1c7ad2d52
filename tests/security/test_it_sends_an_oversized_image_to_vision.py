"""Issue 14, item 5: uploads may be 10 MiB, but the Messages API refuses an image over 5 MB or over
8000 px a side, so such a screenshot silently fell back to the offline analysis. Now the vision path
sends at most what the API takes (and what it would not scale down again), and a fallback says so.
The fake Messages API enforces the documented per-image limits, as the real one does."""

from __future__ import annotations

import base64
import io
import json

import anthropic
import pytest
from PIL import Image

from agents_app import vision
from sessions_app.models import Screenshot, SessionEvent
from tests.fake_anthropic import fake_anthropic  # noqa: F401 - fixture
from tests.security.crafted_images import noisy_png, picture, upload
from tests.support import wait_for_status

AGENT = "requirements-analyst"
FIVE_MB = 5 * 1024 * 1024
VISUAL = {
    "source": "anthropic",
    "image": {"width": 1568, "height": 574, "device_class": "desktop"},
    "palette": [{"hex": "#e6e6e6", "share": 0.9, "role": "background"}],
    "theme": "light",
    "layout": {"regions": [{"name": "header", "box": [0, 0, 1, 0.1]}], "columns": 1},
    "components": [{"type": "table", "count": 1}],
    "screens": [{"name": "dashboard"}],
}


@pytest.fixture
def fake(settings, fake_anthropic, tmp_path):  # noqa: ANN001, ANN201, F811
    settings.HARNESS_LLM = "anthropic"
    settings.ANTHROPIC_API_KEY = "test-key"
    settings.ANTHROPIC_BASE_URL = fake_anthropic.base_url
    settings.MEDIA_ROOT = tmp_path
    return fake_anthropic


@pytest.fixture(scope="module")
def huge() -> bytes:
    """8200×3000 (24.6 M pixels, within the upload limit) and ~9.5 MB: over both of the API's image limits."""
    data = noisy_png(8200, 3000, 1150)
    assert 9_000_000 < len(data) <= 10 * 1024 * 1024
    return data


def script_the_agent(fake) -> None:  # noqa: ANN001
    fake.queue_tool_use("write_file", {"path": "docs/requirements.md", "content": "# Requirements\n", "kind": "docs"})
    fake.queue_tool_use("finish", {"summary": "wrote the requirements"})


def image_blocks(fake) -> list[dict]:  # noqa: ANN001
    return [
        block
        for request in fake.requests
        for message in request["body"].get("messages", [])
        for block in (message["content"] if isinstance(message["content"], list) else [])
        if block.get("type") == "image"
    ]


def test_it_sends_an_oversized_image_to_vision(worker, start, fake, huge):
    fake.queue_text(json.dumps(VISUAL))
    script_the_agent(fake)

    session = wait_for_status(start(screenshots=[upload("wide.png", huge)], agents=[AGENT]), "completed", "failed")

    assert fake.violations == []
    [block] = image_blocks(fake)
    sent = block["source"]["data"]
    assert len(sent) <= FIVE_MB
    with Image.open(io.BytesIO(base64.b64decode(sent))) as image:
        assert max(image.size) <= 1568 and image.width * image.height <= 1_150_000
        assert abs(image.width / image.height - 8200 / 3000) < 0.01
        assert block["source"]["media_type"] == Image.MIME[image.format]
    analysis = Screenshot.objects.get(session=session).analysis
    assert analysis["source"] == "anthropic"
    assert (analysis["image"]["width"], analysis["image"]["height"]) == (8200, 3000)
    assert any("8200×3000" in note for note in analysis["notes"])
    assert session.status == "completed", session.completion_summary


def test_it_is_refused_by_the_fake_when_over_the_limits(fake, huge):
    """The same file sent as it is: the fake answers as the API does. The check above is real."""
    client = anthropic.Anthropic(api_key="k", base_url=fake.base_url, max_retries=0)

    def send(data: bytes) -> str:
        content = [*vision.vision_request_content(data, "image/png", name="x")[:1], {"type": "text", "text": "hi"}]
        with pytest.raises(anthropic.BadRequestError) as refused:
            client.messages.create(
                model="claude-sonnet-5-5", max_tokens=64, messages=[{"role": "user", "content": content}]
            )
        return str(refused.value)

    assert "image exceeds 5 MB maximum" in send(huge)
    assert "8000 pixels" in send(picture(8001, 40))
    assert "does not match the provided media type" in send(picture(64, 48, fmt="JPEG"))
    assert len(fake.violations) == 3


def test_it_prepares_an_image_within_the_limits_as_it_is(huge):
    small = picture(1280, 800)

    prepared = vision.image_for_model(small)

    assert prepared.data == small and not prepared.scaled
    big = vision.image_for_model(huge)
    assert big.scaled and len(base64.b64encode(big.data)) <= FIVE_MB
    assert (big.original_width, big.original_height) == (8200, 3000)


def test_it_makes_a_fallback_to_the_offline_analysis_visible(worker, start, fake):
    fake.queue_error(400, message="messages.0.content.0.image.source.base64: Could not process image")
    script_the_agent(fake)

    session = wait_for_status(
        start(screenshots=[upload("design.png", picture(1280, 800))], agents=[AGENT]), "completed", "failed"
    )

    [analysed] = SessionEvent.objects.filter(session=session, type="screenshot.analysed").values_list("data", flat=True)
    assert analysed["source"] == "offline"
    assert analysed["fallback"]["category"] == "invalid_request"
    assert "Could not process image" in analysed["fallback"]["reason"]
    assert session.status == "completed", session.completion_summary
