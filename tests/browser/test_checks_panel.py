"""The Checks panel in a browser, over real sessions and the real sandbox: pending while the agents work,
a badge per check as the events stream in, each expandable to its output and findings, a finding opening
its file at its line, a re-run for collaborators (refused with the server's reason while agents work),
the repair round and "not verified" — at desktop width and on a phone."""

from __future__ import annotations

import re

import pytest
from guardian.shortcuts import assign_perm

from agents_app.llm import offline
from agents_app.models import AgentDefinition, AgentPolicy, VerificationRun
from agents_app.verification import checks
from artifacts_app.models import Artifact
from tests.browser.conftest import shoot

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TIMEOUT = 90_000
FAILING_TEST = "\n\ndef test_the_checks_panel_points_here():\n    assert 1 + 1 == 3\n"


def badges(page) -> dict[str, str]:  # noqa: ANN001
    items = page.locator("#checks li[data-tool]")
    return dict(
        zip(
            items.evaluate_all("items => items.map(i => i.dataset.tool)"),
            page.locator("#checks li[data-tool] .check-badge").all_inner_texts(),
            strict=True,
        )
    )


def no_sideways_scroll(page) -> bool:  # noqa: ANN001
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_real_session_shows_its_checks_and_a_failing_finding_opens_its_line(
    page_for, live_url, start, cast, api, request
):
    # Every agent is held at its first model call until the refused re-run has been seen: no race with the agents.
    gates = [offline.hold(agent=slug, step=1) for slug in AgentDefinition.objects.values_list("slug", flat=True)]
    request.addfinalizer(offline.release_all)
    session = start()  # "build a chat app": the offline provider's real project, checked in the sandbox
    assign_perm("sessions_app.view_developmentsession", cast["guest"], session)
    page = page_for(cast["member"], viewport={"width": 1400, "height": 1000})
    page.goto(f"{live_url}/development/{session.public_id}/")
    page.wait_for_selector("#connection.live", timeout=TIMEOUT)  # the page's script runs and streams

    # Before any check: pending, and a re-run is refused with the server's reason, shown by the button.
    assert page.get_attribute("#checks-panel", "data-status") == "pending"
    assert page.inner_text("#checks-note").startswith("pending")
    page.click("#rerun-checks")
    page.wait_for_selector("#rerun-status.error", timeout=TIMEOUT)
    assert re.search(r"still working|already (queued|running)|no files yet", page.inner_text("#rerun-status")), (
        page.inner_text("#rerun-status")
    )
    assert gates and not any(g.released for g in gates)
    offline.release_all()

    # The checks stream in: a passing badge per check, the same as the server's summary.
    page.wait_for_selector("#status.status-completed", timeout=TIMEOUT)
    page.wait_for_selector("#checks-panel[data-status=passed]", timeout=TIMEOUT)
    shown = badges(page)
    assert {"compile", "ruff", "pytest", "sql"} <= set(shown), shown
    assert all(text.endswith("✓") for text in shown.values()), shown
    tests = re.fullmatch(r"tests (\d+)/(\d+) ✓", shown["pytest"])
    assert tests and tests[1] == tests[2] and int(tests[1]) >= 6, shown["pytest"]
    latest = VerificationRun.objects.filter(session=session).latest("created_at")
    assert " · ".join(shown.values()) == latest.summary
    assert page.inner_text("#checks-status") == "passed"
    assert page.inner_text("#checks-round") == "", "the first check comes after no repair round"

    # Expanding the tests check shows its output tail.
    page.click("#checks li[data-tool=pytest] summary")
    assert f"{tests[1]} passed" in page.inner_text("#checks li[data-tool=pytest] .check-output")

    # A view-only guest sees the checks but has no button to run them.
    guest = page_for(cast["guest"])
    guest.goto(f"{live_url}/development/{session.public_id}/")
    guest.wait_for_selector("#checks-panel[data-status=passed]", timeout=TIMEOUT)
    assert guest.locator("#rerun-checks").count() == 0

    # Break a test through the API, re-run the checks from the page: the failure arrives live.
    artifact = Artifact.objects.get(session=session, path="tests/test_api.py")
    content = api(cast["member"]).get(f"/api/v1/artifacts/{artifact.public_id}/").json()["content"]
    failing_line = len((content + FAILING_TEST).splitlines())
    saved = api(cast["member"]).put(
        f"/api/v1/artifacts/{artifact.public_id}/",
        {"content": content + FAILING_TEST, "base_version": artifact.latest_version_number},
        format="json",
    )
    assert saved.status_code in (200, 201), saved.content[:300]
    page.click("#rerun-checks")
    page.wait_for_selector("#checks-panel[data-status=failed]", timeout=TIMEOUT)
    failed = badges(page)
    assert failed["pytest"] == f"tests {tests[1]}/{int(tests[1]) + 1} ✗", failed
    assert page.inner_text("#checks-status") == "failed"
    assert "re-run by member" in page.inner_text("#checks-meta")
    assert page.inner_text("#rerun-status") == "", "neither the refusal nor 'queued' outlives the report"
    assert page.locator("#checks li[data-tool=pytest] details").get_attribute("open") is not None, (
        "a check the person opened stays open when the new report arrives"
    )

    # The finding links to its file and line; clicking it opens the file there.
    link = page.locator("#checks li[data-tool=pytest] .finding-link").first
    assert link.inner_text() == f"tests/test_api.py:{failing_line}"
    link.click()
    page.wait_for_selector(f"#file-view #line-{failing_line}.hl-line", timeout=TIMEOUT)
    assert page.inner_text("#file-path").startswith(f"tests/test_api.py · v2 · line {failing_line}")
    assert "assert 1 + 1 == 3" in page.inner_text(f"#file-view #line-{failing_line}")
    assert page.locator("#file-view .hl-line").count() == 2  # the line and its number
    assert page.evaluate(
        """line => { const view = document.getElementById('file-view'), r = line.getBoundingClientRect(),
                     v = view.getBoundingClientRect(); return r.top >= v.top && r.bottom <= v.bottom; }""",
        page.locator(f"#file-view #line-{failing_line}").element_handle(),
    ), "the highlighted line is scrolled into the viewer"
    assert "checks failed" in page.inner_text("#feed")
    assert not page.errors, page.errors
    page.locator("#checks-panel").scroll_into_view_if_needed()
    shoot(page, "checks-panel")

    # On a phone: the same panel, nothing wider than the screen, and a finding still opens its line.
    phone = page_for(cast["member"], viewport={"width": 390, "height": 844})
    phone.goto(f"{live_url}/development/{session.public_id}/")
    phone.wait_for_selector("#checks-panel[data-status=failed]", timeout=TIMEOUT)
    phone.click("#checks li[data-tool=pytest] summary")
    phone.locator("#checks li[data-tool=pytest] .finding-link").first.click()
    phone.wait_for_selector(f"#file-view #line-{failing_line}.hl-line", timeout=TIMEOUT)
    assert no_sideways_scroll(phone), "the page scrolls sideways on a phone"
    assert not phone.errors, phone.errors
    shoot(phone, "checks-panel-phone")

    # The sessions list says the same.
    page.goto(f"{live_url}/development/")
    row = page.locator("table.sessions tr", has_text=session.public_id)
    assert row.locator("[data-checks]").get_attribute("data-checks") == "failed"
    newest = VerificationRun.objects.filter(session=session).latest("created_at")
    assert newest.status == "failed" and row.locator(".checks-summary").inner_text() == newest.summary


