"""The latest checks of each session, where people look for them: the session list (API and page), at a
constant number of queries, and `harness status` and the terminal's lines."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from agents_app.models import VerificationRun
from harness_cli import main as cli
from harness_cli.display import checks_line, describe
from sessions_app.models import DevelopmentSession
from tests.api.test_query_counts import queries

PASSED = "compile ✓ · lint ✓ · tests 24/24 ✓ · sql ✓ · js ✓"
FAILED = "compile ✓ · lint 2 ✗ · tests 10/12 ✗"
NO_SANDBOX = "not verified: bubblewrap cannot create namespaces here"


def check(session, status: str, summary: str = "", *, minutes_ago: int = 0, round_: int = 0) -> VerificationRun:  # noqa: ANN001
    made = VerificationRun.objects.create(
        session=session, status=status, summary=summary, round=round_, queued_at=timezone.now()
    )
    # created_at is auto_now_add: age it afterwards so "latest" is unambiguous
    VerificationRun.objects.filter(pk=made.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
    return made


@pytest.fixture
def checked(cast, acme):  # noqa: ANN001, ANN201
    """Five sessions: passed, failed after an earlier pass, not verified, queued, and never checked."""
    sessions = {
        name: DevelopmentSession.objects.create(
            organization=acme, created_by=cast["member"], intent=f"session {name}", status="completed"
        )
        for name in ("passed", "failed", "not_verified", "queued", "none")
    }
    check(sessions["passed"], "passed", PASSED)
    check(sessions["failed"], "passed", PASSED, minutes_ago=10)  # an older pass does not hide the newer failure
    check(sessions["failed"], "failed", FAILED, minutes_ago=1, round_=1)
    check(sessions["not_verified"], "not_verified", NO_SANDBOX)
    check(sessions["queued"], "queued")
    return sessions


def test_the_session_list_carries_each_sessions_latest_checks(api, cast, checked):
    response = api(cast["member"]).get("/api/v1/sessions/?page_size=50")

    assert response.status_code == 200, response.content[:300]
    by_intent = {row["intent"]: row["verification"] for row in response.json()["results"]}
    assert by_intent == {
        "session passed": {"status": "passed", "summary": PASSED},
        "session failed": {"status": "failed", "summary": FAILED},
        "session not_verified": {"status": "not_verified", "summary": NO_SANDBOX},
        "session queued": {"status": "pending", "summary": ""},
        "session none": {"status": "pending", "summary": ""},
    }


def test_the_list_agrees_with_each_sessions_detail(api, cast, checked):
    client = api(cast["member"])
    rows = client.get("/api/v1/sessions/?page_size=50").json()["results"]

    for row in rows:
        detail = client.get(f"/api/v1/sessions/{row['id']}/").json()["verification"]
        assert row["verification"] == {"status": detail["status"], "summary": detail["summary"]}, row["intent"]


def test_the_list_costs_the_same_queries_at_10_and_at_1000_checked_sessions(api, cast, acme):
    client = api(cast["lead"])
    counts = []
    for n in (10, 1000):
        sessions = DevelopmentSession.objects.bulk_create(
            DevelopmentSession(organization=acme, created_by=cast["member"], intent=f"s{n}-{i}") for i in range(n)
        )
        VerificationRun.objects.bulk_create(
            VerificationRun(session=s, status=("passed", "failed")[i % 2], summary=f"tests {i}/{i} ✓")
            for i, s in enumerate(sessions)
        )
        counts.append(queries(client, "/api/v1/sessions/?page_size=200"))
    assert counts[0] == counts[1], f"{counts[0]} queries at 10 sessions, {counts[1]} at 1,000"
    rows = client.get("/api/v1/sessions/?page_size=200").json()["results"]
    assert {row["verification"]["status"] for row in rows} == {"passed", "failed"}


def test_the_sessions_page_shows_a_badge_per_session_at_constant_queries(client, cast, acme, checked):
    client.force_login(cast["member"])

    page = client.get("/development/").content.decode()

    for status, badge in [("passed", "✓ verified"), ("failed", "✗ checks failed"), ("not_verified", "not verified")]:
        assert f'data-checks="{status}"' in page and badge in page, status
    assert FAILED in page, "what failed is written under the badge"
    assert 'data-checks="pending"' in page and 'data-checks="none"' in page

    before = queries(client, "/development/")
    DevelopmentSession.objects.bulk_create(
        DevelopmentSession(organization=acme, created_by=cast["member"], intent=f"more {i}") for i in range(20)
    )
    for session in DevelopmentSession.objects.filter(intent__startswith="more "):
        check(session, "failed", FAILED)
    assert queries(client, "/development/") == before


class ApiAsClient:
    """The CLI's client answered by the real API."""

    def __init__(self, api_client) -> None:  # noqa: ANN001
        self.api_client = api_client

    def session(self, session_id: str) -> dict:
        return self.api_client.get(f"/api/v1/sessions/{session_id}/").json()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("passed", f"checks: {PASSED} — passed"),
        ("failed", f"checks: {FAILED} — failed (after 1 repair round)"),
        ("not_verified", "checks: not verified — bubblewrap cannot create namespaces here"),
        ("queued", "checks: queued"),
        ("none", "checks: pending (they run when the agents finish)"),
    ],
)
def test_harness_status_prints_the_checks_line(api, cast, capsys, monkeypatch, checked, name, expected):
    monkeypatch.setattr(cli, "_client", lambda args: ApiAsClient(api(cast["member"])))

    assert cli.main(["status", checked[name].public_id]) == 0

    printed = capsys.readouterr().out.splitlines()
    assert expected in printed, printed


