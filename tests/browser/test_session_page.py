"""People in browsers: start a session with a screenshot and watch it live, steer an agent, a member
and a lead seeing each other's actions, and a dropped websocket that loses nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents_app.services.governance import policy_update
from sessions_app.models import DevelopmentSession
from tests.browser.conftest import shoot

SAMPLE = Path(__file__).resolve().parents[2] / "harness_cli" / "samples" / "chat_app_design.png"
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TIMEOUT = 60_000


def feed_seqs(page) -> list[int]:  # noqa: ANN001
    return [int(s) for s in page.locator("#feed li").evaluate_all("items => items.map(i => i.dataset.seq)")]


BOTH_WATCHING = """names => {
  const shown = document.querySelector("#watchers").textContent.split(",").map((n) => n.trim());
  return names.every((n) => shown.includes(n));
}"""


def watching(page) -> set[str]:  # noqa: ANN001
    return {name.strip() for name in page.inner_text("#watchers").split(",")}


def test_a_member_starts_a_session_with_a_screenshot_and_watches_it_complete(page_for, live_url, cast):
    page = page_for(cast["member"])
    page.goto(f"{live_url}/development/new/")
    page.fill("#intent", "build a chat app")
    page.set_input_files("#screenshots", str(SAMPLE))
    assert page.locator("#previews img").count() == 1
    page.click("form#new-session button.primary")

    page.wait_for_url("**/development/dev_*/")
    page.wait_for_selector("#status.status-completed", timeout=TIMEOUT)
    page.locator("#files button").first.click()
    page.wait_for_selector("#file-view table")

    assert page.inner_text("#connection") == "live"
    assert "screenshot" in page.inner_text("#requirements")
    assert page.locator("#runs li[data-status=completed]").count() == page.locator("#runs li").count() >= 3
    assert page.locator("#graph svg g.node").count() == page.locator("#runs li").count()
    seqs = feed_seqs(page)
    assert sorted(seqs) == sorted(set(seqs))
    assert page.locator("[data-session-action]:visible").count() == 0, "a completed session offers no controls"
    assert page.locator("#feedback-form").is_hidden(), "no agent is left to read feedback"
    assert not page.errors, page.errors
    shoot(page, "session-page-completed")


def test_pausing_and_resuming_one_agent(page_for, live_url, start, cast, settings):
    # A pause asked for during an agent's last step comes too late (the agent finishes): slow steps leave the
    # page time to load and click first, even on a loaded machine (0.6 s failed once in CI under load).
    settings.HARNESS_OFFLINE_STEP_SECONDS = 1.2
    session = start(agents=["requirements-analyst", "architect"], execution_strategy="sequential")
    page = page_for(cast["member"])
    page.goto(f"{live_url}/development/{session.public_id}/")
    run = page.locator('#runs li[data-agent="requirements-analyst"]')
    run.locator("button[data-run-action=pause]").click(timeout=TIMEOUT)

    page.wait_for_selector('#runs li[data-agent="requirements-analyst"][data-status=paused]', timeout=TIMEOUT)
    run.locator("button[data-run-action=resume]").click()

    page.wait_for_selector("#status.status-completed", timeout=TIMEOUT)
    feed = page.inner_text("#feed")
    assert "requirements-analyst paused" in feed and "requirements-analyst resumed by member" in feed


def test_a_member_and_a_lead_see_each_other_and_the_lead_approves(page_for, live_url, start, cast, acme, settings):
    settings.HARNESS_OFFLINE_STEP_SECONDS = 0.3
    policy_update(actor=cast["admin"], organization=acme, approval_triggers=["any_write"])
    session = start(agents=["requirements-analyst"])
    member = page_for(cast["member"])
    lead = page_for(cast["lead"], viewport={"width": 390, "height": 844})  # on a phone
    member.goto(f"{live_url}/development/{session.public_id}/")
    lead.goto(f"{live_url}/development/{session.public_id}/")
    for page in (member, lead):  # each sees the other, not only itself
        page.wait_for_function(BOTH_WATCHING, arg=["member", "lead"], timeout=TIMEOUT)
        assert watching(page) >= {"member", "lead"}, watching(page)

    member.wait_for_selector("#approvals li[data-approval]", timeout=TIMEOUT)
    assert "waiting for a lead" in member.inner_text("#approvals")
    assert member.locator("#approvals button").count() == 0  # members cannot decide: no button
    lead.fill("#feedback-text", "Keep the stories short")
    lead.click("#feedback-form button")
    member.wait_for_selector("#feed li:has-text('Keep the stories short')", timeout=TIMEOUT)
    lead.locator("#approvals li[data-approval] button.primary").first.click()

    member.wait_for_selector("#feed li:has-text('approved')", timeout=TIMEOUT)
    for _ in range(5):  # further writes ask again; the lead keeps approving until it completes
        if DevelopmentSession.objects.get(pk=session.pk).status == "completed":
            break
        button = lead.locator("#approvals li[data-approval] button.primary").first
        if button.count():
            button.click()
        lead.wait_for_timeout(300)
    member.wait_for_selector("#status.status-completed", timeout=TIMEOUT)
    shoot(lead, "session-page-phone-lead")


def test_a_dropped_websocket_reconnects_and_shows_every_event_once(page_for, live_url, start, cast, settings):
    settings.HARNESS_OFFLINE_STEP_SECONDS = 0.3
    session = start(agents=["requirements-analyst", "architect", "docs-writer"], execution_strategy="sequential")
    page = page_for(cast["member"])
    page.goto(f"{live_url}/development/{session.public_id}/")
    page.wait_for_selector("#connection.live")

    page.evaluate("window.harnessStream.socket.close()")
    page.wait_for_selector("#connection.reconnecting, #connection.connecting", timeout=5_000)
    page.wait_for_selector("#status.status-completed", timeout=TIMEOUT)

    session.refresh_from_db()
    shown = feed_seqs(page)
    assert len(shown) == len(set(shown)), "an event was shown twice"
    assert max(shown) == session.last_event_seq
    assert page.inner_text("#connection") == "live"
