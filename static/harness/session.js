// The live session page: every panel is driven by the event stream (replayed, then live).
import { SessionStream } from "./live.js";
import { drawGraph } from "./graph.js";
import { ChecksPanel } from "./checks.js";
import { Workspace, renderDiff } from "./workspace.js";
import { transcripts, openTranscript } from "./transcript.js";
import { Conversation } from "./conversation.js";
import { Sharing } from "./sharing.js";
import { showResult } from "./action_result.js";
import { dollars } from "./money.js";

const root = document.getElementById("session");
const sessionId = root.dataset.session;
const initial = JSON.parse(document.getElementById("initial").textContent);
const can = initial.permissions;
const $ = (id) => document.getElementById(id);

const state = {
  status: initial.status,
  startedAt: initial.started_at ? new Date(initial.started_at) : null,
  finishedAt: initial.finished_at ? new Date(initial.finished_at) : null,
  plan: initial.plan && initial.plan.agents ? initial.plan.agents : [],
  ranking: initial.plan?.ranking || [],  // the offline ranking's scores, shown as the reasons' tooltips
  runs: {},          // slug → {id, status, progress, activity}
  files: {},         // path → {id, version, kind}
  approvals: {},     // id → {summary, status, agent}
  requirements: {},  // id → {text, source, status}
  watchers: {},
  selected: null,    // {id, path, version}
  seen: new Set(),
  usage: initial.usage,   // the session's own model calls, as the API gives them
  finalSpend: null,       // what session.completed said it spent ({tokens, cost}): for an epic, with its children
  childSpend: {},         // an epic's children: child id → {tokens, cost, estimated}
  children: initial.plan && initial.plan.children ? initial.plan.children : [],
};
const isEpic = Boolean(document.getElementById("children-panel"));
for (const child of initial.children || []) state.childSpend[child.id] = spendOf(child.usage);

for (const run of initial.runs) {
  state.runs[run.agent.slug] = { id: run.id, status: run.status, progress: run.progress, activity: run.current_activity };
}
for (const r of initial.requirements) state.requirements[r.id] = { text: r.text, source: r.source, status: r.status };
// The history as of initial.page.after (the server read it in a fixed number of queries): every file, the pending
// approvals, the shares and the feed's latest events; the stream then goes on from that seq instead of replaying
// the whole log, so a session of 10,000 events opens like a new one.
const page = initial.page || { after: 0, feed: [], files: {}, approvals: {}, shares: {} };
for (const [path, f] of Object.entries(page.files)) state.files[path] = { id: f.id, version: f.version, kind: f.kind };
Object.assign(state.approvals, page.approvals);
for (const child of initial.children || []) {  // the plan's children with their statuses as of now
  const known = state.children.find((c) => c.session === child.id);
  if (known) known.status = child.status;
}

