"""Analytics over a generated history: the database's aggregates against the same facts counted in Python."""

from __future__ import annotations

import statistics
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents_app.selection import history_adjustments
from analytics_app.selectors import period_for, team_analytics
from tests.analytics.history import CALL_COST, COMBOS, SIGNATURE, generate_history


@pytest.fixture
def history(cast, acme):  # noqa: ANN001, ANN201
    return generate_history(acme, [cast["member"], cast["member2"], cast["lead"]], cast["lead"], 120)


def analytics(api, user, **params):  # noqa: ANN001, ANN003, ANN201
    response = api(user).get("/api/v1/analytics/", {"organization": "acme", **params})
    assert response.status_code == 200, response.content
    return response.json()


def test_combinations_rank_by_success_with_minimum_support(api, cast, history):
    data = analytics(api, cast["lead"], min_support=5)

    expected = {tuple(sorted(combo)): round(done / finished, 3) for combo, (done, finished) in history.combos.items()}
    got = {tuple(row["agents"]): row["success_rate"] for row in data["combinations"]}
    assert got == expected
    rates = [row["success_rate"] for row in data["combinations"]]
    assert rates == sorted(rates, reverse=True)
    assert sum(row["sessions"] for row in data["combinations"]) == 120

    too_few = analytics(api, cast["lead"], min_support=1000)
    assert too_few["combinations"] == []


def test_completion_time_by_task_type_has_mean_and_median(api, cast, history):
    data = analytics(api, cast["lead"])

    by_type = {row["task_type"]: row for row in data["completion_time"]}
    assert set(by_type) == set(history.durations)
    for task_type, durations in history.durations.items():
        assert by_type[task_type]["sessions"] == len(durations)
        assert by_type[task_type]["median_seconds"] == pytest.approx(statistics.median(durations), abs=0.2)
        assert by_type[task_type]["avg_seconds"] == pytest.approx(statistics.mean(durations), abs=0.2)


def test_failure_patterns_say_what_resolved_them(api, cast, history):
    data = analytics(api, cast["lead"])

    got = {(row["category"], row["agent"]): row["count"] for row in data["failures"]}
    assert got == dict(history.failures)
    assert {row["signature"] for row in data["failures"]} == {SIGNATURE}
    totals = {"retry": 0, "feedback": 0, "rejected_approval": 0, "unresolved": 0}
    for row in data["failures"]:
        for how, n in row["resolved_by"].items():
            totals[how] += n
        totals["unresolved"] += row["unresolved"]
        assert row["resolved"] + row["unresolved"] == row["count"]
    assert totals == {k: history.resolved_by[k] for k in totals}


def test_productivity_and_cost(api, cast, history):
    data = analytics(api, cast["lead"])

    people = {p["username"]: p for p in data["productivity"]["people"]}
    assert {name: p["sessions"] for name, p in people.items()} == dict(history.sessions_by_person)
    assert people["lead"]["approvals_decided"] == len(history.turnarounds)
    assert data["productivity"]["approvals"]["avg_turnaround_seconds"] == pytest.approx(
        statistics.mean(history.turnarounds), abs=0.5
    )
    by_agent = {row["agent"]: row["tokens_used"] for row in data["cost"]["by_agent"]}
    assert by_agent == dict(history.tokens_by_agent)
    assert data["cost"]["total_tokens"] == data["cost"]["usage"]["tokens_used"] == sum(history.tokens_by_agent.values())
    calls = sum(row["calls"] for row in data["cost"]["by_agent"])
    assert Decimal(data["cost"]["total_cost_usd"]) == CALL_COST * calls
    assert sum(Decimal(row["cost_usd"]) for row in data["cost"]["by_agent"]) == CALL_COST * calls


def test_a_member_sees_the_team_but_only_their_own_row(api, cast, history):
    data = analytics(api, cast["member"])

    assert [p["username"] for p in data["productivity"]["people"]] == ["member"]
    assert data["productivity"]["scope"] == "you"
    assert data["totals"]["sessions"] == 120


def test_the_number_of_queries_does_not_grow_with_history(cast, acme):
    def count_queries() -> int:
        period = period_for(user=cast["lead"], organization="acme", since="30d", min_support="1")
        with CaptureQueriesContext(connection) as queries:
            team_analytics(period)
        return len(queries)

    generate_history(acme, [cast["member"]], cast["lead"], 10, seed=1)
    small = count_queries()
    generate_history(acme, [cast["member"], cast["lead"]], cast["lead"], 400, seed=2)
    assert count_queries() == small


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"organization": "acme", "since": "last tuesday"}, 400, "since"),
        ({"organization": "acme", "since": "2999-01-01"}, 400, "since"),
        ({"organization": "acme", "min_support": "0"}, 400, "min_support"),
        ({"organization": "acme", "min_support": "many"}, 400, "min_support"),
        ({}, 400, "organization"),
        ({"organization": "globex"}, 404, None),
    ],
)
def test_bad_parameters_say_what_to_send(api, cast, params, status, field):
    response = api(cast["member"]).get("/api/v1/analytics/", params)

    assert response.status_code == status
    assert response.json()["detail"]
    if field:
        assert field in response.json()["errors"]


def test_anonymous_and_outsiders_see_nothing(api, cast, history):
    assert api(None).get("/api/v1/analytics/", {"organization": "acme"}).status_code == 401
    assert api(cast["outsider"]).get("/api/v1/analytics/", {"organization": "acme"}).status_code == 404
    assert api(cast["outsider"]).get("/analytics/?organization=acme").status_code in (302, 404)


def test_the_page_draws_every_chart(client, cast, history):
    client.force_login(cast["lead"])

    page = client.get("/analytics/", {"organization": "acme", "since": "30d"}).content.decode()

    for chart in ("combinations", "completion-time", "failures", "people", "tokens"):
        assert f'data-chart="{chart}"' in page
    assert page.count('class="seg ok"') >= len(COMBOS)


def test_history_moves_an_agent_up_or_down_only_with_enough_evidence():
    history = [
        {"agents": ["backend", "reviewer"], "sessions": 6, "success_rate": 1.0},
        {"agents": ["backend", "test-engineer"], "sessions": 6, "success_rate": 0.0},
        {"agents": ["docs-writer"], "sessions": 1, "success_rate": 1.0},
    ]

    adjustments = history_adjustments(history)

    assert adjustments["reviewer"] > adjustments["backend"] > adjustments["test-engineer"]
    assert adjustments["reviewer"] > 0 > adjustments["test-engineer"]
    assert "docs-writer" not in adjustments
    assert history_adjustments([]) == {}
