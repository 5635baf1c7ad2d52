"""The plan's DAG laid out by Graphviz `dot` on the server, as an SVG that is safe to put in the page.

The DOT source names nodes `n0`, `n1`, … and carries people's and agents' text (slugs, a child's intent)
only inside quoted labels, escaped for DOT. dot's SVG is then rebuilt element by element from an
allowlist — shapes, text and numbers: no script, no event handler, no link, no style — and every node
gets the attributes the page works with (`data-key`, `data-run` or `data-session`, `data-status`).

Statuses are not part of the DOT source: the page colours nodes by CSS class as events arrive, so a
layout is computed once per plan shape and kept in the cache under the hash of its source.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache

#: The command that lays graphs out; tests point it at a missing or a slow program.
DOT_COMMAND = "dot"
DOT_TIMEOUT_SECONDS = 5.0
LAYOUTS = ("LR", "TB")  # left to right on a wide screen; top to bottom on a phone
FONT_SIZE = 14  # px at the SVG's natural size; the page never shrinks it below 11 px
MAX_NODES = 64
MAX_EDGES = 512
MAX_SVG_CHARS = 1_000_000
CACHE_SECONDS = 24 * 3600
LINE_WIDTH = {"agent": 18, "child": 22}  # characters per line of a node's label
INTENT_CHARS = 64  # a child's intent is shortened on its node; its <title> holds all of it

SVG_NS = "http://www.w3.org/2000/svg"


class GraphUnavailable(Exception):
    """dot could not lay the graph out (missing, too slow, failed): the page draws it itself."""


@dataclass(frozen=True)
class GraphNode:
    key: str  # an agent's slug, or a child's key in the epic's plan
    lines: tuple[str, ...]  # the label, wrapped, never truncated for a slug
    title: str  # the full text, shown as a tooltip
    depends_on: tuple[str, ...] = ()
    status: str = "pending"
    run: str = ""  # an agent's run (run_…): a click opens its transcript
    session: str = ""  # a child session (dev_…): a click opens its page
    extra: dict[str, str] = field(default_factory=dict)


# --- from a plan to nodes --------------------------------------------------------------------------------


def clean_text(value: Any, limit: int = 500) -> str:
    """One line of printable text: control characters and newlines become spaces, runs of spaces one."""
    text = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in str(value or "")[: limit * 2])
    return " ".join(text.split())[:limit]


def wrap(text: str, width: int) -> tuple[str, ...]:
    """Greedy wrapping after spaces, hyphens, underscores and slashes; a longer word is split, never cut."""
    tokens = re.findall(r"[^\s\-_/]*[\-_/]+|[^\s\-_/]+", text)
    lines: list[str] = []
    line = ""
    for token in tokens:
        gap = "" if not line or line.endswith(("-", "_", "/")) else " "
        if line and len(line) + len(gap) + len(token) > width:
            lines.append(line)
            line, gap = "", ""
        line += gap + token
        while len(line) > width:
            lines.append(line[:width])
            line = line[width:]
    if line:
        lines.append(line)
    return tuple(lines) or ("?",)


def unwrap(lines: tuple[str, ...]) -> str:
    """The label as one line again: no space after a line that ended at a hyphen, underscore or slash."""
    return "".join(
        line if i == len(lines) - 1 or line.endswith(("-", "_", "/")) else line + " " for i, line in enumerate(lines)
    )


def shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(" ,;:.-") + "…"


def nodes_for(plan: Any, runs: dict[str, tuple[str, str]] | None = None) -> list[GraphNode]:
    """An epic's children, or a session's agents, as graph nodes (malformed entries are skipped).

    `runs` maps an agent's slug to its latest run's (public id, status)."""
    if not isinstance(plan, dict):
        return []
    if isinstance(plan.get("children"), list):
        return _bounded(_child_nodes(plan["children"]))
    if isinstance(plan.get("agents"), list):
        return _bounded(_agent_nodes(plan["agents"], runs or {}))
    return []


def _agent_nodes(agents: list[Any], runs: dict[str, tuple[str, str]]) -> list[GraphNode]:
    nodes = []
    for agent in agents:
        if not isinstance(agent, dict) or not isinstance(agent.get("slug"), str):
            continue
        slug = clean_text(agent["slug"], 100)
        run, status = runs.get(slug, (clean_text(agent.get("run"), 40), "pending"))
        name = clean_text(agent.get("name"), 100)
        reason = clean_text(agent.get("reason"), 300)
        title = " — ".join(part for part in (f"{name} ({slug})" if name and name != slug else slug, reason) if part)
        nodes.append(
            GraphNode(
                key=slug,
                lines=wrap(slug, LINE_WIDTH["agent"]),
                title=title,
                depends_on=_keys(agent.get("depends_on")),
                status=status,
                run=run,
            )
        )
    return nodes


def _child_nodes(children: list[Any]) -> list[GraphNode]:
    nodes = []
    for child in children:
        if not isinstance(child, dict) or not isinstance(child.get("key"), str):
            continue
        intent = clean_text(child.get("intent"), 2000)
        nodes.append(
            GraphNode(
                key=clean_text(child["key"], 100),
                lines=wrap(shorten(intent or child["key"], INTENT_CHARS), LINE_WIDTH["child"]),
                title=intent or child["key"],
                depends_on=_keys(child.get("depends_on")),
                status=clean_text(child.get("status"), 20) or "created",
                session=clean_text(child.get("session"), 40),
            )
        )
    return nodes


def _keys(value: Any) -> tuple[str, ...]:
    return tuple(clean_text(k, 100) for k in value if isinstance(k, str)) if isinstance(value, list) else ()


def _bounded(nodes: list[GraphNode]) -> list[GraphNode]:
    seen: set[str] = set()
    unique = []
    for node in nodes:
        if node.key and node.key not in seen:
            seen.add(node.key)
            unique.append(node)
    return unique[:MAX_NODES]


# --- DOT --------------------------------------------------------------------------------------------------


def dot_quote(text: str) -> str:
    """A DOT double-quoted string: backslashes doubled (so `\\N`, `\\G`, `\\n` in text stay text)."""
    return '"' + clean_text(text, 1000).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot_source(nodes: list[GraphNode], *, layout: str = "LR") -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}")
    index = {node.key: i for i, node in enumerate(nodes)}
    out = [
        "digraph plan {",
        f'  graph [rankdir={layout}, bgcolor="transparent", pad="0.08", nodesep="0.3", ranksep="0.45"];',
        f'  node [shape=box, style="rounded,filled", fillcolor="#f3f4f6", color="#57606a", penwidth=1.2,'
        f' fontname="Helvetica", fontsize={FONT_SIZE}, margin="0.16,0.07"];',
        '  edge [color="#6e7781", penwidth=1.4, arrowhead=normal, arrowsize=0.8];',
    ]
    for i, node in enumerate(nodes):
        label = "\\n".join(dot_quote(line)[1:-1] for line in node.lines)
        out.append(f'  n{i} [id="n{i}", label="{label}"];')
    for number, (parent, child) in enumerate(edge_list(nodes)):
        out.append(f'  n{index[parent]} -> n{index[child]} [id="e{number}"];')
    out.append("}")
    return "\n".join(out) + "\n"


def edge_list(nodes: list[GraphNode]) -> list[tuple[str, str]]:
    """(parent, child) for each dependency between two drawn nodes, in a fixed order, at most MAX_EDGES."""
    keys = {node.key for node in nodes}
    edges = [(p, node.key) for node in nodes for p in dict.fromkeys(node.depends_on) if p in keys and p != node.key]
    return edges[:MAX_EDGES]


def run_dot(source: str) -> str:
    """dot's SVG for `source`, from the cache when this dot laid the same source out before."""
    binary = shutil.which(DOT_COMMAND)
    if binary is None:
        raise GraphUnavailable("Graphviz is not installed on the server (apt-get install graphviz).")
    key = "plan-graph:" + hashlib.sha256(f"{binary}\0{source}".encode()).hexdigest()
    cached = cache.get(key)
    if cached is not None:
        return cached
    try:
        done = subprocess.run(  # noqa: S603 — a fixed argument list, no shell; the source goes to stdin
            [binary, "-Tsvg"],
            input=source.encode(),
            capture_output=True,
            timeout=DOT_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GraphUnavailable(f"Graphviz took longer than {DOT_TIMEOUT_SECONDS:g} s to lay the plan out.") from exc
    except OSError as exc:
        raise GraphUnavailable(f"Graphviz could not run ({exc.strerror or exc}).") from exc
    if done.returncode != 0 or not done.stdout:
        detail = clean_text(done.stderr.decode(errors="replace"), 200)
        raise GraphUnavailable(f"Graphviz failed (exit {done.returncode}): {detail}")
    svg = done.stdout.decode(errors="replace")
    if len(svg) > MAX_SVG_CHARS:
        raise GraphUnavailable("Graphviz's drawing of this plan is too large.")
    cache.set(key, svg, CACHE_SECONDS)
    return svg


# --- a safe SVG from dot's ---------------------------------------------------------------------------------

_NUMBER = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"
_NUMBERS = re.compile(rf"^(?:{_NUMBER}[ ,]*)+$")
_VALUES = {
    "number": re.compile(rf"^{_NUMBER}$"),
    "numbers": _NUMBERS,
    "path": re.compile(rf"^(?:[MCLQZmclqz]|{_NUMBER}|[ ,])+$"),
    "transform": re.compile(rf"^(?:(?:scale|rotate|translate)\((?:{_NUMBER}[ ,]*)+\)\s*)+$"),
    "color": re.compile(r"^(?:#[0-9a-fA-F]{3,8}|[a-zA-Z]{1,20})$"),
    "anchor": re.compile(r"^(?:start|middle|end)$"),
    "font": re.compile(r"^[A-Za-z0-9 ,\-]{1,80}$"),
    "dash": _NUMBERS,
}
_PAINT = {"fill": "color", "stroke": "color", "stroke-width": "number", "stroke-dasharray": "dash"}
#: The elements kept, with the attributes kept on each and what their values may look like.
_ALLOWED: dict[str, dict[str, str]] = {
    "g": {"transform": "transform"},
    "polygon": {"points": "numbers", **_PAINT},
    "polyline": {"points": "numbers", **_PAINT},
    "path": {"d": "path", **_PAINT},
    "ellipse": {"cx": "number", "cy": "number", "rx": "number", "ry": "number", **_PAINT},
    "text": {
        "x": "number",
        "y": "number",
        "text-anchor": "anchor",
        "font-family": "font",
        "font-size": "number",
        "font-weight": "font",
        "fill": "color",
    },
}


def render_svg(nodes: list[GraphNode], *, layout: str = "LR") -> str:
    """The plan as a self-contained, script-free SVG; raises GraphUnavailable when dot cannot help."""
    if not nodes:
        raise ValueError("no nodes to draw")
    return sanitize(run_dot(dot_source(nodes, layout=layout)), nodes, layout=layout)


def sanitize(svg: str, nodes: list[GraphNode], *, layout: str) -> str:
    try:
        source = ET.fromstring(svg)  # noqa: S314 — dot's own output, from labels escaped above
    except ET.ParseError as exc:
        raise GraphUnavailable(f"Graphviz's SVG could not be read ({exc}).") from exc
    view_box = source.get("viewBox", "")
    if _local(source.tag) != "svg" or not _NUMBERS.match(view_box):
        raise GraphUnavailable("Graphviz's SVG has no usable viewBox.")
    numbers = [float(n) for n in re.split(r"[ ,]+", view_box.strip())]
    if len(numbers) != 4:
        raise GraphUnavailable("Graphviz's SVG has no usable viewBox.")
    width, height = numbers[2], numbers[3]
    root = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "viewBox": " ".join(f"{n:g}" for n in numbers),
            "width": f"{width:.0f}",
            "height": f"{height:.0f}",
            "class": "plan-graph",
            "role": "group",
            "aria-label": describe(nodes),
            "data-engine": "graphviz",
            "data-layout": layout,
            "data-font-size": str(FONT_SIZE),
        },
    )
    by_id = {f"n{i}": node for i, node in enumerate(nodes)}
    edges = edge_list(nodes)
    for child in source:
        _copy(child, root, by_id, edges, top=True)
    return ET.tostring(root, encoding="unicode")


