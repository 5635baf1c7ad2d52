// The Checks panel: the latest checks of the session's files in the sandbox, a badge per check
// (compile ✓ · lint 2 ✗ · tests 12/12 ✓), each expandable to its findings and output tail, every
// finding a link to its file and line in the code panel. Built from the verification.* events as
// they stream, and from GET …/verification/ (the whole report) on load and after each live report.

const FINISHED = new Set(["passed", "failed", "not_verified"]);
const STATUS_LABEL = { pending: "pending", running: "running…", passed: "passed", failed: "failed", not_verified: "not verified" };
const MARK = { passed: "✓", failed: "✗", error: "!", timeout: "⏱", skipped: "–" };

// The same badge as the server's summary (agents_app/verification/checks.py `_badge`).
export function badgeText(result) {
  const { label, status } = result;
  const counts = result.counts || {};
  if (status === "skipped") return `${label} skipped`;
  if (status === "timeout") return `${label} timeout`;
  if (status === "error") return `${label} error`;
  if (["pytest", "node-test"].includes(result.tool) && counts.tests !== undefined && counts.tests !== null) {
    return `${label} ${counts.passed || 0}/${counts.tests || 0} ${status === "passed" ? "✓" : "✗"}`;
  }
  if (status === "passed") return `${label} ✓`;
  return `${label} ${counts.errors || (result.findings || []).length} ✗`;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const seconds = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`);

export class ChecksPanel {
  /**
   * el: the page's element builder; files(): path → {id} of the session's files;
   * open(artifactId, path, line): show that line in the code viewer; api(method, path): JSON or throws.
   */
  constructor({ sessionId, initial, el, files, open, api, liveAfter }) {
    this.sessionId = sessionId;
    this.el = el;
    this.files = files;
    this.open = open;
    this.api = api;
    this.liveAfter = liveAfter;        // events with a higher seq happen now, not in the replay
    this.runs = {};                    // verification id → what its events said
    this.reports = {};                 // verification id → GET …/verification/ (the whole report)
    this.current = initial && initial.id ? initial.id : null;
    if (initial && initial.id) this.reports[initial.id] = { ...initial, report: null };
    this.expanded = new Set();         // "tool" of the checks the person opened
    this.root = document.getElementById("checks-panel");
    this.rerun = document.getElementById("rerun-checks");
    if (this.rerun) this.rerun.addEventListener("click", () => this.requestRerun());
  }

  async load() {
    try {
      const latest = await this.api("GET", `sessions/${this.sessionId}/verification/`);
      if (!latest.id) return;
      this.reports[latest.id] = latest;
      if (!this.current || !this.runs[this.current]) this.current = latest.id;
      this.render();
    } catch (error) { /* the events still draw the panel */ }
  }

  apply(event) {
    if (!event.type.startsWith("verification.")) return false;
    const data = event.data || {};
    if (!data.verification) return false;
    const run = (this.runs[data.verification] ||= { id: data.verification, status: "pending", round: 0, reason: "", summary: "", planned: [], results: [] });
    this.current = data.verification;
    if (data.round !== undefined) run.round = data.round;
    switch (event.type) {
      case "verification.queued":
        Object.assign(run, { status: "pending", planned: [], results: [], files: data.files, requeued: data.reason || "" });
        break;
      case "verification.started":
        Object.assign(run, { status: "running", planned: data.checks || [], results: [] });
        break;
      case "verification.check": {
        const result = { ...data };
        delete result.verification;
        run.results = run.results.filter((r) => r.tool !== result.tool).concat([result]);
        break;
      }
      case "verification.completed":
        Object.assign(run, { status: data.status, summary: data.summary || "", reason: data.reason || "" });
        if (event.seq > this.liveAfter) {
          this.load();  // the whole report: every finding, who asked
          const asked = document.getElementById("rerun-status");
          if (asked && !asked.classList.contains("error")) asked.textContent = "";  // "queued…" is answered
        }
        break;
      default:
    }
    return true;
  }

  // What the panel shows: the latest check; its whole report once it has finished, else its events.
  shown() {
    const id = this.current;
    if (!id) return null;
    const run = this.runs[id];
    const latest = this.reports[id];
    if (latest && latest.report && (FINISHED.has(latest.status) || !run)) {
      const report = latest.report;
      return {
        id, status: latest.status, round: latest.round || 0, summary: latest.summary, reason: report.reason || "",
        results: report.checks || [], planned: [], requestedBy: latest.requested_by, durationMs: report.duration_ms,
        sandbox: report.sandbox,
      };
    }
    if (run) return run;
    return { id, status: latest.status, round: latest.round || 0, summary: latest.summary, reason: "", results: [], planned: [] };
  }

  render() {
    if (!this.root) return;
    const el = this.el;
    const shown = this.shown();
    const status = shown ? shown.status : "pending";
    this.root.dataset.status = status;
    this.root.dataset.verification = shown ? shown.id : "";
    const badge = document.getElementById("checks-status");
    badge.textContent = STATUS_LABEL[status] || status;
    badge.className = `badge check-${status}`;
    const round = shown ? shown.round : 0;
    document.getElementById("checks-round").textContent = round ? `after ${plural(round, "repair round")}` : "";

    const note = document.getElementById("checks-note");
    note.className = `checks-note note-${status}`;
    if (!shown) note.textContent = "pending — the checks run in a sandbox when the agents finish";
    else if (status === "not_verified") note.textContent = `not verified — ${shown.reason || shown.summary || "no sandbox could be made"}`;
    else if (status === "pending") note.textContent = shown.requeued ? `queued again (${shown.requeued})` : `queued${shown.files ? ` over ${plural(shown.files, "file")}` : ""}…`;
    else if (status === "running") note.textContent = `running in a sandbox: ${shown.planned.join(", ") || "…"}`;
    else note.textContent = shown.results.length ? "" : shown.summary;
    note.hidden = !note.textContent;

    const list = document.getElementById("checks");
    const items = (shown ? shown.results : []).map((result) => this.item(result));
    if (shown && status === "running") {
      const done = new Set(shown.results.map((r) => r.tool));
      for (const tool of shown.planned.filter((t) => !done.has(t))) {
        items.push(el("li", { class: "check check-waiting", "data-tool": tool, "data-status": "running" },
          el("span", { class: "check-badge" }, `${tool} …`)));
      }
    }
    list.replaceChildren(...items);

    const meta = [];
    if (shown && shown.durationMs !== undefined && FINISHED.has(status) && shown.results.length) meta.push(`took ${seconds(shown.durationMs)}`);
    if (shown && shown.sandbox && shown.sandbox.kind) meta.push(`in ${shown.sandbox.kind}${shown.sandbox.network === "none" ? ", no network" : ""}`);
    if (shown && shown.requestedBy) meta.push(`re-run by ${shown.requestedBy}`);
    if (shown && shown.id) meta.push(shown.id);
    document.getElementById("checks-meta").textContent = meta.join(" · ");
  }

  item(result) {
    const el = this.el;
    const findings = result.findings || [];
    const warnings = findings.filter((f) => f.severity === "warning").length;
    const details = el("details", { class: "check-details" });
    details.open = this.expanded.has(result.tool);
    // The tail's last lines say the most (pytest's summary): an opened output starts at its end.
    const toEnd = () => { const pre = details.querySelector(".check-output"); if (pre) pre.scrollTop = pre.scrollHeight; };
    details.addEventListener("toggle", () => {
      if (details.open) { this.expanded.add(result.tool); toEnd(); } else this.expanded.delete(result.tool);
    });
    if (details.open) requestAnimationFrame(toEnd);
    const extra = [];
    if (result.status === "passed" && warnings) extra.push(plural(warnings, "warning"));
    if (result.limit) extra.push(`${result.limit} limit`);
    details.append(el("summary", { "aria-label": `${result.label}: ${result.status}. Show output` },
      el("span", { class: `check-badge check-${result.status}` }, badgeText(result)),
      extra.length ? el("span", { class: "muted check-extra" }, extra.join(" · ")) : null));

    const facts = [`${result.tool}`, `exit ${result.exit_code ?? "—"}`, seconds(result.duration_ms || 0)];
    const counts = Object.entries(result.counts || {}).filter(([, n]) => n).map(([k, n]) => `${k} ${n}`);
    if (counts.length) facts.push(counts.join(", "));
    const body = el("div", { class: "check-body" }, el("p", { class: "muted check-facts" }, facts.join(" · ")));
    if (findings.length) {
      body.append(el("ul", { class: "findings", "aria-label": `${result.label} findings` },
        ...findings.map((finding) => this.finding(finding))));
    }
    if (result.output_tail) {
      body.append(el("pre", { class: "check-output", tabindex: "0", "aria-label": `${result.label} output` }, result.output_tail));
    } else if (!findings.length) {
      body.append(el("p", { class: "muted" }, "no output"));
    }
    details.append(body);
    return el("li", { class: `check check-${result.status}`, "data-tool": result.tool, "data-status": result.status }, details);
  }

  finding(finding) {
    const el = this.el;
    const where = finding.path ? `${finding.path}${finding.line ? `:${finding.line}` : ""}` : "";
    const file = finding.path ? this.files()[finding.path] : null;
    const place = file
      ? el("a", {
        href: "#code-panel", class: "finding-link", "data-path": finding.path, "data-line": String(finding.line || ""),
        title: `Open ${where} in the code panel`,
        onclick: (e) => { e.preventDefault(); this.open(file.id, finding.path, finding.line); },
      }, where)
      : (where ? el("span", { class: "mono" }, where) : null);
    const code = finding.code && finding.code !== "failed" ? finding.code : null;  // pytest's "failed" says nothing new
    const test = finding.test ? finding.test.split("::").pop() : null;
    return el("li", { class: `finding severity-${finding.severity || "error"}` },
      place, code ? el("code", { class: "finding-code" }, code) : null,
      test ? el("code", { class: "finding-test", title: finding.test }, test) : null,
      el("span", { class: "finding-message" }, finding.message || ""));
  }

  async requestRerun() {
    const status = document.getElementById("rerun-status");
    status.className = "";
    status.textContent = "asking…";
    this.rerun.disabled = true;
    try {
      const queued = await this.api("POST", `sessions/${this.sessionId}/verification/`);
      status.textContent = "queued — the report appears here when the checks finish";
      if (queued.id && !this.runs[queued.id]) { this.reports[queued.id] = queued; this.current = queued.id; this.render(); }
    } catch (error) {
      status.className = "error";
      status.textContent = error.message;  // e.g. 409: agents are still working
    } finally {
      this.rerun.disabled = false;
    }
  }
}
