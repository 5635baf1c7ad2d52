"""The plan graph laid out by Graphviz on the server: DOT built from the plan, an SVG with arrowheads and
no way to run script, a fallback when dot is missing, slow or failing, and the page's permission rules."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

from sessions_app.models import DevelopmentSession, TaskType
from sessions_app.web import plan_graph

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is missing: `make graphviz`")

SVG = "{http://www.w3.org/2000/svg}"
PLAN = {
    "agents": [
        {"slug": "requirements-analyst", "name": "Requirements analyst", "run": "run_a", "depends_on": []},
        {"slug": "architect", "name": "Architect", "run": "run_b", "depends_on": ["requirements-analyst"]},
        {"slug": "backend-developer", "run": "run_c", "depends_on": ["architect"]},
        {"slug": "qa-engineer", "run": "run_d", "depends_on": ["backend-developer", "requirements-analyst"]},
    ]
}
HOSTILE = [
    'say "hi"',
    "brace } { [label=x]",
    "<script>alert(1)</script>",
    "line one\nline two\r\n\x00end",
    "back\\slash \\N \\G \\",
    '" onload="alert(2)',
    "]]><svg onload=alert(3)>",
]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 — our own SVG


def groups(root: ET.Element, css_class: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class", "").split()[:1] == [css_class]]


@pytest.fixture
def session(cast, acme):  # noqa: ANN001, ANN201
    return DevelopmentSession.objects.create(
        organization=acme, created_by=cast["member"], intent="build a chat app", plan=PLAN
    )


def graph_url(session: DevelopmentSession) -> str:
    return reverse("session-graph", args=[session.public_id])


def test_it_draws_an_edge_with_an_arrowhead_for_each_dependency():
    nodes = plan_graph.nodes_for(PLAN)
    source = plan_graph.dot_source(nodes, layout="LR")
    assert "rankdir=LR" in source and source.count("->") == 4 and "arrowhead=normal" in source

    root = parse(plan_graph.render_svg(nodes, layout="LR"))

    edges = groups(root, "edge")
    assert sorted((e.get("data-from"), e.get("data-to")) for e in edges) == sorted(
        [(p, a["slug"]) for a in PLAN["agents"] for p in a["depends_on"]]
    )
    for edge in edges:  # the line, and the arrowhead where it meets the dependent node
        assert edge.find(f"{SVG}path") is not None and edge.find(f"{SVG}polygon") is not None
    nodes_drawn = groups(root, "node")
    runs = {n.get("data-key"): n.get("data-run") for n in nodes_drawn}
    assert runs == {a["slug"]: a["run"] for a in PLAN["agents"]}
    assert all("status-pending" in n.get("class") for n in nodes_drawn)
    for node in nodes_drawn:  # the whole slug on the node (wrapped at hyphens), at 14 px
        texts = node.findall(f"{SVG}text")
        assert "".join(t.text for t in texts) == node.get("data-key")
        assert all(float(t.get("font-size")) >= 11 for t in texts)
    assert root.get("data-layout") == "LR" and root.get("width") and root.get("viewBox")


def test_it_lays_out_top_to_bottom_for_a_phone():
    wide = parse(plan_graph.render_svg(plan_graph.nodes_for(PLAN), layout="LR"))
    tall = parse(plan_graph.render_svg(plan_graph.nodes_for(PLAN), layout="TB"))
    assert tall.get("data-layout") == "TB"
    assert float(tall.get("width")) < float(wide.get("width"))
    assert float(tall.get("height")) > float(wide.get("height"))


def test_it_wraps_long_labels_and_never_cuts_a_slug():
    assert plan_graph.wrap("requirements-analyst", 18) == ("requirements-", "analyst")
    assert plan_graph.unwrap(plan_graph.wrap("requirements-analyst", 18)) == "requirements-analyst"
    assert (
        plan_graph.unwrap(plan_graph.wrap("Build the web client for phones", 18)) == "Build the web client for phones"
    )
    slug = "a" * 45
    lines = plan_graph.wrap(slug, 18)
    assert "".join(lines) == slug and max(map(len, lines)) <= 18
    intent = "Build the realtime messaging backend with presence, typing indicators and read receipts " * 3
    short = plan_graph.shorten(intent, plan_graph.INTENT_CHARS)
    assert short.endswith("…") and len(short) <= plan_graph.INTENT_CHARS


def test_hostile_labels_stay_text_and_the_svg_cannot_run_script():
    plan = {"agents": [{"slug": label, "depends_on": [HOSTILE[i - 1]] if i else []} for i, label in enumerate(HOSTILE)]}
    nodes = plan_graph.nodes_for(plan)
    source = plan_graph.dot_source(nodes)
    assert "\n  n" in source and "\x00" not in source and "\r" not in source
    for line in source.splitlines():  # every label is one quoted string: no quote closes it early
        if "label=" in line:
            label = line.split("label=", 1)[1].rsplit("];", 1)[0]
            unescaped = label[1:-1].replace("\\\\", "").replace('\\"', "")
            assert label.startswith('"') and label.endswith('"') and '"' not in unescaped

    svg = plan_graph.render_svg(nodes)
    root = parse(svg)

    tags = {element.tag.removeprefix(SVG) for element in root.iter()}
    assert tags <= {"svg", "g", "title", "path", "polygon", "polyline", "ellipse", "text"}, tags
    for element in root.iter():
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on") and "href" not in name and name != "style", (name, value)
            assert "javascript:" not in value.lower()
    drawn = groups(root, "node")
    assert len(drawn) == len(HOSTILE) and len(groups(root, "edge")) == len(HOSTILE) - 1
    by_key = {n.get("data-key"): n for n in drawn}
    for label in HOSTILE:  # the text is all there, as text: newlines and control characters as spaces
        cleaned = plan_graph.clean_text(label)
        node = by_key[cleaned]
        assert node.find(f"{SVG}title").text == cleaned
        assert " ".join(t.text for t in node.findall(f"{SVG}text")).replace(" ", "") == cleaned.replace(" ", "")
    assert "<script" not in svg and "&lt;script&gt;" in svg


def test_the_sanitizer_keeps_shapes_and_drops_everything_else():
    evil = (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 100 50"'
        ' onload="alert(1)"><script>alert(2)</script><g id="graph0" class="graph" style="x">'
        '<polygon fill="white" points="0,0 1,1"/>'
        '<g id="n0" class="node" onclick="alert(3)"><title>n0</title>'
        '<a xlink:href="javascript:alert(4)"><text x="1" y="2">inside a link</text></a>'
        '<path d="M0,0 L5,5" fill="url(javascript:alert(5))" stroke="black" style="fill:red"/>'
        '<text x="1" y="2" font-size="14" onmouseover="alert(6)">ok</text>'
        '<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">html</div></foreignObject>'
        '<image href="http://example.com/x.png"/></g></g></svg>'
    )
    nodes = [plan_graph.GraphNode(key="a", lines=("a",), title="a")]

    root = parse(plan_graph.sanitize(evil, nodes, layout="LR"))

    assert [e.tag.removeprefix(SVG) for e in root.iter()] == ["svg", "g", "g", "title", "path", "text"]
    path = root.find(f".//{SVG}path")
    assert path.get("d") == "M0,0 L5,5" and path.get("stroke") == "black" and path.get("fill") is None
    assert root.find(f".//{SVG}text").text == "ok"
    assert all(not k.startswith("on") and k != "style" for e in root.iter() for k in e.attrib)


def test_an_epics_children_carry_their_session_and_a_shortened_intent():
    intent = "Build the realtime messaging backend with presence, typing indicators and read receipts for everyone"
    plan = {
        "children": [
            {"key": "api", "session": "dev_1", "intent": "Design the API", "depends_on": [], "status": "completed"},
            {"key": "backend", "session": "dev_2", "intent": intent, "depends_on": ["api"], "status": "running"},
        ]
    }
    root = parse(plan_graph.render_svg(plan_graph.nodes_for(plan)))
    first, second = sorted(groups(root, "node"), key=lambda n: n.get("data-key"))
    assert (first.get("data-session"), first.get("data-status"), first.get("role")) == ("dev_1", "completed", "link")
    assert "status-running" in second.get("class")
    assert second.find(f"{SVG}title").text == intent  # the full intent as the tooltip
    shown = " ".join(t.text for t in second.findall(f"{SVG}text"))
    assert shown.endswith("…") and len(shown) < len(intent)


def test_a_layout_is_cached_by_the_plans_shape_not_its_statuses(monkeypatch):
    plan = {"agents": [{"slug": "cache-probe-one", "depends_on": []}, {"slug": "cache-probe-two", "depends_on": []}]}
    calls = []
    real_run = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a) or real_run(*a, **k))
    first = plan_graph.render_svg(plan_graph.nodes_for(plan, {"cache-probe-one": ("run_x", "running")}))
    second = plan_graph.render_svg(plan_graph.nodes_for(plan, {"cache-probe-one": ("run_x", "completed")}))
    assert len(calls) <= 1 and "status-running" in first and "status-completed" in second


@pytest.fixture
def fake_dot(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    def make(body: str) -> None:
        script = tmp_path / "fake-dot"
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
        monkeypatch.setattr(plan_graph, "DOT_COMMAND", str(script))

    return make


def test_a_missing_dot_says_so(monkeypatch):
    monkeypatch.setattr(plan_graph, "DOT_COMMAND", "harness-no-such-dot")
    with pytest.raises(plan_graph.GraphUnavailable, match="not installed"):
        plan_graph.render_svg(plan_graph.nodes_for(PLAN))


def test_a_slow_dot_is_stopped(fake_dot, monkeypatch):
    fake_dot("exec sleep 10")
    monkeypatch.setattr(plan_graph, "DOT_TIMEOUT_SECONDS", 0.3)
    with pytest.raises(plan_graph.GraphUnavailable, match="longer than 0.3 s"):
        plan_graph.render_svg(plan_graph.nodes_for(PLAN))


def test_a_failing_or_garbled_dot_says_so(fake_dot):
    fake_dot("echo 'syntax error in line 1' >&2; exit 1")
    with pytest.raises(plan_graph.GraphUnavailable, match="exit 1.*syntax error"):
        plan_graph.render_svg(plan_graph.nodes_for(PLAN))
    fake_dot("echo '<svg><g>'")
    with pytest.raises(plan_graph.GraphUnavailable, match="could not be read"):
        plan_graph.render_svg(plan_graph.nodes_for(PLAN))


def test_the_input_is_bounded():
    plan = {"agents": [{"slug": f"agent-{i}", "depends_on": [f"agent-{j}" for j in range(i)]} for i in range(100)]}
    nodes = plan_graph.nodes_for(plan)
    assert len(nodes) == plan_graph.MAX_NODES
    assert len(plan_graph.edge_list(nodes)) == plan_graph.MAX_EDGES
    assert len(plan_graph.dot_source(nodes)) < 64_000


# --- the endpoint ------------------------------------------------------------------------------------------


def test_a_member_gets_the_svg_with_the_content_security_policy(client, cast, session):
    client.force_login(cast["member"])
    response = client.get(graph_url(session), {"layout": "TB"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    root = parse(response.content.decode())
    assert root.get("data-layout") == "TB" and len(groups(root, "node")) == 4


def test_the_graph_is_as_private_as_the_page(client, cast, session):
    client.force_login(cast["outsider"])
    assert client.get(graph_url(session)).status_code == 404
    client.force_login(cast["guest"])  # in no organisation, not shared with
    assert client.get(graph_url(session)).status_code == 404
    client.logout()
    assert client.get(graph_url(session)).status_code == 302  # to the login page


def test_bad_input_and_no_plan_are_explained(client, cast, acme, session):
    client.force_login(cast["member"])
    response = client.get(graph_url(session), {"layout": "sideways"})
    assert response.status_code == 400 and "layout" in response.json()["errors"]
    empty = DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="x")
    assert client.get(graph_url(empty)).status_code == 409
    epic = DevelopmentSession.objects.create(
        organization=acme, created_by=cast["member"], intent="an epic", task_type=TaskType.EPIC
    )
    assert client.get(graph_url(epic)).status_code == 409  # not broken down yet


def test_without_graphviz_the_page_is_told_to_draw_it(client, cast, session, monkeypatch):
    monkeypatch.setattr(plan_graph, "DOT_COMMAND", "harness-no-such-dot")
    client.force_login(cast["member"])
    response = client.get(graph_url(session))
    assert response.status_code == 503
    assert response.json()["fallback"] == "client" and "Graphviz" in response.json()["detail"]


def test_a_guest_of_an_epic_sees_only_the_children_shared_with_them(client, cast, acme):
    from guardian.shortcuts import assign_perm

    epic = DevelopmentSession.objects.create(
        organization=acme, created_by=cast["lead"], intent="Q3 programme", task_type=TaskType.EPIC
    )
    intents = {"shared": "Build the public landing page", "secret": "Migrate payroll to vendor Zebra"}
    children = {
        key: DevelopmentSession.objects.create(organization=acme, created_by=cast["lead"], intent=text, parent=epic)
        for key, text in intents.items()
    }
    epic.plan = {
        "children": [
            {"key": k, "session": c.public_id, "intent": c.intent, "depends_on": ["secret"] if k == "shared" else []}
            for k, c in children.items()
        ]
    }
    epic.save(update_fields=["plan"])
    for session in (epic, children["shared"]):
        assign_perm("sessions_app.view_developmentsession", cast["outsider"], session)
    client.force_login(cast["outsider"])

    response = client.get(graph_url(epic))

    assert response.status_code == 200
    svg = response.content.decode()
    assert "Zebra" not in svg and children["secret"].public_id not in svg and "secret" not in svg
    root = parse(svg)
    assert [n.get("data-session") for n in groups(root, "node")] == [children["shared"].public_id]
    assert groups(root, "edge") == []
    client.force_login(cast["member"])  # a member of the organisation sees both, and the edge
    root = parse(client.get(graph_url(epic)).content.decode())
    assert len(groups(root, "node")) == 2 and len(groups(root, "edge")) == 1