def test_a_repair_round_and_a_missing_sandbox_are_said_plainly(
    page_for, live_url, start, cast, acme, calc_project, monkeypatch
):
    AgentPolicy.objects.update_or_create(
        organization=acme, defaults={"verification": "report", "verification_repair_rounds": 2}
    )
    repaired = start(agents=["backend"])
    page = page_for(cast["member"], viewport={"width": 390, "height": 844})
    page.goto(f"{live_url}/development/{repaired.public_id}/")

    page.wait_for_selector("#status.status-completed", timeout=TIMEOUT)
    page.wait_for_selector("#checks-panel[data-status=passed]", timeout=TIMEOUT)
    assert page.inner_text("#checks-round") == "after 1 repair round"
    assert badges(page)["pytest"] == "tests 1/1 ✓"
    feed = page.inner_text("#feed")
    assert "checks failed" in feed and "checks passed" in feed, feed
    assert not page.errors, page.errors

    monkeypatch.setattr(checks, "sandbox_status", lambda: (False, "user namespaces are disabled on this host"))
    unverified = start(agents=["backend"])
    page.goto(f"{live_url}/development/{unverified.public_id}/")
    page.wait_for_selector("#checks-panel[data-status=not_verified]", timeout=TIMEOUT)
    assert page.inner_text("#checks-status") == "not verified"
    assert page.inner_text("#checks-note") == "not verified — user namespaces are disabled on this host"
    assert page.locator("#checks li[data-tool]").count() == 0
    assert no_sideways_scroll(page)
    page.goto(f"{live_url}/development/")
    row = page.locator("table.sessions tr", has_text=unverified.public_id)
    assert row.locator("[data-checks]").get_attribute("data-checks") == "not_verified"
