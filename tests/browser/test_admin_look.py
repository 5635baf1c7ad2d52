"""The governance console in Chromium at 1280 px: Harness branding from a linked stylesheet (strict CSP, no inline
style), and the changelists of sessions, runs, policies and audit entries show every cell whole — nothing clipped,
no table wider than the page."""

from __future__ import annotations

import pytest

from agents_app.services.governance import policy_update
from sessions_app.models import ApprovalRequest
from tests.browser.conftest import shoot
from tests.support import wait_for_status

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHANGELISTS = {
    "sessions": "/admin/sessions_app/developmentsession/",
    "runs": "/admin/agents_app/agentrun/",
    "policies": "/admin/agents_app/agentpolicy/",
    "audit": "/admin/sessions_app/auditentry/",
    "approvals": "/admin/sessions_app/approvalrequest/",
    "artifacts": "/admin/artifacts_app/artifact/",
}

# Cells whose content is wider than the cell (cut off or hidden), and how far the table overflows its container.
CLIPPED = """() => {
  const cells = [...document.querySelectorAll("#result_list th, #result_list td")];
  const clipped = cells.filter((c) => c.scrollWidth > c.clientWidth + 1).map((c) => `${c.className}: ${c.innerText}`);
  const table = document.querySelector("#result_list");
  if (!table) return {clipped: [], rows: 0, overflow: 0, pageOverflow: 0};
  const box = document.querySelector("#changelist .results");
  return {clipped, rows: document.querySelectorAll("#result_list tbody tr").length,
          overflow: table.getBoundingClientRect().right - box.getBoundingClientRect().right,
          pageOverflow: document.documentElement.scrollWidth - document.documentElement.clientWidth};
}"""
LINKED = """() => [...document.styleSheets].some((s) => (s.href || "").endsWith("/static/harness/admin.css")
  && s.cssRules.length > 0)"""


def test_it_shows_the_governance_console_in_harness_colours_with_no_clipped_column(
    page_for, live_url, start, cast, acme
) -> None:  # noqa: ANN001
    policy_update(actor=cast["admin"], organization=acme, max_parallel_agents=3)
    intent = "build a chat app with channels, direct messages, search and an audit trail for every moderation action"
    session = wait_for_status(start(intent=intent, agents=["requirements-analyst", "architect"]), "completed")
    assert session.status == "completed"
    ApprovalRequest.objects.create(
        session=session, run=session.runs.first(), action="write_file", summary="architect wants to write a long path"
    )

    page = page_for(cast["admin"], viewport={"width": 1280, "height": 900})
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    problems = []
    for name, path in CHANGELISTS.items():
        response = page.goto(f"{live_url}{path}")
        assert response.status == 200, f"{path}: {response.status}"
        assert page.evaluate(LINKED), f"{path}: admin.css is not applied"
        assert "Harness" in page.inner_text("#site-name") and "Django administration" not in page.content()
        table = page.inner_text("#result_list") if page.locator("#result_list").count() else ""
        if intent[:40] in table:  # an intent is shown whole, never cut at a fixed length
            problems += [] if intent in table else [f"{name}: the intent is cut short"]
        found = page.evaluate(CLIPPED)
        assert found["rows"] >= 1, f"{name}: the changelist is empty, nothing was checked"
        problems += [f"{name}: clipped {cell}" for cell in found["clipped"]]
        if found["overflow"] > 1 or found["pageOverflow"] > 1:
            problems.append(f"{name}: the table overflows by {found['overflow']}px (page {found['pageOverflow']}px)")
        shoot(page, f"admin-{name}-1280")
    assert page.evaluate("getComputedStyle(document.querySelector('#header')).backgroundColor") == "rgb(13, 17, 23)"
    assert not violations, violations
    assert not problems, "\n".join(problems)
