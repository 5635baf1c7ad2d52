"""The plan graph in a browser: laid out by Graphviz on the server, readable at 1280 px and on a 390 px
phone (whole labels of at least 11 px, arrowheads, no sideways page scroll), coloured live as agents
move, and a click on a node opens that agent's transcript. Without Graphviz the page draws it itself."""

from __future__ import annotations

import json

import pytest

from agents_app.models import AgentRun
from sessions_app.models import DevelopmentSession, SessionStatus, TaskType
from tests.browser.conftest import ARTEFACTS, shoot

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TIMEOUT = 60_000
AGENTS = ["requirements-analyst", "ux-designer", "architect", "frontend", "backend", "test-engineer"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}

# What the reader sees, measured on screen: each node's label and its size, whether it fits its box,
# each edge's arrowhead, and how wide the page is.
MEASURE = """(container) => {
  const svg = container.querySelector("svg");
  const inside = (a, b) =>
    a.left >= b.left - 1 && a.right <= b.right + 1 && a.top >= b.top - 1 && a.bottom <= b.bottom + 1;
  return {
    engine: svg.dataset.engine,
    layout: svg.dataset.layout || "",
    note: container.querySelector(".graph-note")?.textContent || "",
    nodes: [...svg.querySelectorAll("g.node")].map((node) => {
      const box = node.querySelector("path, polygon, rect").getBoundingClientRect();
      const texts = [...node.querySelectorAll("text")];
      return {
        key: node.dataset.key,
        status: node.dataset.status,
        label: texts.map((t) => t.textContent).join(""),
        fontPx: Math.min(...texts.map((t) => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a)),
        fits: texts.every((t) => inside(t.getBoundingClientRect(), box)),
      };
    }),
    edges: [...svg.querySelectorAll("g.edge")].map((edge) => ({
      from: edge.dataset.from, to: edge.dataset.to,
      arrow: Boolean(edge.querySelector("polygon")) || Boolean(edge.querySelector("path[marker-end]")),
    })),
    pageWidth: document.documentElement.scrollWidth,
    boxRight: container.getBoundingClientRect().right,
    hiddenSideways: container.scrollWidth - container.clientWidth,
  };
}"""


def measure(page, selector: str = "#graph") -> dict:  # noqa: ANN001
    return page.locator(selector).evaluate(MEASURE)


def assert_readable(geometry: dict, slugs: list[str], edges: set[tuple[str, str]], width: int) -> None:
    assert sorted(n["key"] for n in geometry["nodes"]) == sorted(slugs)
    for node in geometry["nodes"]:
        assert node["label"].replace(" ", "") == node["key"], f"label cut: {node}"
        assert node["fontPx"] >= 11, f"{node['key']} is drawn at {node['fontPx']:.1f} px"
        assert node["fits"], f"{node['key']}'s label spills out of its box"
    assert {(e["from"], e["to"]) for e in geometry["edges"]} == edges
    assert all(e["arrow"] for e in geometry["edges"]), geometry["edges"]
    assert geometry["pageWidth"] <= width, f"the page scrolls sideways: {geometry['pageWidth']} px wide"
    assert geometry["boxRight"] <= width
    assert geometry["hiddenSideways"] <= 1, "this plan fits its box without scrolling"


def shoot_graph(page, selector: str, name: str) -> None:  # noqa: ANN001
    ARTEFACTS.mkdir(exist_ok=True)
    page.locator(selector).screenshot(path=str(ARTEFACTS / f"{name}.png"))


def plan_edges(session: DevelopmentSession) -> set[tuple[str, str]]:
    session.refresh_from_db()
    return {(p, a["slug"]) for a in session.plan["agents"] for p in a["depends_on"]}


