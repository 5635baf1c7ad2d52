"""A lead looking at a session that another session of acme writes over: each shared path's approval card says
what Approve and Reject do, links the other session and shows the path's diff; "Dismiss all conflicts" closes them
without a decision."""

from __future__ import annotations

import pytest

from sessions_app.models import ApprovalRequest
from tests.browser.conftest import shoot

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TIMEOUT = 60_000


def test_a_lead_sees_what_approve_does_the_other_session_and_the_diff(page_for, live_url, start, cast, settings):
    settings.HARNESS_OFFLINE_STEP_SECONDS = 0.4
    mine, theirs = start(user="member"), start(user="lead", intent="build a chat app with threads")
    page = page_for(cast["lead"], viewport={"width": 1280, "height": 1000})
    page.goto(f"{live_url}/development/{mine.public_id}/")

    card = page.locator("#approvals li[data-approval] .conflict").first
    card.wait_for(timeout=TIMEOUT)
    text = card.inner_text()
    assert "Approve: this session's version of" in text and "Reject:" in text
    assert card.locator(f'a[href="/development/{theirs.public_id}/"]').count() == 1
    page.wait_for_selector("#approvals .conflict details summary", timeout=TIMEOUT)
    card.locator("details summary").first.click()
    assert "@@" in card.locator("details pre").first.inner_text()
    assert ApprovalRequest.objects.filter(session=mine, status="pending").exists()
    assert not page.errors, page.errors
    shoot(page, "conflict-card-lead")

    shown = page.locator("#approvals li[data-approval]").first.get_attribute("data-approval")
    page.click("#approvals button[data-dismiss-conflicts]")
    page.locator(f'#approvals li[data-approval="{shown}"]').wait_for(state="detached", timeout=TIMEOUT)
    assert ApprovalRequest.objects.get(public_id=shown).status == "dismissed", "closed, no decision needed"
    assert not page.errors, page.errors
    page.wait_for_selector("#status.status-completed", timeout=TIMEOUT * 2)
