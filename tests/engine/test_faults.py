"""Model faults through the real engine: a real Celery worker, the real SDK, the local fake Messages API.

Each test injects one fault and checks the final state, the events, and that nothing is lost:
faults that may pass are retried by the engine (an `agent.retrying` event each, capped backoff, a
budget); the others fail the run at once with a category and a message that says what to fix.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from PIL import Image

from agents_app.models import AgentRun, FailureCategory, RunStatus
from artifacts_app.models import ArtifactVersion
from sessions_app.models import Screenshot, SessionEvent
from tests.fake_anthropic import fake_anthropic  # noqa: F401 - fixture
from tests.support import assert_gap_free, wait_for_status

AGENT = "requirements-analyst"
RETRIES = 3


@pytest.fixture
def fake(settings, fake_anthropic):  # noqa: ANN001, ANN201, F811
    settings.HARNESS_LLM = "anthropic"
    settings.ANTHROPIC_API_KEY = "test-key"
    settings.ANTHROPIC_BASE_URL = fake_anthropic.base_url
    settings.HARNESS_LLM_MAX_RETRIES = RETRIES
    settings.HARNESS_LLM_MAX_RETRY_AFTER_SECONDS = 0.2  # backoff capped low: the test does not wait
    settings.HARNESS_LLM_TIMEOUT_SECONDS = 1.0
    return fake_anthropic


def script_a_good_agent(fake) -> None:  # noqa: ANN001
    fake.queue_tool_use("write_file", {"path": "docs/requirements.md", "content": "# Requirements\n", "kind": "docs"})
    fake.queue_tool_use("finish", {"summary": "wrote the requirements"})


def one_agent_session(start):  # noqa: ANN001, ANN201
    """An explicit single agent: no selection call, so the first request is the agent's first step."""
    return wait_for_status(start(agents=[AGENT]), "completed", "failed", timeout=60)


def events(session, type_: str) -> list[dict]:  # noqa: ANN001
    return list(SessionEvent.objects.filter(session=session, type=type_).order_by("seq").values_list("data", flat=True))


def the_run(session) -> AgentRun:  # noqa: ANN001
    return AgentRun.objects.get(session=session)


def assert_written_once(session) -> None:  # noqa: ANN001
    written = ArtifactVersion.objects.filter(artifact__session=session, author_run__isnull=False)
    paths = list(written.values_list("artifact__path", flat=True))
    assert paths == ["docs/requirements.md"], paths


RETRIED = [
    ("overloaded (529)", lambda f: f.queue_error(529), FailureCategory.OVERLOADED),
    ("rate limited (429)", lambda f: f.queue_error(429, retry_after_ms=10), FailureCategory.RATE_LIMITED),
    ("server error (500)", lambda f: f.queue_error(500), FailureCategory.SERVER_ERROR),
    ("overloaded mid-stream, after a 200", lambda f: f.queue_stream_error("overloaded_error"), "overloaded"),
    ("api_error mid-stream", lambda f: f.queue_stream_error("api_error", text_before="Let me"), "server_error"),
    ("a 200 whose body is not JSON", lambda f: f.queue_non_json(), FailureCategory.BAD_RESPONSE),
    ("a stream that drops", lambda f: f.queue_broken_stream(), FailureCategory.BAD_RESPONSE),
    ("no answer in time", lambda f: f.queue_slow(3.0), FailureCategory.TIMEOUT),
]


@pytest.mark.parametrize(("fault", "inject", "category"), RETRIED, ids=[r[0] for r in RETRIED])
def test_a_fault_that_may_pass_is_retried_and_the_session_completes(worker, start, fake, fault, inject, category):
    inject(fake)
    script_a_good_agent(fake)

    session = one_agent_session(start)

    assert session.status == "completed", session.completion_summary
    retrying = events(session, "agent.retrying")
    assert len(retrying) == 1, retrying
    assert retrying[0]["category"] == category and retrying[0]["automatic"] is True
    assert retrying[0]["attempt"] == 1 and retrying[0]["max_attempts"] == RETRIES
    assert 0 <= retrying[0]["delay_seconds"] <= 0.2 and retrying[0]["next_attempt_at"]
    run = the_run(session)
    assert run.fault_retries == 0 and run.status == RunStatus.COMPLETED
    assert_written_once(session)
    assert_gap_free(session)
    assert fake.violations == []


