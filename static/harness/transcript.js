// An agent's transcript in a drawer: its briefing, then each step's messages, tool calls (a write as a
// diff), tokens, cost, time and retries, from GET …/runs/{run}/steps/; live `agent.step` events add steps.
// `openTranscript(runPublicId)` is what the agents list and the plan graph call. The drawer stays out of
// sight on a server without the steps endpoint (the probe answers 404).
import { dollars } from "./money.js";

const ctx = { sessionId: null, el: null, api: null, renderDiff: null };
let openRun = null;
let reloadTimer = null;

export const transcripts = {
  available: false,

  /** Probe the endpoint once there is a run to ask about; resolves when the answer is known. */
  async init({ sessionId, el, api, renderDiff }) {
    Object.assign(ctx, { sessionId, el, api, renderDiff });
    const initial = JSON.parse(document.getElementById("initial").textContent);
    const run = (initial.runs || []).find((r) => r.id);
    if (run) await this.probe(run.id);
  },

  async probe(runId) {
    if (this.available || this.probing) return;
    this.probing = true;
    try {
      const response = await fetch(stepsUrl(runId), { credentials: "same-origin", headers: { Accept: "application/json" } });
      this.available = response.ok;
    } catch (error) {
      this.available = false;
    } finally {
      this.probing = false;
    }
  },

  /** Every event of the page: a new step of the open transcript reloads it; a plan's first run is probed. */
  apply(event) {
    if (!this.available && event.type === "session.plan_ready" && event.data.agents?.[0]?.run) {
      this.probe(event.data.agents[0].run).then(() => { if (this.available) document.dispatchEvent(new CustomEvent("harness:transcripts")); });
    }
    if (event.type === "agent.step" && openRun && event.run === openRun.id && event.seq) {
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(() => load(openRun.id, true), 400);
    }
  },
};

function stepsUrl(runId, page) {
  return page || `/api/v1/sessions/${ctx.sessionId}/runs/${runId}/steps/`;
}

function drawer() {
  let node = document.getElementById("transcript");
  if (node) return node;
  const el = ctx.el;
  node = el("aside", { id: "transcript", class: "drawer card", role: "dialog", "aria-modal": "false", "aria-labelledby": "transcript-title", hidden: "" },
    el("div", { class: "drawer-head" },
      el("h2", { id: "transcript-title" }, "Transcript"),
      el("button", { type: "button", id: "transcript-close", "aria-label": "Close the transcript", onclick: closeTranscript }, "Close")),
    el("p", { id: "transcript-meta", class: "muted" }),
    el("ol", { id: "transcript-steps", class: "steps" }),
    el("button", { type: "button", id: "transcript-more", hidden: "" }, "Load more steps"));
  document.body.append(node);
  node.addEventListener("keydown", (e) => { if (e.key === "Escape") closeTranscript(); });
  return node;
}

export function closeTranscript() {
  const node = document.getElementById("transcript");
  if (!node) return;
  node.hidden = true;
  const opener = openRun && document.querySelector(`[data-transcript="${openRun.id}"]`);
  openRun = null;
  if (opener) opener.focus();
}

/** Open the drawer on one run's transcript (the agents list's names and the graph's nodes call this). */
export async function openTranscript(runPublicId) {
  if (!ctx.el || !runPublicId) return;
  const node = drawer();
  openRun = { id: runPublicId, next: null };
  const agent = document.querySelector(`[data-transcript="${runPublicId}"]`)?.textContent || runPublicId;
  document.getElementById("transcript-title").textContent = `Transcript · ${agent}`;
  document.getElementById("transcript-steps").replaceChildren(ctx.el("li", { class: "muted" }, "loading…"));
  node.hidden = false;
  document.getElementById("transcript-close").focus();
  await load(runPublicId, true);
}

