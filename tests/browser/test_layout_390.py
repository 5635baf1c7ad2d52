"""Every page at 390 px, in Chromium: nothing is wider than the phone (the page never scrolls sideways).
The session page, running and completed, is also kept at 1280 px; the completed one shows each screenshot
beside what its analysis found and the requirements derived from it."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files import File
from django.utils import timezone

from agents_app import pixels
from agents_app.models import AgentDefinition, AgentRun
from agents_app.vision import requirements_from_visual_context
from sessions_app.models import (
    DevelopmentSession,
    Requirement,
    RequirementSource,
    Screenshot,
    SessionStatus,
    TaskType,
)
from tests.browser.conftest import shoot

SAMPLE = Path(__file__).resolve().parents[2] / "harness_cli" / "samples" / "chat_app_design.png"
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TIMEOUT = 30_000
PHONE = {"viewport": {"width": 390, "height": 844}}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
WIDTH = "document.documentElement.scrollWidth"
WIDEST = """() => [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > 391 && getComputedStyle(e).position !== "fixed")
  .slice(0, 5).map((e) => `${e.tagName}#${e.id}.${e.className}`)"""  # what sticks out, for the message
LONG_INTENT = (
    "build a chat app with channels, direct messages, threads, search, read receipts and an audit trail of "
    "every_moderation_action_taken_by_an_administrator_with_a_very_long_identifier"
)


def a_session(cast, acme, status: str, slugs=("requirements-analyst", "architect", "backend")):  # noqa: ANN001, ANN201
    session = DevelopmentSession.objects.create(
        organization=acme, created_by=cast["member"], intent=LONG_INTENT, status=status,
    )  # fmt: skip
    session.started_at = session.created_at + timedelta(seconds=2)
    session.finished_at = session.created_at + timedelta(seconds=95) if status == SessionStatus.COMPLETED else None
    done = status == SessionStatus.COMPLETED
    agents = []
    for position, slug in enumerate(slugs):
        agent = AgentDefinition.objects.get(slug=slug)
        run = AgentRun.objects.create(
            session=session, agent=agent, position=position, status="completed" if done else "running",
            progress=100 if done else 40,
        )  # fmt: skip
        reason = f"Its description matches “{slug.split('-')[0]}”; {agent.phase} is usually needed for a feature"
        agents.append({"slug": slug, "name": agent.name, "depends_on": [], "reason": reason, "run": run.public_id})
    ranking = [
        {"slug": slug, "score": 0.9 - i / 10, "bm25": 2.5, "prior": 0.3, "history": 0.0, "phase": "x", "matched": []}
        for i, slug in enumerate(slugs)
    ]
    session.plan = {"agents": agents, "ranking": ranking}
    session.save(update_fields=["plan", "started_at", "finished_at"])
    return session


def with_screenshot(session, user) -> Screenshot:  # noqa: ANN001
    data = SAMPLE.read_bytes()
    analysis = pixels.analyse_image_offline(data)
    shot = Screenshot(
        session=session, original_name="design.png", content_type="image/png", size_bytes=len(data),
        width=1280, height=800, sha256=hashlib.sha256(data).hexdigest(), uploaded_by=user,
        analysis=analysis, analysed_at=timezone.now(),
    )  # fmt: skip
    with SAMPLE.open("rb") as handle:
        shot.image.save("design.png", File(handle), save=True)
    for text in requirements_from_visual_context(analysis):
        Requirement.objects.create(
            session=session, text=text, source=RequirementSource.SCREENSHOT, source_screenshot=shot
        )
    return shot


def an_epic(cast, acme) -> DevelopmentSession:  # noqa: ANN001
    epic = DevelopmentSession.objects.create(
        organization=acme, created_by=cast["member"], intent=LONG_INTENT, task_type=TaskType.EPIC,
        status=SessionStatus.RUNNING,
    )  # fmt: skip
    children = [
        DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent=text, parent=epic)
        for text in ("Design the messaging API and its authentication", "Build the web client")
    ]
    epic.plan = {
        "children": [
            {"key": f"c{i}", "session": c.public_id, "intent": c.intent, "depends_on": [], "status": "created"}
            for i, c in enumerate(children)
        ]
    }
    epic.save(update_fields=["plan"])
    return epic


PAGES = [
    "sessions", "new-session", "session-running", "session-completed", "epic", "analytics", "knowledge",
    "login", "api-docs", "admin-sessions",
]  # fmt: skip


@pytest.mark.parametrize("name", PAGES)
def test_no_page_is_wider_than_a_phone(name, page_for, browser, live_url, cast, acme):  # noqa: ANN001
    running = a_session(cast, acme, SessionStatus.RUNNING)
    completed = a_session(cast, acme, SessionStatus.COMPLETED)
    with_screenshot(completed, cast["member"])
    paths = {
        "sessions": ("member", "/development/", "table.sessions"),
        "new-session": ("member", "/development/new/", "form#new-session"),
        "session-running": ("member", f"/development/{running.public_id}/", "#connection.live"),
        "session-completed": ("member", f"/development/{completed.public_id}/", "#connection.live"),
        "epic": ("member", f"/development/{an_epic(cast, acme).public_id}/", "#children li"),
        "analytics": ("lead", "/analytics/", "main"),
        "knowledge": ("member", "/knowledge/", "main"),
        "login": (None, "/accounts/login/", "form"),
        "api-docs": ("member", "/api/docs/", ".swagger-ui .info"),
        "admin-sessions": ("admin", "/admin/sessions_app/developmentsession/", "#result_list"),
    }
    user, path, ready = paths[name]
    if user is None:
        context = browser.new_context(**PHONE)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
    else:
        page = page_for(cast[user], **PHONE)
    response = page.goto(f"{live_url}{path}")
    assert response.status == 200, f"{path}: {response.status}"
    page.wait_for_selector(ready, timeout=TIMEOUT)
    page.wait_for_load_state("networkidle")
    wide = page.evaluate(WIDEST)
    assert page.evaluate(WIDTH) <= 390, f"{path} is {page.evaluate(WIDTH)} px wide at 390: {wide}"
    shoot(page, f"layout-390-{name}")
    assert not page.errors, page.errors
    if user is None:
        context.close()


def test_the_session_page_at_1280_running_and_completed_with_each_screenshots_findings(page_for, live_url, cast, acme):  # noqa: ANN001
    running = a_session(cast, acme, SessionStatus.RUNNING)
    completed = a_session(cast, acme, SessionStatus.COMPLETED)
    shot = with_screenshot(completed, cast["member"])
    page = page_for(cast["member"], **DESKTOP)
    page.goto(f"{live_url}/development/{running.public_id}/")
    page.wait_for_selector("#connection.live", timeout=TIMEOUT)
    assert page.evaluate(WIDTH) <= 1280
    reason = page.locator('#runs li[data-agent="architect"] .run-reason')
    assert reason.inner_text().startswith("Its description matches “architect”"), "the reason is in words"
    assert reason.get_attribute("title") == "score 0.8: text match (BM25) 2.5 · x prior 0.3 · track record 0", (
        "the scores are its tooltip"
    )
    shoot(page, "session-page-running-1280")

    page.goto(f"{live_url}/development/{completed.public_id}/")
    page.wait_for_selector("#connection.live", timeout=TIMEOUT)
    item = page.locator(f'#screenshot-list li[data-screenshot="{shot.pk}"]')
    found = item.locator(".shot-found").inner_text()
    assert "Desktop screen, light theme." in found and "Layout: sidebar, header" in found, found
    derived = item.locator(".derived li").all_inner_texts()
    assert derived == requirements_from_visual_context(shot.analysis), derived
    thumb, findings = item.locator(".shot-thumb").bounding_box(), item.locator(".shot-findings").bounding_box()
    assert findings["x"] >= thumb["x"] + thumb["width"] and abs(findings["y"] - thumb["y"]) < 4, "side by side"
    swatch = item.locator(".swatch").first
    assert swatch.evaluate("s => getComputedStyle(s, '::before').backgroundColor") != "rgba(0, 0, 0, 0)"
    assert page.evaluate(WIDTH) <= 1280
    page.locator("#screenshot-list").scroll_into_view_if_needed()
    shoot(page, "session-page-completed-1280")
    assert not page.errors, page.errors


def test_a_screenshots_findings_appear_when_its_analysis_lands(page_for, live_url, cast, acme):
    from agents_app.vision import _save_analysis

    session = a_session(cast, acme, SessionStatus.RUNNING)
    shot = with_screenshot(session, cast["member"])
    Screenshot.objects.filter(pk=shot.pk).update(analysis={}, analysed_at=None)
    session.requirements.all().delete()
    page = page_for(cast["member"], **PHONE)
    page.goto(f"{live_url}/development/{session.public_id}/")
    page.wait_for_selector("#connection.live", timeout=TIMEOUT)
    item = f'#screenshot-list li[data-screenshot="{shot.pk}"]'
    assert "being analysed" in page.inner_text(item)

    _save_analysis(session.pk, shot.pk, pixels.analyse_image_offline(SAMPLE.read_bytes()))
    page.wait_for_selector(f"{item} .derived li:has-text('sidebar navigation')", timeout=TIMEOUT)
    assert "Layout: sidebar" in page.inner_text(f"{item} .shot-found")
    assert page.evaluate(WIDTH) <= 390
    assert not page.errors, page.errors
