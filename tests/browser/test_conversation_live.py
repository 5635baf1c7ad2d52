"""Two people on one running session, each in their own browser: what the member writes in the thread
reaches the lead's page live, and so does the agent's reply to it."""

from __future__ import annotations

import pytest

from agents_app.llm import offline
from tests.browser.conftest import shoot

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TIMEOUT = 60_000
MESSAGE = "Keep the messages for thirty days"


def test_a_message_from_one_browser_gets_a_live_agent_reply_in_the_other(page_for, live_url, start, cast, request):
    # The agent is held in its second model call: the message is written while it works, and it reads
    # it at the step after the gate opens.
    gate = offline.hold(agent="requirements-analyst", step=1)
    request.addfinalizer(offline.release_all)
    session = start(agents=["requirements-analyst"])
    member = page_for(cast["member"], viewport={"width": 1280, "height": 900})
    lead = page_for(cast["lead"], viewport={"width": 390, "height": 844})
    for page in (member, lead):
        page.goto(f"{live_url}/development/{session.public_id}/")
        page.wait_for_selector("#connection.live", timeout=TIMEOUT)
    gate.wait_reached(timeout=60)

    member.fill("#feedback-text", MESSAGE)
    member.locator("#feedback-form button[type=submit]").click()

    said = lead.locator(f"#thread li:has-text('{MESSAGE}')").first
    said.wait_for(timeout=TIMEOUT)
    assert "member" in said.inner_text(), said.inner_text()
    assert lead.locator("#thread li[data-kind=reply]").count() == 0, "no agent has read it yet"

    gate.release()
    reply = lead.locator("#thread li[data-kind=reply]").first
    reply.wait_for(timeout=TIMEOUT)
    assert "Got it" in reply.inner_text(), reply.inner_text()
    assert lead.locator("#thread li[data-kind=reply]").first.evaluate("li => li.closest('#thread') !== null"), (
        "the reply is in the thread"
    )
    assert lead.evaluate("document.documentElement.scrollWidth <= 390"), lead.evaluate(
        "document.documentElement.scrollWidth"
    )
    lead.locator("#conversation-panel").scroll_into_view_if_needed()
    shoot(lead, "conversation-live-lead-390")
    member.wait_for_selector("#thread li[data-kind=reply]", timeout=TIMEOUT)
    shoot(member, "conversation-live-member-1280")
    member.wait_for_selector("#status.status-completed", timeout=TIMEOUT)
    assert not member.errors and not lead.errors, member.errors + lead.errors
