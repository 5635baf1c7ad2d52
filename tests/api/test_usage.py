"""One session's usage reads the same everywhere: the API, its page, analytics (API and page) and the CLI.

The sessions are billed the way the engine bills them — through `record_call`, once per model call
(vision, selection, agent steps with cache reads and writes) — never by writing the counters by hand.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from html import unescape

import pytest

from agents_app.llm.base import CallContext, Usage
from agents_app.llm.pricing import cost_of
from agents_app.llm.recording import record_call
from agents_app.models import AgentDefinition, AgentRun, RunStatus
from analytics_app.templatetags.usage import dollars
from harness_cli import main as cli
from sessions_app.models import DevelopmentSession, SessionStatus

MODEL = "claude-sonnet-5-5"
KINDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
ESTIMATE_LABEL = "estimated — offline provider, not billed"

# (purpose, counts in the run?, usage): what one real session's model calls used.
BILLED_CALLS = [
    ("vision", False, Usage(input_tokens=1800, output_tokens=240)),
    ("selection", False, Usage(input_tokens=950, output_tokens=130)),
    ("agent_step", True, Usage(input_tokens=310, output_tokens=420, cache_write_tokens=2600)),
    ("agent_step", True, Usage(input_tokens=120, output_tokens=380, cache_read_tokens=2600, cache_write_tokens=450)),
    ("agent_step", True, Usage(input_tokens=90, output_tokens=510, cache_read_tokens=3050, cache_write_tokens=300)),
]
OFFLINE_CALLS = [
    ("selection", False, Usage(input_tokens=400, output_tokens=20, estimated=True)),
    ("agent_step", True, Usage(input_tokens=700, output_tokens=90, estimated=True)),
]


def bill(session: DevelopmentSession, run: AgentRun, calls: list, *, provider: str, model: str) -> dict:
    """Record the calls as the providers do; return what they add up to, counted here independently."""
    expected = dict.fromkeys(KINDS, 0) | {"cost_usd": Decimal(0)}
    for purpose, in_run, usage in calls:
        context = CallContext(purpose=purpose, session_id=session.pk, run_id=run.pk if in_run else None)
        record_call(context, provider=provider, model=model, usage=usage)
        for kind in KINDS:
            expected[kind] += getattr(usage, kind)
        expected["cost_usd"] += cost_of(model, usage)
    expected["tokens_used"] = sum(expected[kind] for kind in KINDS)
    return expected


def make_session(acme, user, intent: str) -> tuple[DevelopmentSession, AgentRun]:  # noqa: ANN001
    session = DevelopmentSession.objects.create(
        organization=acme, created_by=user, intent=intent, status=SessionStatus.COMPLETED, plan={"agents": []}
    )
    run = AgentRun.objects.create(
        session=session, agent=AgentDefinition.objects.get(slug="backend"), status=RunStatus.COMPLETED
    )
    return session, run


@pytest.fixture
def billed(cast, acme):  # noqa: ANN001, ANN201
    session, run = make_session(acme, cast["member"], "build a chat app")
    expected = bill(session, run, BILLED_CALLS, provider="anthropic", model=MODEL)
    in_run = [c for c in BILLED_CALLS if c[1]]
    run_expected = {kind: sum(getattr(u, kind) for _, _, u in in_run) for kind in KINDS}
    run_expected["cost_usd"] = sum((cost_of(MODEL, u) for _, _, u in in_run), Decimal(0))
    return {"session": session, "run": run, "expected": expected, "run_expected": run_expected}


@pytest.fixture
def offline(cast, acme):  # noqa: ANN001, ANN201
    session, run = make_session(acme, cast["member"], "write docs offline")
    expected = bill(session, run, OFFLINE_CALLS, provider="offline", model="offline")
    return {"session": session, "run": run, "expected": expected}


def session_usage(api, user, session) -> dict:  # noqa: ANN001
    response = api(user).get(f"/api/v1/sessions/{session.public_id}/")
    assert response.status_code == 200, response.content[:300]
    return response.json()


def analytics_cost(api, user) -> dict:  # noqa: ANN001
    response = api(user).get("/api/v1/analytics/", {"organization": "acme", "since": "7d"})
    assert response.status_code == 200, response.content[:300]
    return response.json()["cost"]


def tag(html: str, attribute: str, value: str) -> dict[str, str]:
    """The attributes of the element whose `attribute` is `value` (a bare attribute like `hidden` maps to "")."""
    match = re.search(rf'<[a-z]+\s[^>]*{attribute}="{re.escape(value)}"[^>]*>', html)
    assert match, f'no element with {attribute}="{value}"'
    attributes = re.findall(r'([\w-]+)(?:="([^"]*)")?', match.group(0)[1:-1])
    return {name: unescape(v) for name, v in attributes[1:]}


def element_text(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert match, f"no #{element_id}"
    return unescape(match.group(1)).strip()


def test_it_counts_every_call_of_a_billed_session_in_its_api_usage(api, cast, billed):
    data = session_usage(api, cast["member"], billed["session"])
    expected = billed["expected"]

    usage = data["usage"]
    assert {kind: usage[kind] for kind in KINDS} == {kind: expected[kind] for kind in KINDS}
    assert usage["tokens_used"] == data["tokens_used"] == expected["tokens_used"]
    assert expected["cache_read_tokens"] and expected["cache_write_tokens"], "the story needs cache traffic"
    assert Decimal(usage["cost_usd"]) == Decimal(data["cost_usd"]) == expected["cost_usd"] > 0
    assert usage["estimated"] is False
    (run,) = data["runs"]
    assert {kind: run["usage"][kind] for kind in KINDS} == {kind: billed["run_expected"][kind] for kind in KINDS}
    assert run["usage"]["tokens_used"] == sum(billed["run_expected"][kind] for kind in KINDS)
    assert Decimal(run["usage"]["cost_usd"]) == billed["run_expected"]["cost_usd"]
    assert run["usage"]["estimated"] is False


def test_it_lists_sessions_with_their_usage(api, cast, billed, offline):
    response = api(cast["member"]).get("/api/v1/sessions/")

    rows = {row["id"]: row for row in response.json()["results"]}
    billed_row, offline_row = rows[billed["session"].public_id], rows[offline["session"].public_id]
    assert billed_row["usage"]["tokens_used"] == billed["expected"]["tokens_used"]
    assert Decimal(billed_row["usage"]["cost_usd"]) == billed["expected"]["cost_usd"]
    assert (billed_row["usage"]["estimated"], offline_row["usage"]["estimated"]) == (False, True)


def test_it_shows_the_same_usage_on_the_api_the_page_and_analytics(api, client, cast, billed, offline):
    session = billed["session"]
    usage = session_usage(api, cast["member"], session)["usage"]
    client.force_login(cast["member"])

    page = client.get(f"/development/{session.public_id}/").content.decode()
    header = tag(page, "id", "usage")
    assert header["data-tokens"] == str(usage["tokens_used"])
    assert header["data-cost-usd"] == usage["cost_usd"]
    assert header["data-estimated"] == "false"
    assert element_text(page, "tokens") == str(usage["tokens_used"])
    assert element_text(page, "cost") == dollars(usage["cost_usd"]) != "$0"
    for kind in KINDS:
        assert re.search(rf'data-kind="{kind}">{usage[kind]:,}<', page), kind
    assert "hidden" in tag(page, "id", "usage-estimated"), "a billed session is not marked as an estimate"
    assert "$0.000000" not in page
    initial = json.loads(element_text(page, "initial"))
    assert initial["usage"] == usage, "the page's script starts from the API's figures"

    cost = analytics_cost(api, cast["lead"])
    (row,) = [r for r in cost["by_session"] if r["session"] == session.public_id]
    assert {k: row[k] for k in (*KINDS, "tokens_used", "cost_usd")} == {
        k: usage[k] for k in (*KINDS, "tokens_used", "cost_usd")
    }
    assert row["estimated"] is False

    client.force_login(cast["lead"])
    analytics_page = client.get("/analytics/", {"organization": "acme", "since": "7d"}).content.decode()
    cells = tag(analytics_page, "data-session", session.public_id)
    assert (cells["data-tokens"], cells["data-cost-usd"], cells["data-estimated"]) == (
        str(usage["tokens_used"]),
        usage["cost_usd"],
        "false",
    )
    assert dollars(usage["cost_usd"]) in analytics_page


def test_it_gives_analytics_totals_that_are_the_sum_of_the_sessions(api, cast, billed, offline):
    sessions = [billed["expected"], offline["expected"]]

    cost = analytics_cost(api, cast["lead"])

    totals = cost["usage"]
    for kind in (*KINDS, "tokens_used"):
        assert totals[kind] == sum(s[kind] for s in sessions), kind
    assert cost["total_tokens"] == totals["tokens_used"]
    assert Decimal(totals["cost_usd"]) == Decimal(cost["total_cost_usd"]) == billed["expected"]["cost_usd"]
    assert totals["estimated"] is cost["estimated"] is True, "one offline session is in scope"
    by_agent = cost["by_agent"]
    for kind in (*KINDS, "tokens_used"):
        assert sum(row[kind] for row in by_agent) == totals[kind], f"LLM calls by agent must add up ({kind})"
    assert sum(Decimal(row["cost_usd"]) for row in by_agent) == Decimal(totals["cost_usd"])
    assert {row["agent"] for row in by_agent} == {"backend", "vision", "selection"}
    assert {row["agent"]: row["estimated"] for row in by_agent}["vision"] is False


def test_it_marks_an_offline_session_as_an_estimate_everywhere(api, client, cast, offline):
    session = offline["session"]
    usage = session_usage(api, cast["member"], session)["usage"]

    assert usage["estimated"] is True
    assert usage["tokens_used"] == offline["expected"]["tokens_used"] > 0
    assert Decimal(usage["cost_usd"]) == 0
    client.force_login(cast["member"])
    page = client.get(f"/development/{session.public_id}/").content.decode()
    assert tag(page, "id", "usage")["data-estimated"] == "true"
    assert "hidden" not in tag(page, "id", "usage-estimated")
    assert element_text(page, "usage-estimated") == ESTIMATE_LABEL
    assert element_text(page, "cost") == "$0 (offline estimate)"
    assert element_text(page, "tokens") == str(usage["tokens_used"])

    cost = analytics_cost(api, cast["lead"])
    (row,) = [r for r in cost["by_session"] if r["session"] == session.public_id]
    assert (row["tokens_used"], row["estimated"], Decimal(row["cost_usd"])) == (usage["tokens_used"], True, 0)
    assert cost["estimated"] is True
    client.force_login(cast["lead"])
    analytics_page = client.get("/analytics/", {"organization": "acme", "since": "7d"}).content.decode()
    assert tag(analytics_page, "data-session", session.public_id)["data-estimated"] == "true"
    assert "includes estimates — offline provider, not billed" in analytics_page


def test_it_does_not_call_billed_analytics_an_estimate(api, client, cast, billed):
    cost = analytics_cost(api, cast["lead"])

    assert cost["estimated"] is False and cost["usage"]["estimated"] is False
    client.force_login(cast["lead"])
    page = client.get("/analytics/", {"organization": "acme", "since": "7d"}).content.decode()
    assert "includes estimates" not in page
    assert tag(page, "id", "usage-total")["data-cost-usd"] == cost["usage"]["cost_usd"]


@pytest.mark.parametrize(
    ("value", "estimated", "shown"),
    [
        ("0.012345", False, "$0.01"),
        ("0.4242", False, "$0.42"),
        ("0.0042", False, "$0.004"),
        ("0.00996", False, "$0.01"),
        ("0.000040", False, "<$0.001"),
        ("0.000000", False, "$0"),
        ("0.000000", True, "$0 (offline estimate)"),
        ("0.99996", False, "$1.00"),
        ("1234.567891", False, "$1,234.57"),
    ],
)
def test_it_writes_money_without_false_precision(value, estimated, shown):
    assert dollars(value, estimated) == shown


class ApiAsClient:
    """The CLI's client, answered by the real API (so the CLI reads exactly what the server sends)."""

    def __init__(self, api_client) -> None:  # noqa: ANN001
        self.api_client = api_client

    def session(self, session_id: str) -> dict:
        return self.api_client.get(f"/api/v1/sessions/{session_id}/").json()