def test_the_plan_graph_is_readable_live_and_opens_a_transcript(page_for, live_url, start, cast, settings):
    settings.HARNESS_OFFLINE_STEP_SECONDS = 0.4
    session = start(agents=AGENTS, execution_strategy="hybrid")
    page = page_for(cast["member"], viewport={"width": 1280, "height": 900})
    page.goto(f"{live_url}/development/{session.public_id}/")

    page.wait_for_selector(f"#graph svg[data-engine=graphviz] g.node >> nth={len(AGENTS) - 1}", timeout=TIMEOUT)
    page.locator("#graph svg").evaluate("svg => { svg.dataset.probe = 'first layout'; }")
    page.wait_for_selector("#graph g.node.status-running", timeout=TIMEOUT)
    running = page.locator("#graph g.node.status-running").first.get_attribute("data-key")
    page.wait_for_selector("#status.status-completed", timeout=TIMEOUT)
    page.wait_for_function(
        "n => document.querySelectorAll('#graph g.node.status-completed').length === n", arg=len(AGENTS)
    )

    assert running in AGENTS
    assert page.locator("#graph svg").get_attribute("data-probe") == "first layout", "re-laid out on an event"
    geometry = measure(page)
    assert geometry["engine"] == "graphviz" and geometry["layout"] in ("LR", "TB")
    assert_readable(geometry, AGENTS, plan_edges(session), 1280)
    assert {n["status"] for n in geometry["nodes"]} == {"completed"}
    label = page.locator('#graph g.node[data-key="requirements-analyst"]').get_attribute("aria-label")
    assert label == "requirements-analyst: completed"  # what a screen reader says, kept current
    shoot(page, "plan-graph-1280")
    shoot_graph(page, "#agent-panel", "plan-graph-1280-panel")

    architect = AgentRun.objects.get(session=session, agent__slug="architect").public_id
    page.evaluate("document.addEventListener('harness:open-transcript', (e) => { window.openedRun = e.detail.run; })")
    page.locator('#graph g.node[data-key="architect"]').click()
    page.wait_for_function("() => window.openedRun || document.querySelector('#transcript:not([hidden])')")
    opened = page.evaluate("window.openedRun || null")
    if opened is None:  # the transcript drawer opened on the architect's run
        assert "architect" in page.inner_text("#transcript-title").lower()
    else:
        assert opened == architect
    assert not page.errors, page.errors

    phone = page_for(cast["lead"], **PHONE)
    phone.goto(f"{live_url}/development/{session.public_id}/")
    phone.wait_for_selector(f"#graph svg[data-engine=graphviz] g.node.status-completed >> nth={len(AGENTS) - 1}")
    geometry = measure(phone)
    assert_readable(geometry, AGENTS, plan_edges(session), 390)
    assert geometry["layout"] == "TB", "a phone gets the top-to-bottom layout"
    phone.locator('#graph g.node[data-key="frontend"]').scroll_into_view_if_needed()
    shoot_graph(phone, "#agent-panel", "plan-graph-390-panel")
    shoot(phone, "plan-graph-390")
    assert not phone.errors, phone.errors


def test_without_graphviz_the_page_draws_a_readable_graph_itself(page_for, live_url, start, cast, settings):
    settings.HARNESS_OFFLINE_STEP_SECONDS = 0.2
    session = start(agents=AGENTS, execution_strategy="hybrid")
    body = json.dumps({"detail": "Graphviz is not installed on the server.", "fallback": "client"})
    for width, options in ((1280, {"viewport": {"width": 1280, "height": 900}}), (390, PHONE)):
        page = page_for(cast["member"], **options)
        page.route("**/graph.svg*", lambda route: route.fulfill(status=503, content_type="application/json", body=body))
        page.goto(f"{live_url}/development/{session.public_id}/")
        page.wait_for_selector(f"#graph svg[data-engine=browser] g.node >> nth={len(AGENTS) - 1}", timeout=TIMEOUT)

        geometry = measure(page)
        assert "Graphviz is not installed" in geometry["note"]
        assert geometry["layout"] == "TB" or width > 390, "a phone gets a row per dependency depth"
        assert_readable(geometry, AGENTS, plan_edges(session), width)
        shoot_graph(page, "#agent-panel", f"plan-graph-fallback-{width}-panel")
        assert not page.errors, page.errors


def test_an_epics_child_graph_shows_intents_and_opens_a_child(page_for, live_url, cast, acme):
    epic = DevelopmentSession.objects.create(
        organization=acme, created_by=cast["member"], intent="a chat product", task_type=TaskType.EPIC,
        status=SessionStatus.RUNNING,
    )  # fmt: skip
    intents = {
        "api": "Design the messaging API and its authentication",
        "backend": "Build the realtime messaging backend with presence, typing indicators, read receipts and search",
        "web": "Build the web client",
    }
    depends = {"api": [], "backend": ["api"], "web": ["api", "backend"]}
    children = {
        key: DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent=text, parent=epic)
        for key, text in intents.items()
    }
    epic.plan = {
        "children": [
            {"key": k, "session": c.public_id, "intent": c.intent, "depends_on": depends[k], "status": "created"}
            for k, c in children.items()
        ]
    }
    epic.save(update_fields=["plan"])
    page = page_for(cast["member"], **PHONE)
    page.goto(f"{live_url}/development/{epic.public_id}/")
    page.wait_for_selector("#children-graph svg[data-engine=graphviz] g.node >> nth=2", timeout=TIMEOUT)

    geometry = measure(page, "#children-graph")
    assert {(e["from"], e["to"]) for e in geometry["edges"]} == {(p, k) for k, ps in depends.items() for p in ps}
    assert all(e["arrow"] for e in geometry["edges"])
    assert all(n["fontPx"] >= 11 and n["fits"] for n in geometry["nodes"]), geometry["nodes"]
    labels = {n["key"]: n["label"] for n in geometry["nodes"]}
    assert labels["web"].replace(" ", "") == intents["web"].replace(" ", "")
    assert labels["backend"].endswith("…")  # shortened on the node; the whole intent is its tooltip
    title = page.locator('#children-graph g.node[data-key="backend"] > title').text_content()
    assert title == intents["backend"]
    assert geometry["pageWidth"] <= 390
    shoot_graph(page, "#children-panel", "plan-graph-epic-390-panel")

    page.locator('#children-graph g.node[data-key="web"]').click()
    page.wait_for_url(f"**/development/{children['web'].public_id}/")
    assert not page.errors, page.errors
