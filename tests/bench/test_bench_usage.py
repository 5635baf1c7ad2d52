"""Usage ledger (`make bench`): one real engine session on the anthropic provider — a screenshot
(vision), selection and cached agent steps through the real SDK against the fake Messages API — and
its usage as the fake billed it, beside what the session API, the session page and analytics show.
Prints the table; asserts that the figures agree (nothing about speed)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from agents_app.llm.base import Usage
from agents_app.llm.pricing import cost_of
from tests.fake_anthropic import fake_anthropic  # noqa: F401 - fixture
from tests.support import wait_for_status

pytestmark = pytest.mark.bench
SAMPLE = Path(__file__).resolve().parents[2] / "harness_cli" / "samples" / "chat_app_design.png"
KINDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
FAKE_KINDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def test_one_sessions_usage_as_billed_and_as_shown(worker, start, api, client, cast, settings, fake_anthropic):  # noqa: F811
    fake = fake_anthropic
    settings.HARNESS_LLM, settings.ANTHROPIC_API_KEY, settings.ANTHROPIC_BASE_URL = "anthropic", "k", fake.base_url
    # Vision answers twice with something that is not the schema (one repair), then the pixels are used.
    fake.queue_text('{"source": "anthropic", "notes": ["not a full analysis"]}')
    fake.queue_text('{"source": "anthropic"}')
    fake.queue_text('{"agents": [{"slug": "requirements-analyst", "reason": "stories"}], "strategy": "sequential"}')
    for n in range(1, 7):
        body = f"# Requirement {n}\n\n" + "A person can create a channel, invite others and post messages. " * 20
        fake.queue_tool_use("write_file", {"path": f"docs/req-{n}.md", "content": body, "kind": "docs"})
    fake.queue_tool_use("finish", {"summary": "wrote six requirement files"})
    screenshot = SimpleUploadedFile("design.png", SAMPLE.read_bytes(), content_type="image/png")

    session = wait_for_status(start(screenshots=[screenshot]), "completed", "failed", timeout=90)
    assert session.status == "completed", session.completion_summary

    billed = dict(zip(KINDS, (fake.billed[k] for k in FAKE_KINDS), strict=True))
    # Each call is priced as it is recorded, to the micro-dollar; the bill's total cost is the same sum.
    billed_cost = sum((cost_of("claude-sonnet-5-5", _usage(bill)) for bill in fake.bills), Decimal(0))
    aggregate_cost = cost_of("claude-sonnet-5-5", Usage(**billed))
    shown_api = api(cast["member"]).get(f"/api/v1/sessions/{session.public_id}/").json()["usage"]
    analytics = api(cast["member"]).get("/api/v1/analytics/", {"organization": "acme", "since": "1d"}).json()
    shown_analytics = analytics["cost"]["usage"]
    client.force_login(cast["member"])
    page = client.get(f"/development/{session.public_id}/").content.decode()
    page_tokens = int(re.search(r'id="tokens"[^>]*>([\d,]+)<', page).group(1).replace(",", ""))
    page_cost = re.search(r'id="cost"[^>]*title="\$?([\d.]+)', page) or re.search(r'data-cost="([\d.]+)"', page)

    rows = [
        ("billed by the fake", *(billed[k] for k in KINDS), sum(billed.values()), billed_cost),
        ("session API", *(shown_api[k] for k in KINDS), shown_api["tokens_used"], Decimal(shown_api["cost_usd"])),
        ("analytics API", *(shown_analytics[k] for k in KINDS), shown_analytics["tokens_used"],
         Decimal(shown_analytics["cost_usd"])),
        ("session page", "", "", "", "", page_tokens, Decimal(page_cost.group(1)) if page_cost else "—"),
    ]  # fmt: skip
    print("\n\nusage of one session (vision + its repair, selection, 7 cached agent steps), claude-sonnet-5-5 prices")
    print(f"{'':<20}{'input':>8}{'output':>8}{'c.read':>8}{'c.write':>8}{'total':>8}{'cost $':>11}")
    for label, *figures in rows:
        print(f"{label:<20}" + "".join(f"{f!s:>8}" for f in figures[:-1]) + f"{figures[-1]!s:>11}")
    purposes = sorted({p for r in fake.requests for p in [_purpose(r["body"])]})
    print(f"calls: {len(fake.bills)} billed ({', '.join(purposes)})")
    print(f"priced on the total tokens instead of per call: ${aggregate_cost} (rounding per call: < $0.000001 each)")

    assert [shown_api[k] for k in KINDS] == [billed[k] for k in KINDS] == [shown_analytics[k] for k in KINDS]
    assert Decimal(shown_api["cost_usd"]) == billed_cost == Decimal(shown_analytics["cost_usd"])
    assert page_tokens == sum(billed.values())


def _usage(bill: dict) -> Usage:
    return Usage(**{k: bill.get(f, 0) for k, f in zip(KINDS, FAKE_KINDS, strict=True)})


def _purpose(body: dict) -> str:
    if body.get("tools"):
        return "agent steps"
    if any(b.get("type") == "image" for m in body["messages"] for b in m["content"] if isinstance(b, dict)):
        return "vision"
    return "selection / repairs"