def describe(nodes: list[GraphNode]) -> str:
    parts = [
        f"{node.key} after {', '.join(node.depends_on)}" if node.depends_on else f"{node.key} first" for node in nodes
    ]
    return "Dependencies: " + "; ".join(parts)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _copy(
    element: ET.Element,
    parent: ET.Element,
    by_id: dict[str, GraphNode],
    edges: list[tuple[str, str]],
    *,
    top: bool = False,
) -> None:
    tag = _local(element.tag)
    if tag not in _ALLOWED or (top and tag != "g"):
        return  # <title>, <a>, <script>, <image>, <style>, anything else: dropped with its children
    if tag == "polygon" and parent.get("class") == "layout":
        return  # dot's background
    allowed = _ALLOWED[tag]
    attributes = {
        name: value
        for name, value in element.attrib.items()
        if name in allowed and _VALUES[allowed[name]].match(value.strip())
    }
    copy = ET.SubElement(parent, tag, attributes)
    if tag == "g":
        _label_group(copy, element.get("id", ""), by_id, edges, top=top)
    if tag == "text":
        copy.text = clean_text(element.text, 500)
        return
    for child in element:
        _copy(child, copy, by_id, edges)


def _label_group(
    group: ET.Element, dot_id: str, by_id: dict[str, GraphNode], edges: list[tuple[str, str]], *, top: bool
) -> None:
    """Our own class, data attributes and <title> on a node's or an edge's group (never dot's)."""
    if top:
        group.set("class", "layout")
        return
    node = by_id.get(dot_id)
    if node is not None:
        group.attrib.update(
            {
                "class": f"node status-{_css_word(node.status)}",
                "data-key": node.key,
                "data-status": _css_word(node.status),
                "tabindex": "0",
                "role": "link" if node.session else "button",
                "aria-label": f"{unwrap(node.lines)}: {node.status.replace('_', ' ')}",
                "data-label": unwrap(node.lines),
            }
        )
        if node.run:
            group.set("data-run", node.run)
        if node.session:
            group.set("data-session", node.session)
        ET.SubElement(group, "title").text = node.title
        return
    match = re.fullmatch(r"e(\d+)", dot_id)
    if match and int(match.group(1)) < len(edges):
        source, target = edges[int(match.group(1))]
        group.attrib.update({"class": "edge", "data-from": source, "data-to": target})
        ET.SubElement(group, "title").text = f"{source} → {target}"


def _css_word(value: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "", value.lower())[:30] or "pending"
