// Sharing the session with a guest (view or collaborate) and taking it back: POST …/share/ and …/unshare/.
// Who has it is read from the session.shared / session.unshared events, so every open page agrees.

import { showResult } from "./action_result.js";

export class Sharing {
  constructor({ el, api, sessionId }) {
    Object.assign(this, { el, api, sessionId });
    this.shares = {};  // username → level
    this.form = document.getElementById("share-form");
    this.list = document.getElementById("shares");
    this.form?.addEventListener("submit", (e) => {
      e.preventDefault();
      const username = document.getElementById("share-username").value.trim();
      const level = document.getElementById("share-level").value;
      this.call("share", { username, level }, e.submitter || this.form.querySelector("button"),
        `shared with ${username} (${level})`, () => { document.getElementById("share-username").value = ""; });
    });
  }

  apply(event) {
    if (event.type === "session.shared") this.shares[event.data.user] = event.data.level;
    else if (event.type === "session.unshared") delete this.shares[event.data.user];
    else return;
    this.render();
  }

  render() {
    if (!this.list) return;
    const el = this.el;
    const names = Object.keys(this.shares).sort();
    this.list.replaceChildren(...names.map((name) => {
      const button = el("button", { type: "button", class: "link danger", "aria-label": `Stop sharing with ${name}` }, "Unshare");
      button.addEventListener("click", () => this.call("unshare", { username: name }, button, `${name} no longer sees it`));
      return el("li", { "data-user": name }, el("strong", {}, name), " ", el("span", { class: "muted" }, this.shares[name]), " ", button);
    }));
    if (!names.length) this.list.append(el("li", { class: "muted" }, "not shared with anyone outside the organisation"));
  }

  async call(action, body, button, success, done = () => {}) {
    try {
      await this.api("POST", `sessions/${this.sessionId}/${action}/`, body);
      done();
      showResult(button, success);
    } catch (error) {
      showResult(button, error.message, true);
    }
  }
}