def test_harness_status_json_carries_the_checks(api, cast, capsys, monkeypatch, checked):
    monkeypatch.setattr(cli, "_client", lambda args: ApiAsClient(api(cast["member"])))

    assert cli.main(["status", checked["failed"].public_id, "--json"]) == 0

    (line,) = capsys.readouterr().out.splitlines()
    printed = json.loads(line)
    assert printed["data"]["verification"]["status"] == "failed"
    assert printed["data"]["verification"]["summary"] == FAILED
    assert printed["checks"] == f"checks: {FAILED} — failed (after 1 repair round)"


def event(type_: str, **data) -> dict:  # noqa: ANN003
    return {"seq": 9, "type": type_, "actor": {"kind": "system", "id": None, "name": "Harness"}, "data": data}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            event("verification.queued", verification="ver_x", round=1, files=17),
            "checks queued over 17 files (repair round 1)",
        ),
        (
            event(
                "verification.check",
                tool="ruff",
                label="lint",
                status="failed",
                counts={"errors": 1, "warnings": 1},
                findings=[
                    {
                        "path": "app/api.py",
                        "line": 63,
                        "code": "E501",
                        "message": "Line too long",
                        "severity": "warning",
                    },
                    {"path": "tests/test_api.py", "line": 5, "code": "F401", "message": "`os` imported but unused"},
                ],
            ),
            "check lint 1 ✗ — tests/test_api.py:5 F401 `os` imported but unused (+1 more)",
        ),
        (
            event(
                "verification.check",
                tool="pytest",
                label="tests",
                status="failed",
                counts={"tests": 12, "passed": 10, "failed": 2},
                findings=[{"path": "tests/test_api.py", "line": 233, "code": "failed", "message": "assert 2 == 3"}],
            ),
            "check tests 10/12 ✗ — tests/test_api.py:233 assert 2 == 3",
        ),
        (
            event(
                "verification.check", tool="pytest", label="tests", status="timeout", exit_code=137, duration_ms=60000
            ),
            "check tests timeout (exit 137, after 60.0 s)",
        ),
        (
            event("verification.completed", status="passed", passed=True, summary=PASSED, round=0, reason=""),
            f"checks: {PASSED} — passed",
        ),
        (
            event("verification.completed", status="not_verified", passed=False, summary=NO_SANDBOX, reason="no bwrap"),
            "checks: not verified — no bwrap",
        ),
    ],
)
def test_the_terminal_has_a_readable_line_for_each_checks_event(payload, expected):
    assert describe(payload) == expected


def test_a_status_without_checks_from_an_older_server_still_prints():
    assert checks_line(None).startswith("checks: —")
