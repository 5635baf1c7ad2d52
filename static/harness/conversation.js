// The session's thread: people's messages and the agents' replies and questions, drawn from the
// `conversation.message` events (replayed, then live); a question shows an Answer box to collaborators.
// People write through the feedback form (a message is the feedback the agent receives), moved under the
// thread; answers go to POST …/conversation/ with reply_to. Without that endpoint the page stays as it was.

import { showResult } from "./action_result.js";

const KIND_LABEL = { message: "", reply: "replied", question: "asks", answer: "answered" };

export class Conversation {
  /** runs(): slug → {id, status} of the session's agents; feedbackForm: the form the thread replaces. */
  constructor({ sessionId, el, api, can, runs, feedbackForm }) {
    Object.assign(this, { sessionId, el, api, can, runs, feedbackForm });
    this.enabled = false;
    this.messages = [];               // in seq order
    this.byId = {};
    this.panel = document.getElementById("conversation-panel");
    this.list = document.getElementById("thread");
  }

  // The thread so far from GET …/conversation/ (every page): the page streams only the events after it opened.
  async load() {
    if (!this.panel) return;
    let url = `/api/v1/sessions/${this.sessionId}/conversation/`;
    const earlier = [];
    try {
      while (url) {
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        this.enabled = response.ok;
        if (!response.ok) break;
        const page = await response.json();
        earlier.push(...page.results);
        url = page.next;
      }
    } catch (error) {
      this.enabled = false;
    }
    if (!this.enabled) return;
    const live = this.messages;  // arrived while the thread loaded
    this.messages = [];
    this.byId = {};
    for (const m of earlier) this.add({ ...m, at: m.created_at });
    for (const m of live) if (!this.byId[m.id]) this.add(m);
    this.panel.hidden = false;
    if (this.feedbackForm) {  // the thread's box: what people write is the feedback the agents get
      this.panel.append(this.feedbackForm);
      this.feedbackForm.querySelector("label[for=feedback-text]").textContent = "Message the agents";
      this.feedbackForm.querySelector("button[type=submit]").textContent = "Send";
    }
    this.render();
  }

  apply(event) {
    this.renderAgents();
    if (event.type !== "conversation.message" || !event.data?.id || this.byId[event.data.id]) return;
    this.add({ ...event.data, author: event.actor, at: event.at });
    if (this.enabled) this.render();
  }

  add(message) {
    this.messages.push(message);
    this.byId[message.id] = message;
    if (message.reply_to && this.byId[message.reply_to]) (this.byId[message.reply_to].answers ||= []).push(message);
  }

  renderAgents() {
    const select = document.getElementById("feedback-run");
    if (!select) return;
    const current = select.value;
    const runs = Object.entries(this.runs()).filter(([, run]) => run.id);
    const signature = runs.map(([slug, run]) => `${slug}:${run.id}`).join(",");
    if (signature === this.agentsShown) return;
    this.agentsShown = signature;
    select.replaceChildren(this.el("option", { value: "" }, "to all agents"),
      ...runs.map(([slug, run]) => this.el("option", { value: run.id }, `to ${slug}`)));
    select.value = runs.some(([, run]) => run.id === current) ? current : "";
  }

  render() {
    const el = this.el;
    this.renderAgents();
    if (!this.messages.length) { this.list.replaceChildren(el("li", { class: "muted" }, "No messages yet.")); return; }
    this.list.replaceChildren(...this.messages.map((m) => {
      const who = m.author?.kind === "agent" ? (m.agent || m.author.name) : (m.author?.name || "someone");
      const parent = m.reply_to ? this.byId[m.reply_to] : null;
      const item = el("li", { class: `message message-${m.kind} by-${m.author?.kind || "user"}`, "data-message": m.id, "data-kind": m.kind },
        el("div", { class: "message-head" },
          el("strong", {}, who),
          KIND_LABEL[m.kind] ? el("span", { class: `badge kind-${m.kind}` }, KIND_LABEL[m.kind]) : null,
          m.author?.kind !== "agent" && m.agent ? el("span", { class: "muted" }, `to ${m.agent}`) : null,
          el("time", { class: "muted", datetime: m.at }, new Date(m.at).toLocaleTimeString())),
        parent ? el("blockquote", { class: "reply-to muted" }, `${parent.text.slice(0, 120)}${parent.text.length > 120 ? "…" : ""}`) : null,
        el("p", { class: "message-text" }, m.text),
        (m.links || []).length ? el("p", { class: "message-links muted" }, "changed: ", (m.links || []).map((l) => `${l.path} v${l.version}`).join(", ")) : null);
      if (m.kind === "question" && !(m.answers || []).length && this.can.collaborate) item.append(this.answerBox(m));
      return item;
    }));
  }

  answerBox(question) {
    const el = this.el;
    const input = el("input", { "aria-label": `Answer ${question.agent || "the agent"}`, placeholder: "Your answer", required: "" });
    const button = el("button", { type: "submit", class: "primary" }, "Answer");
    const form = el("form", { class: "answer-form" }, input, button);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.post({ text: input.value, reply_to: question.id }, button, () => { input.value = ""; });
    });
    return form;
  }

  async post(body, button, done) {
    try {
      await this.api("POST", `sessions/${this.sessionId}/conversation/`, body);
      done();
      showResult(button, "sent");
    } catch (error) {
      showResult(button, error.message, true);
    }
  }
}
