// The code workspace: the session's files as a tree (folders fold, each file marked with who changed it),
// the Changes view (every changed file with its diffs, filtered by agent, person or run; one request to
// GET …/changes/) and diffs drawn unified or side by side, each in its own scrolling box.

const MODE_KEY = "harness.diffMode";

// --- diffs -------------------------------------------------------------------------------------------

/** A unified diff's lines as rows: {kind: "hunk"|"context"|"add"|"del", old, new, text}. */
export function parseDiff(diff) {
  const rows = [];
  let oldNo = 0, newNo = 0;
  for (const line of (diff || "").split("\n")) {
    if (line.startsWith("---") || line.startsWith("+++")) continue;
    const hunk = line.match(/^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/);
    if (hunk) { oldNo = Number(hunk[1]); newNo = Number(hunk[2]); rows.push({ kind: "hunk", text: line }); continue; }
    if (line.startsWith("+")) rows.push({ kind: "add", new: newNo++, text: line.slice(1) });
    else if (line.startsWith("-")) rows.push({ kind: "del", old: oldNo++, text: line.slice(1) });
    else if (line.startsWith(" ")) rows.push({ kind: "context", old: oldNo++, new: newNo++, text: line.slice(1) });
    else if (line.startsWith("\\")) rows.push({ kind: "context", text: line });
  }
  return rows;
}

/** Side by side: removed lines face the added lines that replace them, context on both sides. */
function pairRows(rows) {
  const pairs = [];
  let dels = [], adds = [];
  const flush = () => {
    for (let i = 0; i < Math.max(dels.length, adds.length); i++) pairs.push({ left: dels[i] || null, right: adds[i] || null });
    dels = []; adds = [];
  };
  for (const row of rows) {
    if (row.kind === "del") { if (adds.length) flush(); dels.push(row); continue; }
    if (row.kind === "add") { adds.push(row); continue; }
    flush();
    pairs.push(row.kind === "hunk" ? { hunk: row } : { left: row, right: row });
  }
  flush();
  return pairs;
}

/** A diff as a table inside its own horizontally scrolling box: `mode` is "unified" or "split". */
export function renderDiff(el, diff, mode) {
  const rows = parseDiff(diff);
  const box = el("div", { class: "diff-box", tabindex: "0", role: "region", "aria-label": `Diff (${mode === "split" ? "side by side" : "unified"})` });
  if (!rows.length) { box.append(el("p", { class: "muted diff-empty" }, "no changes")); return box; }
  const cell = (cls, text) => el("td", { class: cls }, text === undefined || text === null ? "" : String(text));
  const table = el("table", { class: `diff diff-${mode}` });
  if (mode === "split") {
    for (const pair of pairRows(rows)) {
      if (pair.hunk) { table.append(el("tr", { class: "diff-hunk" }, el("td", { colspan: "4" }, pair.hunk.text))); continue; }
      const side = (row, which) => {
        if (!row) return [cell("ln empty", ""), cell("code empty", "")];
        const kind = row.kind === "context" ? "context" : row.kind;
        return [cell(`ln ${kind}`, which === "old" ? row.old : row.new), cell(`code ${kind}`, row.text)];
      };
      table.append(el("tr", {}, ...side(pair.left, "old"), ...side(pair.right, "new")));
    }
  } else {
    for (const row of rows) {
      if (row.kind === "hunk") { table.append(el("tr", { class: "diff-hunk" }, el("td", { colspan: "3" }, row.text))); continue; }
      const sign = { add: "+", del: "-", context: " " }[row.kind];
      table.append(el("tr", { class: `diff-${row.kind}` },
        cell(`ln ${row.kind}`, row.old), cell(`ln ${row.kind}`, row.new), cell(`code ${row.kind}`, `${sign}${row.text}`)));
    }
  }
  box.append(table);
  return box;
}

// --- the workspace -----------------------------------------------------------------------------------

const authorKey = (a) => (a.kind === "agent" ? `agent:${a.name}` : `person:${a.name || "someone"}`);