def test_a_long_retry_after_is_cut_to_the_configured_cap(worker, start, fake):
    fake.queue_error(429, retry_after="3600")
    script_a_good_agent(fake)

    session = one_agent_session(start)

    assert session.status == "completed", session.completion_summary
    assert events(session, "agent.retrying")[0]["delay_seconds"] == 0.2


def test_faults_past_the_budget_fail_the_run_with_their_category(worker, start, fake):
    for _ in range(RETRIES + 1):
        fake.queue_error(529)
    script_a_good_agent(fake)  # never reached

    session = one_agent_session(start)

    assert session.status == "failed"
    assert [e["attempt"] for e in events(session, "agent.retrying")] == [1, 2, 3]
    run = the_run(session)
    assert run.failure_category == FailureCategory.OVERLOADED
    assert f"gave up after {RETRIES + 1} attempts" in run.error
    assert events(session, "agent.failed")[0]["category"] == "overloaded"
    assert not ArtifactVersion.objects.filter(artifact__session=session).exists()


def test_an_unreachable_api_fails_with_connection_after_the_budget(worker, start, fake, settings):
    settings.ANTHROPIC_BASE_URL = "http://127.0.0.1:9"  # discard port: nothing listens

    session = one_agent_session(start)

    assert session.status == "failed"
    assert len(events(session, "agent.retrying")) == RETRIES
    assert the_run(session).failure_category == FailureCategory.CONNECTION


FINAL = [
    (400, FailureCategory.INVALID_REQUEST, "invalid"),
    (401, FailureCategory.AUTH, "ANTHROPIC_API_KEY"),
    (403, FailureCategory.AUTH, "ANTHROPIC_API_KEY"),
    (404, FailureCategory.NOT_FOUND, "HARNESS_LLM_MODEL"),
]


@pytest.mark.parametrize(("status", "category", "fix"), FINAL)
def test_a_fault_that_will_not_pass_fails_at_once_saying_what_to_fix(worker, start, fake, status, category, fix):
    fake.queue_error(status, message="fake refusal of the request")
    script_a_good_agent(fake)

    session = one_agent_session(start)

    assert session.status == "failed"
    assert events(session, "agent.retrying") == []
    run = the_run(session)
    assert run.failure_category == category
    assert fix in run.error, run.error
    assert len(fake.requests) == 1, "not retried"


def test_a_refusal_is_recorded_and_never_sent_back(worker, start, fake):
    fake.queue_refusal("I can't help with that.")
    script_a_good_agent(fake)

    session = one_agent_session(start)

    assert session.status == "failed"
    run = the_run(session)
    assert run.failure_category == FailureCategory.REFUSED
    assert "I can't help with that." in run.error
    failed = events(session, "agent.failed")[0]
    assert failed["category"] == "refused" and "can't help" in failed["error"]
    assert len(fake.requests) == 1
    assert all(m["content"] for m in run.checkpoint.get("messages", []))


def test_a_cut_off_answer_is_told_to_go_on(worker, start, fake):
    fake.queue_max_tokens("Here is the first half of a very long fi")
    script_a_good_agent(fake)

    session = one_agent_session(start)

    assert session.status == "completed", session.completion_summary
    truncated = events(session, "agent.truncated")
    assert [t["cuts"] for t in truncated] == [1]
    second = fake.requests[1]["body"]["messages"]
    assert second[-2]["role"] == "assistant" and second[-2]["content"][0]["text"].startswith("Here is the first")
    assert "cut off at the max_tokens limit" in second[-1]["content"][-1]["text"]
    assert_written_once(session)


def test_two_cuts_in_a_row_fail_the_run_clearly(worker, start, fake):
    fake.queue_max_tokens("first try, cut")
    fake.queue_max_tokens("second try, cut again")

    session = one_agent_session(start)

    assert session.status == "failed"
    run = the_run(session)
    assert run.failure_category == FailureCategory.TRUNCATED
    assert "2 times in a row" in run.error