@pytest.mark.parametrize("fixture", ["billed", "offline"])
def test_it_prints_the_usage_in_harness_status(api, cast, capsys, monkeypatch, request, fixture):
    session = request.getfixturevalue(fixture)["session"]
    usage = session_usage(api, cast["member"], session)["usage"]
    monkeypatch.setattr(cli, "_client", lambda args: ApiAsClient(api(cast["member"])))

    assert cli.main(["status", session.public_id]) == 0

    printed = capsys.readouterr().out
    line = next(line for line in printed.splitlines() if line.startswith("usage:"))
    assert f"{usage['tokens_used']:,} tokens" in line
    assert (
        f"cache read {usage['cache_read_tokens']:,}" in line and f"cache write {usage['cache_write_tokens']:,}" in line
    )
    assert dollars(usage["cost_usd"], usage["estimated"]) in line
    assert ("estimated" in line) is usage["estimated"]


def test_it_gives_the_usage_object_in_harness_status_json(api, cast, capsys, monkeypatch, billed):
    session = billed["session"]
    usage = session_usage(api, cast["member"], session)["usage"]
    monkeypatch.setattr(cli, "_client", lambda args: ApiAsClient(api(cast["member"])))

    assert cli.main(["status", session.public_id, "--json"]) == 0

    (line,) = capsys.readouterr().out.splitlines()
    printed = json.loads(line)
    assert printed["type"] == "cli.status"
    assert printed["data"]["usage"] == usage
    assert printed["data"]["runs"][0]["usage"]["tokens_used"] > 0


def test_it_describes_usage_in_the_openapi_schema(api, cast):
    response = api(None).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    schemas = json.loads(response.content)["components"]["schemas"]
    for name in ("SessionListOutput", "SessionDetailOutput", "RunOutput", "ChildSessionOutput"):
        assert "usage" in schemas[name]["properties"], name
    for name in ("UsageOutput", "RunUsageOutput", "AnalyticsUsageOutput"):
        fields = schemas[name]["properties"]
        assert {*KINDS, "tokens_used", "cost_usd", "estimated"} <= set(fields), name
        assert fields["estimated"]["type"] == "boolean"
    assert schemas["AnalyticsCostOutput"]["properties"]["by_session"]["items"]["$ref"].endswith("SessionUsageOutput")
