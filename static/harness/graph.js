// The plan's DAG as an SVG: columns by dependency depth, one box per agent, edges as curves.

const NS = "http://www.w3.org/2000/svg";

export function drawGraph(container, agents, statusOf) {
  const depth = {};
  const bySlug = Object.fromEntries(agents.map((a) => [a.slug, a]));
  const depthOf = (slug, seen = new Set()) => {
    if (depth[slug] !== undefined) return depth[slug];
    if (seen.has(slug)) return 0;
    seen.add(slug);
    const parents = (bySlug[slug]?.depends_on || []).filter((p) => bySlug[p]);
    depth[slug] = parents.length ? 1 + Math.max(...parents.map((p) => depthOf(p, seen))) : 0;
    return depth[slug];
  };
  agents.forEach((a) => depthOf(a.slug));
  const columns = [];
  agents.forEach((a) => { (columns[depth[a.slug]] ||= []).push(a.slug); });
  const boxW = 130, boxH = 30, gapX = 40, gapY = 12;
  const width = columns.length * (boxW + gapX);
  const height = Math.max(...columns.map((c) => c.length)) * (boxH + gapY) + gapY;
  const position = {};
  columns.forEach((column, x) => column.forEach((slug, y) => {
    position[slug] = { x: x * (boxW + gapX) + 4, y: y * (boxH + gapY) + gapY };
  }));
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);  // never upscale a small plan; CSS shrinks a wide one

  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Dependencies: " + agents.map((a) =>
    a.depends_on.length ? `${a.slug} after ${a.depends_on.join(", ")}` : `${a.slug} first`).join("; "));
  for (const agent of agents) {
    for (const parent of agent.depends_on) {
      if (!position[parent]) continue;
      const from = position[parent], to = position[agent.slug];
      const path = document.createElementNS(NS, "path");
      const x1 = from.x + boxW, y1 = from.y + boxH / 2, x2 = to.x, y2 = to.y + boxH / 2;
      path.setAttribute("d", `M${x1},${y1} C${x1 + gapX / 2},${y1} ${x2 - gapX / 2},${y2} ${x2},${y2}`);
      path.setAttribute("class", "edge");
      svg.appendChild(path);
    }
  }
  for (const agent of agents) {
    const { x, y } = position[agent.slug];
    const group = document.createElementNS(NS, "g");
    group.setAttribute("class", `node status-${statusOf(agent.slug)}`);
    group.dataset.slug = agent.slug;
    const rect = document.createElementNS(NS, "rect");
    Object.entries({ x, y, width: boxW, height: boxH, rx: 6 }).forEach(([k, v]) => rect.setAttribute(k, v));
    const text = document.createElementNS(NS, "text");
    text.setAttribute("x", x + boxW / 2);
    text.setAttribute("y", y + boxH / 2 + 4);
    text.setAttribute("text-anchor", "middle");
    text.textContent = agent.slug.length > 18 ? `${agent.slug.slice(0, 17)}…` : agent.slug;
    const title = document.createElementNS(NS, "title");  // the full name on hover
    title.textContent = agent.slug;
    group.append(title, rect, text);
    svg.appendChild(group);
  }
  container.replaceChildren(svg);
}