def test_thinking_blocks_go_back_unchanged_and_stream_to_people(worker, start, fake):
    fake.queue_thinking_tool_use(
        "I will write the requirements first.",
        [("write_file", {"path": "docs/requirements.md", "content": "# Requirements\n", "kind": "docs"})],
        redacted="opaque",
    )
    fake.queue_thinking_tool_use("Now I finish.", [("finish", {"summary": "done"})])

    session = one_agent_session(start)

    assert session.status == "completed", session.completion_summary
    assert fake.violations == []
    second = fake.requests[1]["body"]["messages"]
    kinds = [b["type"] for b in second[-2]["content"]]
    assert kinds[:2] == ["thinking", "redacted_thinking"]


def test_usage_recorded_for_the_session_is_what_the_fake_billed(worker, start, fake):
    fake.queue_text('{"agents": [{"slug": "requirements-analyst", "reason": "stories"}], "strategy": "sequential"}')
    script_a_good_agent(fake)

    session = wait_for_status(start(), "completed", "failed", timeout=60)

    assert session.status == "completed", session.completion_summary
    billed = fake.billed
    assert billed["input_tokens"] > 0
    assert (session.input_tokens, session.output_tokens, session.cache_read_tokens, session.cache_write_tokens) == (
        billed["input_tokens"],
        billed["output_tokens"],
        billed["cache_read_input_tokens"],
        billed["cache_creation_input_tokens"],
    )
    assert session.tokens_used == sum(billed.values())
    assert session.cost_usd > 0 and not session.usage_estimated


# --- planning -----------------------------------------------------------------------------------------


def test_a_fault_while_planning_is_retried_then_planned_by_the_model(worker, start, fake):
    fake.queue_error(529)
    fake.queue_non_json()
    fake.queue_text('{"agents": [{"slug": "requirements-analyst", "reason": "stories"}], "strategy": "sequential"}')
    script_a_good_agent(fake)

    session = wait_for_status(start(), "completed", "failed", timeout=60)

    assert session.status == "completed", session.completion_summary
    retrying = events(session, "session.planning_retrying")
    assert [(r["attempt"], r["category"]) for r in retrying] == [(1, "overloaded"), (2, "bad_response")]
    assert session.plan["source"] == "anthropic"


def test_planning_faults_past_the_budget_fall_back_to_the_offline_ranking(worker, start, fake):
    for _ in range(RETRIES + 1):
        fake.queue_error(529)

    session = wait_for_status(start(), "running", "completed", "failed", timeout=60)

    assert session.plan["source"] == "offline-fallback"
    assert len(events(session, "session.planning_retrying")) == RETRIES
    assert any("ranked offline" in d["reason"] for d in session.plan["dropped"])


def test_a_planning_bug_ends_in_a_failed_session_not_a_stuck_one(worker, start, settings, tmp_path):
    """An unexpected exception in planning (here a real one: the stored screenshot is gone from disk when
    planning opens it — the upload check decodes every pixel, so a bad file can no longer get that far) is
    retried within the budget, then fails the session as `internal`."""
    settings.HARNESS_LLM_MAX_RETRIES = 1
    settings.HARNESS_LLM_MAX_RETRY_AFTER_SECONDS = 0.1
    settings.MEDIA_ROOT = tmp_path
    image = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(image, "PNG")
    upload = SimpleUploadedFile("design.png", image.getvalue(), content_type="image/png")

    with transaction.atomic():  # planning is sent on commit: the file is removed before it can run
        session = start(screenshots=[upload])
        Path(Screenshot.objects.get(session=session).image.path).unlink()

    session = wait_for_status(session, "failed", "completed", "running", timeout=60)

    assert session.status == "failed"
    assert len(events(session, "session.planning_retrying")) == 1
    failed = events(session, "session.failed")[0]
    assert failed["category"] == "internal" and "FileNotFoundError" in failed["error"]
