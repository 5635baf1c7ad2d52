"""The Content-Security-Policy in Chromium (issue 14.10): the pages work under it with no violation reported —
including the session page's websocket (connect-src 'self' covers the same host's ws:) — and /api/docs/ renders
the whole API from our own static files with every other host unreachable."""

from __future__ import annotations

import pytest

from tests.browser.conftest import shoot

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Playwright's init scripts run outside the page's CSP; this one records every violation the page reports.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${where})`);
});
"""


def _watch(page, live_url: str) -> dict:  # noqa: ANN001
    """Record CSP reports and console errors, and abort any request to another host."""
    seen: dict[str, list[str]] = {"console": [], "offsite": []}
    page.add_init_script(RECORD_VIOLATIONS)
    page.on("console", lambda m: seen["console"].append(m.text) if m.type in ("error", "warning") else None)

    def route(route) -> None:  # noqa: ANN001
        url = route.request.url
        if url.startswith((live_url, live_url.replace("http", "ws", 1), "data:", "blob:")):
            route.continue_()
        else:
            seen["offsite"].append(url)
            route.abort()

    page.route("**/*", route)
    return seen


def _violations(page, seen: dict) -> list[str]:  # noqa: ANN001
    reported = page.evaluate("window.__cspViolations || []")
    console = [text for text in seen["console"] if "Content Security Policy" in text or "Refused to" in text]
    return reported + console


def test_it_renders_the_api_docs_offline_under_the_policy(page_for, live_url, cast) -> None:  # noqa: ANN001
    page = page_for(cast["member"])
    seen = _watch(page, live_url)
    page.goto(f"{live_url}/api/docs/")
    page.wait_for_selector(".opblock", timeout=30_000)
    operations = page.locator(".opblock")
    assert operations.count() >= 30, "every operation of /api/schema/ is listed"
    assert page.locator(".opblock-summary-path", has_text="/api/v1/sessions/{session_id}/").count() >= 1
    operations.first.locator(".opblock-summary").click()
    page.wait_for_selector(".opblock.is-open .responses-wrapper")
    assert "401" in page.inner_text(".opblock.is-open .responses-wrapper"), "error responses are documented"
    assert not seen["offsite"], f"the docs page reached for another host: {seen['offsite']}"
    assert not _violations(page, seen)
    assert not page.errors, page.errors
    shoot(page, "api-docs-offline")


def test_it_reports_no_violation_on_any_page(page_for, browser, live_url, cast, acme) -> None:  # noqa: ANN001
    from sessions_app.models import DevelopmentSession

    session = DevelopmentSession.objects.create(
        organization=acme, created_by=cast["member"], intent="build a chat app", status="running", plan={"agents": []}
    )
    pages = {
        "member": ["/development/", "/development/new/", f"/development/{session.public_id}/", "/analytics/",
                   "/knowledge/", "/api/docs/"],
        "admin": ["/admin/", "/admin/sessions_app/developmentsession/"],
    }  # fmt: skip
    problems = []
    for user, paths in pages.items():
        page = page_for(cast[user])
        seen = _watch(page, live_url)
        for path in paths:
            page.goto(f"{live_url}{path}")
            page.wait_for_load_state("networkidle")
            if path.startswith(f"/development/{session.public_id}"):
                page.wait_for_selector("#connection.live", timeout=15_000)  # the websocket got through
            problems += [f"{path}: {v}" for v in _violations(page, seen)]
            seen["console"].clear()
        problems += [f"{user}: offsite {url}" for url in seen["offsite"]]
        problems += [f"{user}: {error}" for error in page.errors]

    anonymous = browser.new_context()
    try:
        page = anonymous.new_page()
        seen = _watch(page, live_url)
        page.goto(f"{live_url}/accounts/login/")
        page.wait_for_load_state("networkidle")
        problems += [f"/accounts/login/: {v}" for v in _violations(page, seen)]
    finally:
        anonymous.close()
    assert not problems, "\n".join(problems)


def test_it_blocks_an_injected_inline_script(page_for, live_url, cast) -> None:  # noqa: ANN001
    """The policy is enforced, not only sent: inline code added to a page does not run."""
    page = page_for(cast["member"])
    seen = _watch(page, live_url)
    page.goto(f"{live_url}/development/")
    page.evaluate(
        """() => { const s = document.createElement("script"); s.textContent = "window.__pwned = true";
                   document.body.append(s); }"""
    )
    page.wait_for_function("window.__cspViolations.length > 0")
    assert page.evaluate("window.__pwned === undefined")
    assert any("script-src" in v for v in _violations(page, seen))
