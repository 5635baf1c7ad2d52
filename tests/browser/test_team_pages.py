"""Team intelligence in a browser: an epic's page follows its children live; the analytics page charts
real history (sessions run on the worker, not invented rows); the knowledge page searches and saves."""

from __future__ import annotations

import pytest

from tests.browser.conftest import shoot
from tests.support import wait_for_status

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TIMEOUT = 90_000


def test_an_epics_page_shows_its_children_live_until_it_completes(page_for, live_url, cast):
    page = page_for(cast["lead"])
    page.goto(f"{live_url}/development/new/")
    page.fill("#intent", "build a team chat product")
    page.fill("#req-new", "Users can create channels")
    page.select_option("#task-type", "epic")
    page.click("form#new-session button.primary")
    page.wait_for_url("**/development/dev_*/")

    page.wait_for_selector("#children li", timeout=TIMEOUT)
    page.wait_for_selector("#status.status-completed", timeout=TIMEOUT)

    children = page.locator("#children li")
    assert children.count() == 3
    assert page.locator("#children li[data-status=completed]").count() == 3
    assert page.locator("#children-graph svg g.node").count() == 3
    assert "split into 3 child sessions" in page.inner_text("#feed")
    assert "NaN" not in page.inner_text("header.session-head")
    assert int(page.inner_text("#tokens")) > 0, "the header counts what the children spent"
    assert page.locator("[data-session-action]:visible").count() == 0, "nothing to pause or cancel once it is done"
    assert not page.errors, page.errors
    shoot(page, "epic-page-completed")
    children.first.locator("a").click()
    page.wait_for_selector("#parent-link")
    assert page.locator("#status.status-completed").count() == 1


def test_the_analytics_page_charts_real_sessions(page_for, live_url, start, cast):
    for intent in ("build a chat app", "build a todo api", "write docs for the api"):
        assert wait_for_status(start(intent=intent), "completed", "failed").status == "completed"

    page = page_for(cast["lead"])
    page.goto(f"{live_url}/analytics/?organization=acme&min_support=1")

    assert page.inner_text('[data-stat="sessions"]') == "3"
    assert page.locator('svg[data-chart="combinations"] g.row').count() >= 1
    assert page.locator('svg[data-chart="completion-time"] g.row').count() == 1  # all three are features
    assert page.locator('svg[data-chart="tokens"] g.row').count() >= 3
    assert page.locator('svg[data-chart="people"] g.row').count() == 1
    assert not page.errors, page.errors
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "analytics-page-phone")


def test_knowledge_is_written_searched_and_used_by_the_next_session(page_for, live_url, start, cast):
    page = page_for(cast["member"])
    page.goto(f"{live_url}/knowledge/?organization=acme")
    page.fill("#doc-title", "Realtime chat conventions")
    page.fill("#doc-body", "Chat uses websockets through Django Channels with a Redis layer.")
    page.fill("#doc-tags", "chat, realtime")
    page.click("text=Save")
    page.wait_for_selector(".messages li")
    page.fill("input[name=q]", "websockets channels")
    page.click("button:has-text('Search')")

    assert page.locator("#knowledge-results li[data-document]").count() == 1
    session = wait_for_status(start(intent="build a realtime chat"), "completed", "failed")
    page.goto(f"{live_url}/development/{session.public_id}/")
    page.wait_for_selector("#feed li", timeout=TIMEOUT)
    assert "knowledge consulted for selection: Realtime chat conventions" in page.inner_text("#feed")
    page.click("#save-knowledge")
    page.wait_for_selector("#action-status:has-text('sent')")
    page.goto(f"{live_url}/knowledge/?organization=acme")
    assert page.locator("#knowledge-results li[data-document]").count() == 2
    assert not page.errors, page.errors
    shoot(page, "knowledge-page")