export class Workspace {
  /** open(artifactId, path): show a file in the viewer; el, api: the page's element builder and JSON client. */
  constructor({ sessionId, el, api, open }) {
    Object.assign(this, { sessionId, el, api, open });
    this.tree = document.getElementById("files");
    this.changesList = document.getElementById("changes");
    this.filter = document.getElementById("changes-filter");
    this.authors = {};        // path → Set of "agent:slug" / "person:name" (from the artifact events)
    this.folded = new Set();  // folders the person closed
    this.signature = "";
    this.changes = null;      // the last GET …/changes/
    this.stale = true;
    this.loading = null;
    this.mode = localStorage.getItem(MODE_KEY) === "split" ? "split" : "unified";
    this.chosen = false;      // the person picked a file: do not open one for them
    this.tabs = [...document.querySelectorAll("#code-panel [role=tab]")];
    for (const tab of this.tabs) tab.addEventListener("click", () => this.showTab(tab.dataset.view));
    this.filter?.addEventListener("change", () => this.renderChanges());
    for (const button of document.querySelectorAll("[data-diff-mode]")) {
      button.addEventListener("click", () => this.setMode(button.dataset.diffMode));
    }
    this.renderModeButtons();
  }

  /** An artifact.created/updated event: who changed which file (the tree's markers), and the changes are stale. */
  noteChange(event) {
    const path = event.data.path;
    const who = event.actor.kind === "agent" ? `agent:${event.data.agent || event.actor.id || event.actor.name}` : `person:${event.actor.name}`;
    (this.authors[path] ||= new Set()).add(who);
    this.stale = true;
    if (this.visible("changes")) this.loadChangesSoon();
  }

  visible(view) {
    const section = document.getElementById(`${view}-view`);
    return section && !section.hidden;
  }

  showTab(view) {
    for (const tab of this.tabs) {
      const on = tab.dataset.view === view;
      tab.setAttribute("aria-selected", String(on));
      tab.classList.toggle("active", on);
      document.getElementById(`${tab.dataset.view}-view`).hidden = !on;
    }
    if (view === "changes") this.loadChanges();
  }

  setMode(mode) {
    this.mode = mode === "split" ? "split" : "unified";
    localStorage.setItem(MODE_KEY, this.mode);
    this.renderModeButtons();
    this.renderChanges();
    this.onMode?.();
  }

  renderModeButtons() {
    for (const button of document.querySelectorAll("[data-diff-mode]")) {
      button.setAttribute("aria-pressed", String(button.dataset.diffMode === this.mode));
    }
  }

  // --- the tree ----------------------------------------------------------------------------------------

  /** files: path → {id, version}; draws the tree again only when something in it changed. */
  renderTree(files, selectedPath) {
    const paths = Object.keys(files).sort();
    const signature = JSON.stringify([paths.map((p) => [p, files[p].version, [...(this.authors[p] || [])]]), selectedPath]);
    if (signature === this.signature) return;
    this.signature = signature;
    const el = this.el;
    const root = { folders: {}, files: [] };
    for (const path of paths) {
      const parts = path.split("/");
      let node = root;
      for (const part of parts.slice(0, -1)) node = (node.folders[part] ||= { folders: {}, files: [] });
      node.files.push({ name: parts[parts.length - 1], path });
    }
    const draw = (node, prefix) => {
      const items = [];
      for (const name of Object.keys(node.folders).sort()) {
        const folder = prefix + name + "/";
        const details = el("details", { class: "folder", "data-folder": folder },
          el("summary", {}, el("span", { class: "folder-name" }, `${name}/`)),
          el("ul", { class: "tree" }, ...draw(node.folders[name], folder)));
        details.open = !this.folded.has(folder);
        details.addEventListener("toggle", () => { if (details.open) this.folded.delete(folder); else this.folded.add(folder); });
        items.push(el("li", {}, details));
      }
      for (const file of node.files) {
        const meta = files[file.path];
        const who = [...(this.authors[file.path] || [])];
        const markers = el("span", { class: "markers" }, ...who.map((key) => {
          const [kind, name] = key.split(/:(.*)/s);
          return el("span", { class: `marker marker-${kind}`, title: `changed by ${name}` }, name);
        }));
        items.push(el("li", {}, el("button", {
          type: "button", class: file.path === selectedPath ? "file selected" : "file", "data-path": file.path,
          "aria-current": file.path === selectedPath ? "true" : "false", title: file.path,
          onclick: () => { this.chosen = true; this.open(meta.id, file.path); },
        }, el("span", { class: "file-name" }, file.name), " ", el("span", { class: "muted" }, `v${meta.version}`), markers)));
      }
      return items;
    };
    this.tree.replaceChildren(...draw(root, ""));
    const empty = document.getElementById("files-empty");
    if (empty) empty.hidden = paths.length > 0;
  }

  /** Opens the first file of the tree (as drawn: folders first) unless the person has chosen one already. */
  openFirst(files, selectedPath) {
    if (this.chosen || selectedPath) return;
    this.renderTree(files, selectedPath);
    const first = this.tree.querySelector("button.file")?.dataset.path;
    if (first && files[first]) { this.chosen = true; this.open(files[first].id, first); }
  }

