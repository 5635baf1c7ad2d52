// The plan's DAG. Graphviz lays it out on the server (GET /development/{id}/graph.svg, a script-free SVG);
// this module puts it in the page, colours its nodes by status (CSS classes, no new layout per event),
// and opens a node: an agent's transcript, or a child session's page. Without Graphviz on the server
// (503) it draws the graph itself, in columns by dependency depth, and says so.

const NS = "http://www.w3.org/2000/svg";
const MIN_FONT_PX = 11;           // labels are never shown smaller: a wide graph scrolls inside its box
const graphs = new WeakMap();     // container → {key, nodes, statusOf, options, layouts, shown}
let transcriptModule = null;

/**
 * drawGraph(container, nodes, statusOf, options)
 * nodes: [{slug, depends_on, label?, run?, session?}]; statusOf(slug) → status;
 * options.runOf(slug) → the agent's current run id (clicks open its transcript).
 * Called again with the same nodes it only repaints the statuses.
 */
export function drawGraph(container, nodes, statusOf, options = {}) {
  let graph = graphs.get(container);
  if (!graph) {
    graph = { layouts: {} };
    graphs.set(container, graph);
    listen(container, graph);
  }
  Object.assign(graph, { nodes, statusOf, options });
  const key = JSON.stringify(nodes.map((n) => [n.slug, n.depends_on || []]));
  if (graph.key === key) { paint(container, graph); return; }
  graph.key = key;
  graph.layouts = {};
  layOut(container, graph, key);
}

async function layOut(container, graph, key) {
  const url = container.dataset.graphUrl;
  if (!url) { drawLocal(container, graph, "no layout service"); return; }
  try {
    const wide = await fetchLayout(url, "LR");
    if (graph.key !== key) return;  // the plan changed while we waited
    graph.layouts.LR = wide;
    await show(container, graph, key);
  } catch (error) {
    if (graph.key === key) drawLocal(container, graph, error.message);
  }
}

async function fetchLayout(url, layout) {
  const response = await fetch(`${url}?layout=${layout}`, { credentials: "same-origin" });
  if (!response.ok) {
    const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
    throw new Error(body?.detail || `${response.status} ${response.statusText}`);
  }
  const doc = new DOMParser().parseFromString(await response.text(), "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg" || doc.querySelector("parsererror")) throw new Error("the layout could not be read");
  // The server sends shapes and text only; drop anything else in case a proxy added it.
  svg.querySelectorAll("script, foreignObject, a, image, style, iframe").forEach((node) => node.remove());
  for (const node of [svg, ...svg.querySelectorAll("*")]) {
    for (const attr of [...node.attributes]) if (/^on|href$/i.test(attr.name)) node.removeAttribute(attr.name);
  }
  return document.importNode(svg, true);
}

// The width the graph may use: its box's, or its panel's while the box is not laid out yet.
function roomFor(container) {
  if (container.clientWidth) return container.clientWidth;
  const panel = container.parentElement;
  if (!panel?.clientWidth) return 0;
  const style = getComputedStyle(panel);
  return panel.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
}

// The smallest width at which a layout's labels are still MIN_FONT_PX on screen.
const minWidth = (svg) => svg.viewBox.baseVal.width * MIN_FONT_PX / Number(svg.dataset.fontSize || 14);

// Left to right when it fits the box at a readable size; else top to bottom when that is narrower.
async function show(container, graph, key) {
  const room = roomFor(container);
  let svg = graph.layouts.LR;
  if (minWidth(svg) > room) {
    if (!graph.layouts.TB) {
      try { graph.layouts.TB = await fetchLayout(container.dataset.graphUrl, "TB"); } catch { graph.layouts.TB = null; }
      if (graph.key !== key) return;
    }
    if (graph.layouts.TB && minWidth(graph.layouts.TB) < minWidth(svg)) svg = graph.layouts.TB;
  }
  svg.style.minWidth = `${Math.ceil(minWidth(svg))}px`;  // CSSOM, allowed by the CSP
  if (graph.shown !== svg) {
    container.replaceChildren(svg);
    graph.shown = svg;
  }
  container.dataset.engine = "graphviz";
  container.dataset.layout = svg.dataset.layout;
  paint(container, graph);
}

