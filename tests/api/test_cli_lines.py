"""The terminal has a useful line for the events the engine records about faults, refusals and long agents."""

from __future__ import annotations

import pytest

from harness_cli.display import describe


def event(type_: str, **data) -> dict:  # noqa: ANN003
    return {"seq": 7, "type": type_, "actor": {"kind": "system", "id": None, "name": "Harness"}, "data": data}


AT = "2026-11-25T14:05:00+00:00"
OUTSIDE = "../etc/passwd is outside the workspace"
KEY_REFUSED = "401: the API key was refused; set ANTHROPIC_API_KEY"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            event(
                "agent.retrying", agent="backend", reason="HTTP 529 overloaded_error", category="overloaded",
                attempt=2, max_attempts=5, next_attempt_at=AT, delay_seconds=4.2, automatic=True,
            ),
            "backend will retry in 4 s (overloaded, attempt 2/5): HTTP 529 overloaded_error",
        ),
        (
            {**event("agent.retrying", agent="backend", retries=1, previous="failed"), "actor": {"name": "lead"}},
            "backend retried by lead after it failed (retry 1)",
        ),
        (
            event("agent.tool_refused", agent="docs-writer", tool="write_file", reason=OUTSIDE, step=3),
            f"docs-writer was refused write_file at step 3: {OUTSIDE}",
        ),
        (
            event("agent.continued", agent="backend", attempt=3, resumed_from_step=41),
            "backend continues in a new slice (#3) from step 41",
        ),
        (
            event("agent.truncated", agent="backend", step=9, cuts=1),
            "backend's answer was cut off at max_tokens (step 9, 1 in a row); told to go on",
        ),
        (
            event(
                "session.planning_retrying", reason="answer was not JSON", category="bad_response",
                attempt=1, max_attempts=5, next_attempt_at=AT, delay_seconds=2,
            ),
            "planning will retry in 2 s (bad_response, attempt 1/5): answer was not JSON",
        ),
        (
            event("agent.failed", agent="backend", category="rate_limited", error="429: slow down (retried 5 times)"),
            "backend failed (rate_limited): 429: slow down (retried 5 times)",
        ),
        (
            event("agent.failed", agent="backend", category="auth", error=KEY_REFUSED),
            f"backend failed (auth): {KEY_REFUSED}",
        ),
        (
            event("session.completed", tokens=27896, cost_usd="0.103120"),
            "session completed — 27,896 tokens, $0.10",
        ),
    ],
)  # fmt: skip
def test_it_describes_fault_and_continuation_events(payload, expected):
    assert describe(payload) == expected


def test_it_says_when_a_retry_is_due_without_a_delay():
    line = describe(
        event("agent.retrying", agent="qa", category="timeout", attempt=1, max_attempts=3, next_attempt_at=AT)
    )

    assert line == f"qa will retry at {AT} (timeout, attempt 1/3): "