function csrf() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function api(method, path, body) {
  const response = await fetch(`/api/v1/${path}`, {
    method, credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error(data?.detail || `${response.status} ${response.statusText}`);
  return data;
}

// An action's result shows beside the button that caused it (action_result.js); the rest below the controls.
function say(text, isError = false, near = null) {
  if (near) { showResult(near, text, isError); return; }
  const status = $("action-status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

async function act(label, fn, near = null) {
  try { await fn(); say(`${label} — sent`, false, near); } catch (error) { say(`${label}: ${error.message}`, true, near); }
}

// --- rendering -------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// Which session buttons make sense in each state (the server refuses the others anyway).
const SESSION_ACTIONS = {
  pause: ["created", "planning", "running"],
  resume: ["paused"],
  retry: ["failed"],
  cancel: ["created", "planning", "running", "paused", "failed"],
};

function renderHeader() {
  if ($("save-knowledge")) $("save-knowledge").hidden = state.status !== "completed";
  document.querySelectorAll("[data-session-action]").forEach((button) => {
    button.hidden = !SESSION_ACTIONS[button.dataset.sessionAction].includes(state.status);
  });
  // A finished session has no agent left to read feedback or requirements (the server says 409).
  const finished = ["completed", "failed", "cancelled"].includes(state.status);
  for (const id of ["feedback-form", "requirement-form"]) if ($(id)) $(id).hidden = finished;
  $("status").textContent = state.status;
  $("status").className = `badge status-${state.status}`;
  const watchers = Object.keys(state.watchers);
  $("watchers").textContent = watchers.length ? watchers.join(", ") : "—";
}

function renderRuns() {
  const list = $("runs");
  if (!list) return;
  list.replaceChildren();
  for (const agent of state.plan) {
    const run = state.runs[agent.slug] || { status: "pending", progress: 0, activity: "" };
    const controls = el("span", { class: "run-controls" });
    if (can.control && run.id) {
      const button = (action, label) => el("button", {
        type: "button", "data-run-action": action, "aria-label": `${label} ${agent.slug}`,
        onclick: (e) => act(`${label} ${agent.slug}`, () => api("POST", `sessions/${sessionId}/runs/${run.id}/${action}/`), e.currentTarget.parentElement),
      }, label);
      if (["running", "queued", "pending"].includes(run.status)) controls.append(button("pause", "Pause"));
      if (run.status === "paused") controls.append(button("resume", "Resume"));
      if (["failed", "cancelled"].includes(run.status)) controls.append(button("retry", "Retry"));
      if (!["completed", "failed", "cancelled"].includes(run.status)) controls.append(button("cancel", "Cancel"));
    }
    list.append(el("li", { class: `run run-${run.status}`, "data-agent": agent.slug, "data-status": run.status },
      el("div", { class: "run-head" },
        transcripts.available && run.id
          ? el("button", { type: "button", class: "agent-link", "data-transcript": run.id, title: `Read ${agent.slug}'s transcript`, onclick: () => openTranscript(run.id) }, agent.name || agent.slug)
          : el("strong", {}, agent.name || agent.slug),
        agent.restricted ? el("span", { class: "badge restricted" }, "restricted") : null,
        el("span", { class: `badge status-${run.status}` }, run.status.replace("_", " ")), controls),
      el("progress", { max: "100", value: String(run.progress), "aria-label": `${agent.slug} progress` }),
      agent.reason ? el("div", { class: "muted run-reason", ...scoreTip(agent.slug) }, agent.reason) : null,
      el("div", { class: "muted activity" }, run.activity || "")));
  }
  if (state.plan.length) {
    drawGraph($("graph"), state.plan, (slug) => (state.runs[slug] || {}).status || "pending",
      { runOf: (slug) => state.runs[slug]?.id });  // a click on a node opens that run's transcript
  }
}

// --- usage and cost: the same figures as GET /api/v1/sessions/{id}/ --------------------------------

function spendOf(usage) {
  return { tokens: usage.tokens_used, cost: Number(usage.cost_usd), estimated: usage.estimated };
}


const thousands = (n) => Number(n || 0).toLocaleString("en-US");

function renderUsage() {
  const own = state.usage;
  let tokens = own.tokens_used;
  let cost = Number(own.cost_usd);
  let estimated = own.estimated;
  const children = Object.values(state.childSpend);
  if (isEpic && children.length) {  // an epic's header counts what its children spent
    tokens += children.reduce((sum, c) => sum + c.tokens, 0);
    cost += children.reduce((sum, c) => sum + c.cost, 0);
    estimated = estimated || children.some((c) => c.estimated);
    $("usage-scope").textContent = `· the epic and its ${children.length} child session${children.length === 1 ? "" : "s"}`;
  }
  if (state.finalSpend) ({ tokens, cost } = state.finalSpend);
  $("tokens").textContent = String(tokens);
  $("cost").textContent = dollars(cost, estimated);
  $("cost").title = estimated ? "counted offline: nothing was billed" : `$${Number(cost.toFixed(6))} exactly`;  // never "$0.000000"
  $("usage-estimated").hidden = !estimated;
  const usage = $("usage");
  usage.dataset.tokens = String(tokens);
  usage.dataset.costUsd = cost.toFixed(6);
  usage.dataset.estimated = String(estimated);
  const kinds = ["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"];
  for (const kind of kinds) document.querySelector(`#usage-breakdown [data-kind="${kind}"]`).textContent = thousands(own[kind]);
  $("tokens").title = `input ${thousands(own.input_tokens)} · output ${thousands(own.output_tokens)} · `
    + `cache read ${thousands(own.cache_read_tokens)} · cache write ${thousands(own.cache_write_tokens)}`;
}

// Usage grows with every model call and no event carries each one: after the events that follow
// calls, read the session again (at most one request in flight; agent steps at most every 5 s).
let usageDue = null;
let usageTimer = null;
function refreshUsageSoon(event, delay) {
  if (event.seq !== null && event.seq !== undefined && event.seq <= initial.last_event_seq) return;  // already counted
  const due = Date.now() + delay;
  if (usageTimer && usageDue <= due) return;
  clearTimeout(usageTimer);
  usageDue = due;
  usageTimer = setTimeout(async () => {
    usageTimer = null;
    try {
      const session = await api("GET", `sessions/${sessionId}/`);
      state.usage = session.usage;
      for (const child of session.children || []) state.childSpend[child.id] = spendOf(child.usage);
      renderUsage();
    } catch (error) { /* the next event tries again */ }
  }, delay);
}

const USAGE_EVENTS = /^(screenshot\.analysed|session\.(plan_ready|completed|failed|cancelled|paused)|epic\.(breakdown_ready|child_status)|agent\.(completed|failed|retrying|paused|cancelled|truncated|continued|awaiting_approval))$/;

function renderChildren() {
  const list = $("children");
  if (!list) return;
  $("children-empty").hidden = state.children.length > 0;
  list.replaceChildren(...state.children.map((child) => el("li",
    { class: `run run-${child.status}`, "data-child": child.session, "data-status": child.status },
    el("div", { class: "run-head" },
      el("a", { href: `/development/${child.session}/` }, child.intent),
      el("span", { class: `badge status-${child.status}` }, child.status)),
    el("div", { class: "muted activity" },
      child.depends_on.length ? `after ${child.depends_on.join(", ")}` : "starts first", ` · ${child.key}`))));
  if (state.children.length) {
    const nodes = state.children.map((c) => ({ slug: c.key, depends_on: c.depends_on, label: c.intent, session: c.session }));
    const byKey = Object.fromEntries(state.children.map((c) => [c.key, c.status]));
    drawGraph($("children-graph"), nodes, (key) => byKey[key] || "created");
  }
}

function renderFiles() {
  workspace.renderTree(state.files, state.selected?.path);  // the tree and its markers: workspace.js
}

// A conflict's card comes from the approvals API: what Approve and Reject do, the other session (linked only
// for someone who may see it) and each path's diff. Fetched again when a conflict or a decision arrives.
let approvalCardsLoading = null;
function loadApprovalCards() {
  approvalCardsLoading ||= new Promise((done) => setTimeout(done, 300))
    .then(() => api("GET", `sessions/${sessionId}/approvals/?status=pending`))
    .then((cards) => { state.approvalCards = Object.fromEntries(cards.map((c) => [c.id, c])); renderApprovals(); })
    .catch(() => {})
    .finally(() => { approvalCardsLoading = null; });
}

function conflictCard(conflict) {
  const others = conflict.sessions.map((o) => (o.web_url ? el("a", { href: o.web_url }, o.label) : o.label));
  const files = conflict.files.map((f) => {
    const versions = `this session ${f.this_version ? `v${f.this_version}${f.this_version_written ? "" : " (not written yet)"}` : "—"}`
      + (f.other_version ? ` · other v${f.other_version}` : "");
    return f.diff
      ? el("details", {}, el("summary", {}, f.path, " ", el("span", { class: "muted" }, versions)), el("pre", { class: "diff-box" }, f.diff))
      : el("div", {}, f.path, " ", el("span", { class: "muted" }, versions));
  });
  return el("div", { class: "conflict" },
    el("div", {}, "Other session: ", ...others),
    el("p", { class: "effect" }, conflict.approve), el("p", { class: "effect" }, conflict.reject),
    conflict.if_undecided ? el("p", { class: "muted" }, conflict.if_undecided) : "",
    el("div", { class: "conflict-files" }, ...files));
}

function renderApprovals() {
  const list = $("approvals");
  const pending = Object.entries(state.approvals).filter(([, a]) => a.status === "pending");
  list.replaceChildren();
  if (!pending.length) { list.append(el("li", { class: "muted" }, "none pending")); return; }
  const cards = state.approvalCards || {};
  if (pending.some(([id]) => !cards[id])) loadApprovalCards();
  // Flagged conflicts (not held-back writes: an agent waits on those) can be closed in bulk, no decision needed.
  const flagged = pending.filter(([id]) => cards[id]?.conflict?.mode === "flag");
  if (can.decide && flagged.length) {
    const comment = el("input", { "aria-label": "Why no decision is needed", placeholder: "why (optional)" });
    const dismiss = el("button", { type: "button", "data-dismiss-conflicts": "" }, `Dismiss all conflicts (${flagged.length})`);
    dismiss.addEventListener("click", () => act("dismiss conflicts",
      () => api("POST", `sessions/${sessionId}/approvals/dismiss/`, { comment: comment.value }), dismiss));
    list.append(el("li", { class: "approvals-bulk" }, comment, dismiss));
  }
  for (const [id, approval] of pending) {
    const card = cards[id];
    const item = el("li", { "data-approval": id }, el("div", {}, el("strong", {}, approval.agent || ""), " ", card?.summary || approval.summary));
    if (card?.conflict) item.append(conflictCard(card.conflict));
    if (can.decide) {
      const comment = el("input", { "aria-label": `Comment on ${id}`, placeholder: "comment (optional)" });
      const decide = (decision) => act(`${decision} ${id}`, () => api("POST", `approvals/${id}/decide/`, { decision, comment: comment.value }));
      item.append(comment,
        el("button", { type: "button", class: "primary", onclick: () => decide("approve") }, "Approve"),
        el("button", { type: "button", class: "danger", onclick: () => decide("reject") }, "Reject"));
    } else {
      item.append(el("div", { class: "muted" }, "waiting for a lead"));
    }
    list.append(item);
  }
}

// The offline ranking's scores behind an agent's reason in words, as the reason's tooltip (when it ranked).
function scoreTip(slug) {
  const r = state.ranking.find((row) => row.slug === slug);
  if (!r) return {};
  const signed = (n) => (n > 0 ? `+${n}` : String(n));
  return { title: `score ${r.score}: text match (BM25) ${r.bm25} · ${r.phase} prior ${r.prior} · track record ${signed(r.history || 0)}` };
}

function renderRequirements() {
  const list = $("requirements");
  list.replaceChildren(...Object.values(state.requirements).filter((r) => r.status === "active").map((r) =>
    el("li", {}, r.text, " ", el("span", { class: "muted" }, `(${r.source})`))));
}

const DESCRIBE = {
  "session.created": (e) => `session created: ${e.data.intent}`,
  "session.plan_ready": (e) => `plan (${e.data.strategy}): ${e.data.agents.map((a) => a.slug).join(", ")}`,
  "session.phase_changed": (e) => `phase → ${e.data.to}`,
  "screenshot.analysed": (e) => `screenshot analysed (${e.data.source})`,
  "requirement.added": (e) => `requirement added: ${e.data.text}`,
  "requirement.updated": (e) => `requirement refined: ${e.data.text}`,
  "agent.completed": (e) => `${e.data.agent} completed: ${e.data.summary || ""}`,
  "agent.failed": (e) => `${e.data.agent} failed (${e.data.category || "error"}): ${e.data.error || ""}`,
  "agent.retrying": (e) => (e.data.automatic || e.data.attempt !== undefined
    ? `${e.data.agent} will retry (${e.data.category || "fault"}, attempt ${e.data.attempt}/${e.data.max_attempts})${retryAt(e.data)}: ${e.data.reason || ""}`
    : `${e.data.agent} retried by ${e.actor.name}${e.data.previous ? ` after ${e.data.previous}` : ""}`),
  "agent.tool_refused": (e) => `${e.data.agent} was refused ${e.data.tool} at step ${e.data.step}: ${e.data.reason}`,
  "agent.continued": (e) => `${e.data.agent} continues from step ${e.data.resumed_from_step} (slice ${e.data.attempt})`,
  "agent.truncated": (e) => `${e.data.agent}'s answer was cut off at step ${e.data.step} (${e.data.cuts}× in a row); told to go on`,
  "session.planning_retrying": (e) => `planning will retry (${e.data.category || "fault"}, attempt ${e.data.attempt}/${e.data.max_attempts})${retryAt(e.data)}: ${e.data.reason || ""}`,
  "artifact.created": (e) => `${e.actor.name} wrote ${e.data.path}`,
  "artifact.updated": (e) => `${e.actor.name} updated ${e.data.path} (v${e.data.version})`,
  "artifact.conflict": (e) => `conflict on ${e.data.path}: ${e.actor.name} vs ${e.data.latest_author}`,
  "feedback.submitted": (e) => `${e.actor.name}: “${e.data.text}”`,
  "feedback.delivered": (e) => `feedback delivered to ${e.data.agent}`,
  "approval.requested": (e) => `approval requested: ${e.data.summary}`,
  "conflict.detected": (e) => `⚠ conflict: ${e.data.path} is also written by ${e.data.sessions.map((o) => o.id).join(", ")}${e.data.elsewhere ? "" : " — a lead decides"}`,
  "epic.breakdown_ready": (e) => `split into ${e.data.children.length} child sessions (${e.data.source})`,
  "epic.child_status": (e) => (e.data.hidden ? `a child session not shared with you is ${e.data.status}` : `child ${e.data.key} ${e.data.status}`),
  "knowledge.consulted": (e) => `knowledge consulted for ${e.data.decision}: ${e.data.documents.map((d) => d.title).join("; ")}`,
  "verification.queued": (e) => `checks queued${e.data.files ? ` over ${e.data.files} files` : ""}${e.data.reason ? ` (${e.data.reason})` : ""}`,
  "verification.started": (e) => `checks running in a sandbox: ${(e.data.checks || []).join(", ") || "nothing to check"}`,
  "verification.completed": (e) => `checks ${e.data.status.replace("_", " ")}: ${e.data.summary || e.data.reason || ""}`,
  "approval.decided": (e) => `${e.actor.name} ${e.data.decision} ${e.data.approval}${e.data.comment ? ` — ${e.data.comment}` : ""}`,
};

function retryAt(data) {
  if (data.next_attempt_at) return ` at ${new Date(data.next_attempt_at).toLocaleTimeString()}`;
  return data.delay_seconds !== undefined ? ` in ${Math.round(data.delay_seconds)} s` : "";
}

function feed(event) {
  const describe = DESCRIBE[event.type];
  let text = describe ? describe(event) : null;
  if (!text && /^(agent|session)\./.test(event.type) && event.type !== "agent.progress") {
    text = `${event.data.agent || "session"} ${event.type.split(".")[1].replace("_", " ")}${event.actor.kind === "user" ? ` by ${event.actor.name}` : ""}`;
  }
  if (!text) return;
  const item = el("li", { "data-seq": String(event.seq) },
    el("time", { datetime: event.at }, new Date(event.at).toLocaleTimeString()), " ", text);
  $("feed").prepend(item);
}

// --- applying events ---------------------------------------------------------------------------

function apply(event) {
  if (event.type === "ack") return;
  if (event.type === "error") { say(event.detail, true); return; }
  if (event.seq !== null && event.seq !== undefined) {
    if (state.seen.has(event.seq)) return;  // belt and braces: an event is shown once
    state.seen.add(event.seq);
  }
  const data = event.data || {};
  const run = data.agent ? (state.runs[data.agent] ||= { status: "pending", progress: 0, activity: "" }) : null;
  if (run && event.run) run.id = event.run;
  switch (event.type) {
    case "presence.joined": case "presence.snapshot": case "presence.left":
      state.watchers = Object.fromEntries((data.watchers || []).map((w) => [w.name || w, true]));
      break;
    case "session.plan_ready":
      state.plan = data.agents;
      state.ranking = data.ranking || [];
      for (const agent of data.agents) (state.runs[agent.slug] ||= { status: "pending", progress: 0, activity: "" }).id = agent.run;
      break;
    case "session.phase_changed": $("phase").textContent = data.to; break;
    case "epic.breakdown_ready": state.children = data.children; break;
    case "epic.child_status": {
      if (data.hidden) break;  // a child not shared with this guest: nothing of it is sent
      const child = state.children.find((c) => c.session === data.child);
      if (child) child.status = data.status;
      else state.children.push({ key: data.key, session: data.child, intent: data.intent, status: data.status, depends_on: [] });
      if (data.tokens !== undefined) {  // a finished child reports what it spent
        const known = state.childSpend[data.child];
        state.childSpend[data.child] = { tokens: data.tokens, cost: Number(data.cost_usd || 0), estimated: known ? known.estimated : false };
      }
      break;
    }
    case "agent.progress": run.progress = data.progress; run.activity = data.message; break;
    case "agent.completed":
      run.status = "completed"; run.progress = 100; run.activity = data.summary;
      break;
    case "agent.pause_requested": run.activity = "pausing after this step…"; break;
    case "artifact.created": case "artifact.updated":
      state.files[data.path] = { id: data.artifact, version: data.version, kind: data.kind };
      workspace.noteChange(event);
      if (state.selected?.path === data.path) openFile(data.artifact, data.path);
      else if (event.seq > initial.last_event_seq) workspace.openFirst(state.files, state.selected?.path);
      break;
    case "approval.requested": state.approvals[data.approval] = { summary: data.summary, status: "pending", agent: data.agent || event.actor.name }; break;
    case "approval.decided": if (state.approvals[data.approval]) state.approvals[data.approval].status = data.decision; break;
    case "conflict.detected": if (state.approvalCards) loadApprovalCards(); break;  // a path may have joined a card
    case "requirement.added": case "requirement.updated":
      state.requirements[data.requirement_id] = { text: data.text, source: data.source || "person", status: "active" };
      if (data.refines && state.requirements[data.refines]) state.requirements[data.refines].status = "refined";
      break;
    default:
      if (event.type.startsWith("agent.") && run) {
        const status = { queued: "queued", started: "running", resumed: run.status === "running" ? "running" : "pending",
          paused: "paused", awaiting_approval: "awaiting_approval", awaiting_answer: "awaiting_answer", failed: "failed", cancelled: "cancelled",
          retrying: "pending", requeued: "queued" }[event.type.split(".")[1]];
        if (status) run.status = status;
      }
      if (event.type === "session.completed" && data.tokens !== undefined) {  // the final bill (an epic's, with its children)
        state.finalSpend = { tokens: data.tokens, cost: Number(data.cost_usd || 0) };
      }
      if (event.type.startsWith("session.") && data.status) {
        state.status = data.status;
        if (data.status === "running" && !state.startedAt) state.startedAt = new Date(event.at);
        if (["completed", "failed", "cancelled"].includes(data.status)) state.finishedAt = new Date(event.at);
      }
  }
  if (checks.apply(event) || event.type.startsWith("artifact.")) checks.render();  // findings link to the files
  conversation.apply(event);
  transcripts.apply(event);
  sharing.apply(event);
  if (event.seq) feed(event);
  if (USAGE_EVENTS.test(event.type)) refreshUsageSoon(event, 300);
  else if (event.type === "agent.progress") refreshUsageSoon(event, 5000);
  renderHeader();
  renderUsage();
  renderRuns();
  renderChildren();
  renderFiles();
  renderApprovals();
  renderRequirements();
}

// --- code panel ----------------------------------------------------------------------------------

async function openFile(artifactId, path, version, line) {
  const query = version ? `?version=${version}` : "";
  const response = await fetch(`/development/files/${artifactId}/${query}`, { credentials: "same-origin" });
  if (!response.ok) return;
  const file = await response.json();
  // A file reopened as it changes keeps the line a finding pointed at.
  if (line === undefined && state.selected?.path === path) line = state.selected.line;
  state.selected = { line, id: artifactId, path, version: file.version, latest: file.latest, content: file.content, diff: file.diff_html, html: file.html, showingDiff: false };
  $("file-path").textContent = `${path} · v${file.version}${file.version !== file.latest ? ` (latest v${file.latest})` : ""}${line ? ` · line ${line}` : ""}`;
  $("file-view").innerHTML = file.html;  // Pygments output, escaped server-side
  $("file-view").hidden = false;
  $("show-diff").textContent = "Diff";
  $("show-diff").setAttribute("aria-pressed", "false");
  $("viewer-modes").hidden = true;
  const select = $("version-select");
  select.replaceChildren(...file.versions.map((v) => el("option", { value: String(v.number) }, `v${v.number} by ${v.author}`)));
  select.value = String(file.version);
  select.hidden = false;
  $("show-diff").hidden = false;
  if ($("edit-file")) $("edit-file").hidden = false;
  renderFiles();
  if (line) showLine(line);
}

// Mark one line of the file in the viewer (a finding's) and bring it into view.
function showLine(line) {
  const view = $("file-view");
  view.querySelectorAll(".hl-line").forEach((node) => node.classList.remove("hl-line"));
  const code = view.querySelector(`#line-${line}`);
  const number = view.querySelectorAll(".linenos pre > span")[line - 1];
  for (const node of [code, number]) if (node) node.classList.add("hl-line");
  view.dataset.line = code ? String(line) : "";
  if (!code) return;
  // Scroll the viewer to the line (vertically only: the line numbers stay in sight), then the page to the viewer.
  view.scrollLeft = 0;
  view.scrollTop += code.getBoundingClientRect().top - view.getBoundingClientRect().top - view.clientHeight / 2;
  view.scrollIntoView({ block: "nearest", behavior: "instant" });
}

$("version-select").addEventListener("change", (e) => openFile(state.selected.id, state.selected.path, e.target.value, null));
// The version's diff, unified or side by side (workspace.js draws it in its own scrolling box).
async function showDiff() {
  const s = state.selected;
  const raw = await workspace.diffOf(s.id, s.version);
  if (state.selected !== s || !s.showingDiff) return;
  if (raw === null) { $("file-view").innerHTML = s.diff; return; }  // not in the changes: the server's highlighted diff
  $("file-view").replaceChildren(renderDiff(el, raw, workspace.mode));
}
$("show-diff").addEventListener("click", () => {
  const s = state.selected;
  s.showingDiff = !s.showingDiff;
  $("show-diff").textContent = s.showingDiff ? "Content" : "Diff";
  $("show-diff").setAttribute("aria-pressed", String(s.showingDiff));
  $("viewer-modes").hidden = !s.showingDiff;
  if (s.showingDiff) showDiff();
  else { $("file-view").innerHTML = s.html; if (s.line) showLine(s.line); }
});
if ($("edit-file")) {
  $("edit-file").addEventListener("click", () => {
    $("edit-content").value = state.selected.content;
    $("edit-form").hidden = false;
    $("edit-content").focus();
  });
  $("edit-cancel").addEventListener("click", () => { $("edit-form").hidden = true; });
  $("edit-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const s = state.selected;
    act(`save ${s.path}`, async () => {
      await api("PUT", `artifacts/${s.id}/`, { content: $("edit-content").value, base_version: s.latest });
      $("edit-form").hidden = true;
    });
  });
}

// --- controls ------------------------------------------------------------------------------------

document.querySelectorAll("[data-session-action]").forEach((button) => button.addEventListener("click", () => {
  const action = button.dataset.sessionAction;
  if (action === "cancel" && !confirm("Cancel the whole session? Running agents stop.")) return;
  act(`${action} session`, () => api("POST", `sessions/${sessionId}/${action}/`), $("session-controls"));
}));
$("feedback-form")?.addEventListener("submit", (e) => {
  e.preventDefault();
  const run = $("feedback-run")?.value;
  act("feedback", async () => { await api("POST", `sessions/${sessionId}/feedback/`, { text: $("feedback-text").value, ...(run ? { run } : {}) }); $("feedback-text").value = ""; }, e.submitter || e.target.querySelector("button"));
});
$("save-knowledge")?.addEventListener("click", () => act("save as knowledge", async () => {
  const doc = await api("POST", "knowledge/", { session: sessionId });
  $("save-knowledge").hidden = true;
  say(`saved as knowledge “${doc.title}”`);
}));
$("requirement-form")?.addEventListener("submit", (e) => {
  e.preventDefault();
  act("requirement", async () => { await api("POST", `sessions/${sessionId}/requirements/`, { text: $("requirement-text").value }); $("requirement-text").value = ""; }, e.submitter || e.target.querySelector("button"));
});

// --- start -----------------------------------------------------------------------------------------

function tick() {
  if (!state.startedAt) return;
  const end = state.finishedAt || new Date();
  const seconds = Math.max(0, Math.round((end - state.startedAt) / 1000));
  $("elapsed").textContent = `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
}
setInterval(tick, 1000);

const workspace = new Workspace({ sessionId, el, api, open: (id, path) => openFile(id, path) });
for (const [path, f] of Object.entries(page.files)) workspace.authors[path] = new Set(f.authors);
workspace.onMode = () => { if (state.selected?.showingDiff) showDiff(); };
const conversation = new Conversation({ sessionId, el, api, can, runs: () => state.runs, feedbackForm: $("feedback-form") });
conversation.load();
const sharing = new Sharing({ el, api, sessionId });
Object.assign(sharing.shares, page.shares);
sharing.render();
transcripts.init({ sessionId, el, api, renderDiff: (raw) => renderDiff(el, raw, workspace.mode) }).then(() => renderRuns());
document.addEventListener("harness:transcripts", () => renderRuns());

const checks = new ChecksPanel({
  sessionId, initial: initial.verification, el, api, liveAfter: initial.last_event_seq,
  files: () => state.files, open: (id, path, line) => openFile(id, path, undefined, line || null),
});
checks.render();
checks.load();

for (const event of page.feed) { state.seen.add(event.seq); feed(event); }

const stream = new SessionStream(sessionId, {
  after: page.after,
  onEvent: apply,
  onState: (s, code) => {
    const labels = { connecting: "connecting…", reconnecting: "reconnecting…", live: "live", refused: `disconnected (${code})` };
    if (s === "live") workspace.openFirst(state.files, state.selected?.path);  // the replay is in: the first file shows
    $("connection").textContent = labels[s] || s;
    $("connection").className = `connection ${s}`;
  },
});
window.harnessStream = stream;  // for tests: drop the socket and watch it recover
stream.connect();
setInterval(() => stream.send({ action: "presence" }), 10000);
renderHeader();
renderUsage();
renderRuns();
renderChildren();
renderFiles();
renderApprovals();
renderRequirements();