function paint(container, graph) {
  for (const node of container.querySelectorAll("g.node[data-key]")) {
    const key = node.dataset.key;
    const status = String(graph.statusOf(key) || node.dataset.status || "pending");
    if (node.dataset.status !== status || !node.classList.contains(`status-${status}`)) {
      node.setAttribute("class", `node status-${status}`);
      node.dataset.status = status;
      node.setAttribute("aria-label", `${node.dataset.label || key}: ${status.replace("_", " ")}`);
    }
    const run = graph.options.runOf?.(key);
    if (run) node.dataset.run = run;
  }
}

function listen(container, graph) {
  const open = (event) => {
    const node = event.target.closest?.("g.node[data-key]");
    if (!node || !container.contains(node)) return;
    if (event.type === "keydown" && event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    if (node.dataset.session) { window.location.assign(`/development/${node.dataset.session}/`); return; }
    const run = graph.options.runOf?.(node.dataset.key) || node.dataset.run;
    if (run) openTranscript(run);
  };
  container.addEventListener("click", open);
  container.addEventListener("keydown", open);
  let timer = null;
  window.addEventListener("resize", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (graph.layouts.LR) show(container, graph, graph.key);
      else if (graph.fallback) drawLocal(container, graph, graph.fallback);
    }, 150);
  });
}

// The transcript panel's module when it is there; otherwise an event the page can listen to.
async function openTranscript(run) {
  transcriptModule ||= import("./transcript.js").catch(() => null);
  const module = await transcriptModule;
  if (typeof module?.openTranscript === "function") module.openTranscript(run);
  else document.dispatchEvent(new CustomEvent("harness:open-transcript", { detail: { run } }));
}

// --- without Graphviz: columns by dependency depth, drawn here -------------------------------------------