async function load(runId, fresh, page) {
  const el = ctx.el;
  const list = document.getElementById("transcript-steps");
  const more = document.getElementById("transcript-more");
  let response;
  try {
    response = await fetch(stepsUrl(runId, page), { credentials: "same-origin", headers: { Accept: "application/json" } });
  } catch (error) {
    response = null;
  }
  if (!openRun || openRun.id !== runId) return;
  if (!response || !response.ok) {
    list.replaceChildren(el("li", { class: "error" }, response?.status === 404 ? "No transcript for this agent." : "The transcript could not be read; try again."));
    return;
  }
  const body = await response.json();
  const steps = Array.isArray(body) ? body : body.results || body.steps || [];
  if (fresh) list.replaceChildren();
  for (const step of steps) list.append(renderStep(step));
  if (!list.children.length) list.append(el("li", { class: "muted" }, "No step yet: the agent has not started."));
  openRun.next = Array.isArray(body) ? null : body.next || null;
  more.hidden = !openRun.next;
  more.onclick = () => load(runId, false, openRun.next);
  const total = steps.reduce((sum, s) => sum + tokensOf(s), 0);
  document.getElementById("transcript-meta").textContent = `${steps.length} step${steps.length === 1 ? "" : "s"} shown · ${total.toLocaleString("en-US")} tokens`;
}

function tokensOf(step) {
  const usage = step.usage || step;
  if (typeof usage.tokens === "number") return usage.tokens;
  return ["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"].reduce((n, k) => n + Number(usage[k] || 0), 0);
}

function renderStep(step) {
  const el = ctx.el;
  const facts = [];
  if (step.model) facts.push(step.model);
  const tokens = tokensOf(step);
  if (tokens) facts.push(`${tokens.toLocaleString("en-US")} tokens`);
  const usage = step.usage || step;
  if (Number(usage.cost_usd) > 0) facts.push(dollars(usage.cost_usd));
  if (usage.estimated && tokens) facts.push("offline estimate, not billed");
  if (step.duration_ms) facts.push(step.duration_ms >= 1000 ? `${(step.duration_ms / 1000).toFixed(1)} s` : `${step.duration_ms} ms`);
  if (step.retries) facts.push(`${step.retries} retr${step.retries === 1 ? "y" : "ies"}`);
  const item = el("li", { class: `step step-${step.kind || "step"}`, "data-step": String(step.number) },
    el("div", { class: "step-head" },
      el("strong", {}, step.kind === "briefing" ? "Briefing" : `Step ${step.number}`),
      step.kind && !["step", "briefing"].includes(step.kind) ? el("span", { class: "badge" }, step.kind) : null,
      el("span", { class: "muted" }, facts.join(" · "))));
  if (step.briefing) {
    const b = step.briefing;
    item.append(el("details", {}, el("summary", {}, `What it was told${b.requirements?.length ? ` (${b.requirements.length} requirements)` : ""}`),
      el("pre", { class: "step-text" }, b.text || b.intent || "")));
  }
  for (const text of step.messages || []) item.append(el("p", { class: "step-message" }, typeof text === "string" ? text : text.text || ""));
  if (step.thinking) item.append(el("details", {}, el("summary", {}, "Thinking"), el("pre", { class: "step-text" }, step.thinking)));
  for (const call of step.tool_calls || []) {
    const state = call.refused ? "refused" : call.is_error ? "error" : call.not_run ? "not run" : "";
    const details = el("details", { class: `tool-call${state ? " tool-problem" : ""}` },
      el("summary", {}, el("code", {}, call.name), state ? ` · ${state}` : "", call.arguments?.path ? ` ${call.arguments.path}` : "",
        call.version ? ` → v${call.version}` : ""));
    if (call.diff) details.open = true;  // a write shows what it changed at once
    if (call.diff) details.append(ctx.renderDiff(call.diff));
    const args = { ...(call.arguments || {}) };
    if (call.diff) delete args.content;  // the diff says it better than the whole file
    details.append(el("pre", { class: "step-text" }, JSON.stringify(args, null, 2)));
    if (call.result !== null && call.result !== undefined) details.append(el("pre", { class: "step-text result" }, String(call.result)));
    item.append(details);
  }
  for (const f of step.feedback || []) item.append(el("p", { class: "step-feedback" }, `Feedback from ${f.author || f.by || "someone"}: ${f.text || ""}`));
  for (const a of step.approvals || []) item.append(el("p", { class: "step-approval" }, `Approval ${a.id}: ${a.status}${a.comment ? ` — ${a.comment}` : ""}`));
  return item;
}
