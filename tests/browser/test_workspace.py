"""The session page as a workspace, in Chromium: the file tree with who changed what, the first file open,
diffs unified and side by side, the Changes view filtered by agent or person, the screenshots (served only
to those who see the session), sharing from the page, the transcript drawer, and nothing wider than a phone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.core.files import File
from django.urls import NoReverseMatch, reverse
from guardian.shortcuts import assign_perm

from agents_app.models import AgentDefinition, AgentRun, AgentStep
from artifacts_app.services import artifact_write
from sessions_app.access import session_access
from sessions_app.events import Actor
from sessions_app.models import DevelopmentSession, Screenshot
from tests.browser.conftest import shoot

SAMPLE = Path(__file__).resolve().parents[2] / "harness_cli" / "samples" / "chat_app_design.png"
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TIMEOUT = 30_000
LONG_LINE = "x = '" + "a very long line that must scroll inside its own box " * 8 + "'\n"


def by_agent(session, run, path: str, content: str, step: int | None = None) -> None:  # noqa: ANN001
    actor = Actor.for_agent(run.agent.slug)
    artifact_write(
        session=session, path=path, content=content, actor=actor, base_number=None, author_run=run, author_step=step
    )


def write_call(number: int, content: str) -> dict:
    outcome = "created" if number == 1 else "updated"
    return {
        "id": f"t{number}", "name": "write_file", "arguments": {"path": "app/api.py", "content": content},
        "result": f"ok: app/api.py is now v{number} ({outcome})",
        "is_error": False, "refused": False, "not_run": False, "truncated": False,
    }  # fmt: skip


@pytest.fixture
def workspace(cast, acme):  # noqa: ANN001, ANN201
    """A finished session: backend wrote app/api.py twice, frontend wrote web/app.js and member edited it,
    member wrote README.md; one uploaded screenshot."""
    session = DevelopmentSession.objects.create(
        organization=acme, created_by=cast["member"], intent="build a chat app", status="completed"
    )
    runs = {}
    for position, slug in enumerate(["backend", "frontend"]):
        agent = AgentDefinition.objects.get(slug=slug)
        runs[slug] = AgentRun.objects.create(
            session=session, agent=agent, position=position, status="completed", progress=100
        )
    session.plan = {
        "agents": [
            {"slug": s, "name": r.agent.name, "depends_on": [], "reason": "", "run": r.public_id}
            for s, r in runs.items()
        ]
    }
    session.save(update_fields=["plan"])
    by_agent(session, runs["backend"], "app/api.py", "a = 1\nb = 2\n", step=1)
    by_agent(session, runs["backend"], "app/api.py", "a = 10\nb = 2\n" + LONG_LINE, step=2)
    AgentStep.objects.create(
        run=runs["backend"], number=0, kind="briefing",
        briefing={"text": "Build the API.", "truncated": False, "intent": "build a chat app", "requirements": [],
                  "knowledge": [], "inherited_files": []},
    )  # fmt: skip
    for number, content in ((1, "a = 1"), (2, "a = 10")):
        AgentStep.objects.create(
            run=runs["backend"], number=number, kind="step", messages=[f"Writing {content}."],
            tool_calls=[write_call(number, content)],
            input_tokens=1200, output_tokens=80, duration_ms=900,
        )  # fmt: skip
    by_agent(session, runs["frontend"], "web/app.js", "start();\n")
    member = Actor.for_user(cast["member"])
    artifact_write(session=session, path="web/app.js", content="start();\nstop();\n", actor=member, base_number=1)
    artifact_write(session=session, path="README.md", content="# Chat\n", actor=member, base_number=None)
    data = SAMPLE.read_bytes()
    shot = Screenshot(
        session=session, original_name="design.png", content_type="image/png", size_bytes=len(data),
        width=1, height=1, sha256=hashlib.sha256(data).hexdigest(), uploaded_by=cast["member"],
    )  # fmt: skip
    with SAMPLE.open("rb") as handle:
        shot.image.save("design.png", File(handle), save=True)
    session.runs_by_slug = runs
    return session


def no_sideways_scroll(page, width: int) -> bool:  # noqa: ANN001
    return page.evaluate(f"document.documentElement.scrollWidth <= {width}")


def markers(page, path: str) -> list[str]:  # noqa: ANN001
    return page.locator(f'#files button[data-path="{path}"] .marker').all_inner_texts()


def test_the_tree_the_first_file_the_diffs_and_the_changes(page_for, live_url, cast, workspace):
    page = page_for(cast["member"], viewport={"width": 1280, "height": 900})
    page.goto(f"{live_url}/development/{workspace.public_id}/")
    page.wait_for_selector("#connection.live", timeout=TIMEOUT)

    # The first file of the tree is open without a click: no "Choose a file" over an empty box.
    page.wait_for_selector("#file-view table", timeout=TIMEOUT)
    assert page.inner_text("#file-path").startswith("app/api.py · v2")
    assert page.locator('#files button[data-path="app/api.py"][aria-current=true]').count() == 1

    # Folders from the paths, each file marked with who changed it.
    assert page.locator("#files details.folder").evaluate_all("ds => ds.map(d => d.dataset.folder)") == [
        "app/",
        "web/",
    ]
    assert markers(page, "app/api.py") == ["backend"]
    assert markers(page, "web/app.js") == ["frontend", "member"]
    assert markers(page, "README.md") == ["member"]
    page.click('#files details[data-folder="web/"] > summary')
    assert page.locator('#files button[data-path="web/app.js"]').is_hidden()
    page.click('#files details[data-folder="web/"] > summary')
    assert page.locator('#files button[data-path="web/app.js"]').is_visible()

    # The version's diff, unified then side by side.
    page.click("#show-diff")
    page.wait_for_selector("#file-view table.diff-unified", timeout=TIMEOUT)
    unified = page.inner_text("#file-view")
    assert "-a = 1" in unified and "+a = 10" in unified
    page.click("#viewer-modes [data-diff-mode=split]")
    page.wait_for_selector("#file-view table.diff-split", timeout=TIMEOUT)
    row = page.locator("#file-view table.diff-split tr", has_text="a = 10")
    assert row.locator("td").count() == 4
    assert row.locator("td.code.del").inner_text() == "a = 1" and row.locator("td.code.add").inner_text() == "a = 10"
    shoot(page, "workspace-diff-split-1280")

    # The Changes view: every changed file with its diffs, filtered by agent or by person.
    page.click("#tab-changes")
    page.wait_for_selector("#changes li[data-path]", timeout=TIMEOUT)
    changed = lambda: page.locator("#changes li[data-path]").evaluate_all("ls => ls.map(l => l.dataset.path)")  # noqa: E731
    assert changed() == ["README.md", "app/api.py", "web/app.js"]
    assert page.locator("#changes table.diff-split").count() == 5, "one diff per version, in the chosen mode"
    page.select_option("#changes-filter", "agent:frontend")
    assert changed() == ["web/app.js"]
    assert page.locator("#changes li[data-path] .change-head").all_inner_texts()[0].startswith("v1 by frontend")
    page.select_option("#changes-filter", f"run:{workspace.runs_by_slug['backend'].public_id}")
    assert changed() == ["app/api.py"]
    page.select_option("#changes-filter", "person:member")
    assert changed() == ["README.md", "web/app.js"]
    page.click("#changes-view [data-diff-mode=unified]")
    assert page.locator("#changes table.diff-unified").count() == 2
    page.select_option("#changes-filter", "")
    assert len(changed()) == 3
    shoot(page, "workspace-changes-1280")
    assert not page.errors, page.errors


def test_the_screenshots_show_to_those_who_see_the_session_only(page_for, live_url, cast, workspace):
    page = page_for(cast["member"], viewport={"width": 1280, "height": 900})
    page.goto(f"{live_url}/development/{workspace.public_id}/")
    image = page.locator(".screenshots img")
    image.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('.screenshots img').naturalWidth > 0", timeout=TIMEOUT)
    href = page.get_attribute(".screenshots a", "href")
    assert href == image.get_attribute("src")
    assert page.request.get(f"{live_url}{href}").headers["content-type"] == "image/png"

    outsider = page_for(cast["outsider"])
    assert outsider.request.get(f"{live_url}{href}").status == 404
    anonymous = page.context.browser.new_context()
    try:
        response = anonymous.request.get(f"{live_url}{href}", max_redirects=0)
        assert response.status == 302 and "/accounts/login/" in response.headers["location"]
    finally:
        anonymous.close()


def test_the_owner_shares_with_a_guest_and_takes_it_back(page_for, live_url, cast, workspace):
    page = page_for(cast["member"], viewport={"width": 1280, "height": 900})
    page.goto(f"{live_url}/development/{workspace.public_id}/")
    page.wait_for_selector("#connection.live", timeout=TIMEOUT)
    page.fill("#share-username", "guest")
    page.select_option("#share-level", "collaborate")
    page.click("#share-form button[type=submit]")
    page.wait_for_selector('#shares li[data-user="guest"]', timeout=TIMEOUT)
    assert "shared with guest" in page.inner_text("#share-form .action-result")
    assert session_access(cast["guest"], workspace).share == "collaborate"

    page.fill("#share-username", "nobody-at-all")
    page.click("#share-form button[type=submit]")
    page.wait_for_selector("#share-form .action-result.error", timeout=TIMEOUT)
    assert "nobody-at-all" in page.inner_text("#share-form .action-result")

    page.click('#shares li[data-user="guest"] button')
    page.wait_for_selector('#shares li[data-user="guest"]', state="detached", timeout=TIMEOUT)
    assert session_access(cast["guest"], workspace).share is None
    # A guest with view only has no share form.
    guest_page = page_for(cast["guest"])
    page.fill("#share-username", "guest")
    page.click("#share-form button[type=submit]")
    page.wait_for_selector('#shares li[data-user="guest"]', timeout=TIMEOUT)
    guest_page.goto(f"{live_url}/development/{workspace.public_id}/")
    guest_page.wait_for_selector("#connection.live", timeout=TIMEOUT)
    assert guest_page.locator("#share-form").count() == 0
    assert not page.errors, page.errors


def test_nothing_is_wider_than_a_phone(page_for, live_url, cast, workspace):
    phone = page_for(cast["member"], viewport={"width": 390, "height": 844})
    phone.goto(f"{live_url}/development/{workspace.public_id}/")
    phone.wait_for_selector("#file-view table", timeout=TIMEOUT)
    assert no_sideways_scroll(phone, 390), phone.evaluate("document.documentElement.scrollWidth")
    phone.click("#show-diff")
    phone.click("#viewer-modes [data-diff-mode=split]")
    phone.wait_for_selector("#file-view table.diff-split", timeout=TIMEOUT)
    assert no_sideways_scroll(phone, 390), phone.evaluate("document.documentElement.scrollWidth")
    box = phone.locator("#file-view .diff-box")
    assert box.evaluate("b => b.scrollWidth > b.clientWidth"), "the long line scrolls inside the diff's own box"
    diff_button = phone.locator("#show-diff").bounding_box()
    top = phone.evaluate(
        "([x, y]) => document.elementFromPoint(x, y)?.id",
        [diff_button["x"] + diff_button["width"] / 2, diff_button["y"] + diff_button["height"] / 2],
    )
    assert top == "show-diff", f"the Diff button is covered by {top!r}"
    shoot(phone, "workspace-phone-390")
    phone.click("#tab-changes")
    phone.wait_for_selector("#changes li[data-path]", timeout=TIMEOUT)
    assert no_sideways_scroll(phone, 390), phone.evaluate("document.documentElement.scrollWidth")
    shoot(phone, "workspace-phone-changes-390")

    phone.goto(f"{live_url}/development/")
    phone.wait_for_selector("table.sessions")
    assert no_sideways_scroll(phone, 390), phone.evaluate("document.documentElement.scrollWidth")
    shoot(phone, "sessions-list-phone-390")
    assert not phone.errors, phone.errors


def test_an_agents_transcript_opens_from_the_agents_list(page_for, live_url, cast, workspace):
    page = page_for(cast["member"], viewport={"width": 1280, "height": 900})
    page.goto(f"{live_url}/development/{workspace.public_id}/")
    page.wait_for_selector("#connection.live", timeout=TIMEOUT)
    run = workspace.runs_by_slug["backend"]
    try:
        reverse("api-run-steps", kwargs={"session_id": workspace.public_id, "run_id": run.public_id})
    except NoReverseMatch:
        # No steps endpoint on this server: the names stay plain text and no drawer is shown.
        page.wait_for_timeout(500)
        assert page.locator(".agent-link").count() == 0
        assert page.locator("#transcript:visible").count() == 0
        return
    page.click(f'#runs [data-transcript="{run.public_id}"]')
    page.wait_for_selector("#transcript:not([hidden]) li[data-step]", timeout=TIMEOUT)
    assert page.inner_text("#transcript-title") == "Transcript · Backend engineer"
    steps = page.locator("#transcript li[data-step]").evaluate_all("ls => ls.map(l => l.dataset.step)")
    assert steps == ["0", "1", "2"]
    second = page.locator('#transcript li[data-step="2"]')
    assert "Writing a = 10." in second.inner_text() and "1,280 tokens" in second.inner_text()
    assert "+a = 10" in second.locator(".diff-box").inner_text(), "a write shows its diff"
    shoot(page, "workspace-transcript-1280")
    page.click("#transcript-close")
    assert page.locator("#transcript").is_hidden()
    assert not page.errors, page.errors


def test_an_agents_question_is_answered_in_the_thread(page_for, live_url, cast, acme):
    session = DevelopmentSession.objects.create(
        organization=acme, created_by=cast["member"], intent="build a chat app", status="paused"
    )
    agent = AgentDefinition.objects.get(slug="backend")
    run = AgentRun.objects.create(session=session, agent=agent, position=0, status="running")
    session.plan = {"agents": [{"slug": "backend", "name": agent.name, "depends_on": [], "run": run.public_id}]}
    session.save(update_fields=["plan"])
    try:
        from agents_app.services.conversation import question_ask
    except ImportError:
        question_ask = None
    if question_ask is None:
        # No thread on this server: the feedback form stays where it was and no thread is shown.
        page = page_for(cast["member"])
        page.goto(f"{live_url}/development/{session.public_id}/")
        page.wait_for_selector("#connection.live", timeout=TIMEOUT)
        assert page.locator("#conversation-panel").is_hidden()
        assert page.locator("#control-panel #feedback-form").is_visible()
        return
    question = question_ask(run=run, question="Should messages be kept forever?", actor=Actor.for_agent("backend"))

    page = page_for(cast["member"], viewport={"width": 390, "height": 844})
    page.goto(f"{live_url}/development/{session.public_id}/")
    item = page.locator(f'#thread li[data-message="{question.public_id}"]')
    item.wait_for(timeout=TIMEOUT)
    assert "Should messages be kept forever?" in item.inner_text()
    assert page.locator("#conversation-panel #feedback-form").count() == 1, "people write under the thread"
    item.locator(".answer-form input").fill("Thirty days is enough")
    item.locator(".answer-form button").click()
    page.wait_for_selector("#thread li[data-kind=answer]:has-text('Thirty days is enough')", timeout=TIMEOUT)
    assert page.locator(f'#thread li[data-message="{question.public_id}"] .answer-form').count() == 0
    assert no_sideways_scroll(page, 390), page.evaluate("document.documentElement.scrollWidth")
    shoot(page, "workspace-conversation-390")

    viewer = page_for(cast["guest"])  # a guest who may only view sees the thread without an Answer box
    assign_perm("sessions_app.view_developmentsession", cast["guest"], session)
    viewer.goto(f"{live_url}/development/{session.public_id}/")
    viewer.wait_for_selector(f'#thread li[data-message="{question.public_id}"]', timeout=TIMEOUT)
    assert viewer.locator(".answer-form").count() == 0
    assert not page.errors, page.errors