function drawLocal(container, graph, reason) {
  const { nodes } = graph;
  graph.fallback = reason;
  const bySlug = Object.fromEntries(nodes.map((n) => [n.slug, n]));
  const depth = {};
  const depthOf = (slug, seen = new Set()) => {
    if (depth[slug] !== undefined) return depth[slug];
    if (seen.has(slug)) return 0;
    seen.add(slug);
    const parents = (bySlug[slug]?.depends_on || []).filter((p) => bySlug[p]);
    depth[slug] = parents.length ? 1 + Math.max(...parents.map((p) => depthOf(p, seen))) : 0;
    return depth[slug];
  };
  nodes.forEach((n) => depthOf(n.slug));
  const layers = [];
  nodes.forEach((n) => { (layers[depth[n.slug]] ||= []).push(n); });
  const font = 13, lineH = 16, charW = 7.4, gap = 36, pad = 6;
  const linesOf = (n) => wrap(n.label ? shorten(n.label, 64) : n.slug, 18);  // a slug is never cut
  const boxW = Math.max(90, ...nodes.map((n) => Math.max(...linesOf(n).map((l) => l.length)) * charW + 20));
  const boxH = (n) => linesOf(n).length * lineH + 14;
  const rowH = Math.max(...nodes.map(boxH));
  // Left to right: a column per depth. Top to bottom (when that fits better): a row per depth, centred.
  const wideW = layers.length * (boxW + gap) - gap + 2 * pad;
  const tallW = Math.max(...layers.map((l) => l.length)) * (boxW + gap / 2) - gap / 2 + 2 * pad;
  const room = roomFor(container) || wideW;
  const tall = wideW * MIN_FONT_PX / font > room && tallW < wideW;
  const position = {};
  let width, height;
  if (tall) {
    width = tallW;
    height = layers.length * (rowH + gap) - gap + 2 * pad;
    layers.forEach((layer, row) => {
      const left = (width - (layer.length * (boxW + gap / 2) - gap / 2)) / 2;
      layer.forEach((n, i) => {
        position[n.slug] = { x: left + i * (boxW + gap / 2), y: pad + row * (rowH + gap) + (rowH - boxH(n)) / 2, h: boxH(n) };
      });
    });
  } else {
    width = wideW;
    height = 0;
    layers.forEach((layer, column) => {
      let y = pad;
      for (const n of layer) {
        position[n.slug] = { x: pad + column * (boxW + gap), y, h: boxH(n) };
        y += boxH(n) + gap / 2.5;
      }
      height = Math.max(height, y - gap / 2.5 + pad);
    });
  }
  const svg = document.createElementNS(NS, "svg");
  const set = (node, attrs) => { for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v); return node; };
  set(svg, {
    viewBox: `0 0 ${width} ${height}`, width, height, class: "plan-graph", role: "group",
    "data-engine": "browser", "data-layout": tall ? "TB" : "LR", "data-font-size": font,
  });
  svg.setAttribute("aria-label", "Dependencies: " + nodes.map((n) =>
    (n.depends_on || []).length ? `${n.slug} after ${n.depends_on.join(", ")}` : `${n.slug} first`).join("; "));
  const markerId = `arrow-${container.id || "graph"}`;
  const defs = document.createElementNS(NS, "defs");
  const marker = set(document.createElementNS(NS, "marker"), {
    id: markerId, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto",
  });
  marker.append(set(document.createElementNS(NS, "path"), { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }));
  defs.append(marker);
  svg.append(defs);
  for (const n of nodes) {
    for (const parent of n.depends_on || []) {
      if (!position[parent] || parent === n.slug) continue;
      const from = position[parent], to = position[n.slug];
      const d = tall
        ? (({ x1, y1, x2, y2 }) => `M${x1},${y1} C${x1},${y1 + gap / 2} ${x2},${y2 - gap / 2} ${x2},${y2}`)(
          { x1: from.x + boxW / 2, y1: from.y + from.h, x2: to.x + boxW / 2, y2: to.y - 1 })
        : (({ x1, y1, x2, y2 }) => `M${x1},${y1} C${x1 + gap / 2},${y1} ${x2 - gap / 2},${y2} ${x2},${y2}`)(
          { x1: from.x + boxW, y1: from.y + from.h / 2, x2: to.x - 1, y2: to.y + to.h / 2 });
      const edge = set(document.createElementNS(NS, "g"), { class: "edge", "data-from": parent, "data-to": n.slug });
      edge.append(set(document.createElementNS(NS, "path"), { d, "marker-end": `url(#${markerId})` }));
      svg.append(edge);
    }
  }
  for (const n of nodes) {
    const { x, y, h } = position[n.slug];
    const group = set(document.createElementNS(NS, "g"), {
      class: "node status-pending", "data-key": n.slug, "data-label": linesOf(n).join(" ").replace(/([-_/]) /g, "$1"),
      tabindex: 0, role: n.session ? "link" : "button",
    });
    if (n.run) group.dataset.run = n.run;
    if (n.session) group.dataset.session = n.session;
    const title = document.createElementNS(NS, "title");
    title.textContent = n.label || n.slug;
    group.append(title, set(document.createElementNS(NS, "rect"), { x, y, width: boxW, height: h, rx: 6 }));
    linesOf(n).forEach((line, i) => {
      const text = set(document.createElementNS(NS, "text"), {
        x: x + boxW / 2, y: y + 7 + lineH * (i + 1) - 4, "text-anchor": "middle", "font-size": font,
      });
      text.textContent = line;
      group.append(text);
    });
    svg.append(group);
  }
  svg.style.minWidth = `${Math.ceil(width * MIN_FONT_PX / font)}px`;
  const note = document.createElement("p");
  note.className = "graph-note";
  note.textContent = `Laid out in the browser: ${reason}`;
  container.replaceChildren(svg, note);
  container.dataset.engine = "browser";
  container.dataset.layout = tall ? "TB" : "LR";
  graph.shown = svg;
  paint(container, graph);
}

function shorten(text, limit) {
  return text.length <= limit ? text : `${text.slice(0, limit - 1).replace(/\s+\S*$/, "")}…`;
}

function wrap(text, width) {
  const tokens = String(text).match(/[^\s\-_/]*[\-_/]+|[^\s\-_/]+/g) || ["?"];
  const lines = [];
  let line = "";
  for (const token of tokens) {
    const gap = !line || /[\-_/]$/.test(line) ? "" : " ";
    if (line && line.length + gap.length + token.length > width) { lines.push(line); line = token; }
    else line += gap + token;
    while (line.length > width) { lines.push(line.slice(0, width)); line = line.slice(width); }
  }
  if (line) lines.push(line);
  return lines;
}