  // --- the Changes view --------------------------------------------------------------------------------

  loadChangesSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.loadChanges(), 800);
  }

  async loadChanges(force = false) {
    if (!this.stale && !force && this.changes) { this.renderChanges(); return this.changes; }
    if (this.loading) return this.loading;
    this.loading = (async () => {
      try {
        this.stale = false;
        this.changes = await this.api("GET", `sessions/${this.sessionId}/changes/`);
        this.renderFilter();
        this.renderChanges();
      } catch (error) {
        this.stale = true;
        if (this.changesList) this.changesList.replaceChildren(this.el("li", { class: "error" }, `Changes could not be loaded: ${error.message}`));
      } finally {
        this.loading = null;
      }
      return this.changes;
    })();
    return this.loading;
  }

  /** The raw diff of one version, from the Changes data (read again if it does not have it yet). */
  async diffOf(artifactId, version) {
    const find = () => {
      const file = (this.changes?.files || []).find((f) => f.artifact === artifactId);
      return file?.changes.find((c) => c.version === Number(version));
    };
    if (!find()) { this.stale = true; await this.loadChanges(); }
    return find()?.diff ?? null;
  }

  renderFilter() {
    if (!this.filter) return;
    const el = this.el;
    const current = this.filter.value;
    const options = [el("option", { value: "" }, "everyone")];
    const agents = (this.changes.authors || []).filter((a) => a.kind === "agent");
    const people = (this.changes.authors || []).filter((a) => a.kind !== "agent");
    const slugs = [...new Set(agents.map((a) => a.name))];
    if (slugs.length) options.push(el("optgroup", { label: "Agents" }, ...slugs.map((slug) => el("option", { value: `agent:${slug}` }, slug))));
    if (people.length) options.push(el("optgroup", { label: "People" }, ...people.map((p) => el("option", { value: authorKey(p) }, p.name || "someone"))));
    const runs = agents.filter((a) => a.run);
    if (runs.length) {  // one run of an agent on its own (a retried agent has several)
      options.push(el("optgroup", { label: "Runs" }, ...runs.map((a) => el("option", { value: `run:${a.run}` }, `${a.name} · ${a.run}`))));
    }
    this.filter.replaceChildren(...options);
    this.filter.value = [...this.filter.options].some((o) => o.value === current) ? current : "";
  }

  matches(change) {
    const wanted = this.filter?.value || "";
    if (!wanted) return true;
    if (wanted.startsWith("run:")) return change.author.run === wanted.slice(4);
    return authorKey(change.author) === wanted;
  }

  renderChanges() {
    if (!this.changesList || !this.changes) return;
    const el = this.el;
    const items = [];
    let shown = 0;
    for (const file of this.changes.files) {
      const changes = file.changes.filter((c) => this.matches(c));
      if (!changes.length) continue;
      shown++;
      const added = changes.reduce((n, c) => n + c.added, 0);
      const removed = changes.reduce((n, c) => n + c.removed, 0);
      const who = [...new Set(changes.map((c) => c.author.name || "someone"))];
      const body = el("div", { class: "change-body" });
      for (const change of changes) {
        body.append(el("p", { class: "change-head muted" },
          `v${change.version} by ${change.author.name || "someone"} · `, el("span", { class: "added" }, `+${change.added}`), " ",
          el("span", { class: "removed" }, `−${change.removed}`),
          change.truncated ? " · cut here; open the file for the whole diff" : ""),
        renderDiff(el, change.diff, this.mode));
      }
      const details = el("details", { class: "change", open: "" },
        el("summary", {},
          el("span", { class: "change-path" }, file.path), " ",
          el("span", { class: "added" }, `+${added}`), " ", el("span", { class: "removed" }, `−${removed}`), " ",
          el("span", { class: "markers" }, ...who.map((name) => el("span", { class: "marker" }, name))),
          " ", el("button", { type: "button", class: "link open-file", onclick: (e) => { e.preventDefault(); this.chosen = true; this.showTab("files"); this.open(file.artifact, file.path); } }, "open")),
        body);
      items.push(el("li", { "data-path": file.path }, details));
    }
    if (!shown) items.push(el("li", { class: "muted" }, this.changes.files.length ? "No change by them." : "No file has changed yet."));
    this.changesList.replaceChildren(...items);
    const count = document.getElementById("changes-count");
    if (count) count.textContent = `${shown} file${shown === 1 ? "" : "s"}`;
  }
}
