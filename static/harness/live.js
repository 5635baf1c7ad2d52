// A session's events, live, exactly once and in order: websocket with ?after=, resync from the
// log when a seq is missing (the channel layer may drop), reconnect with backoff.

export class SessionStream {
  constructor(sessionId, { onEvent, onState, after = 0 }) {
    this.sessionId = sessionId;
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastSeq = after;
    this.backoff = 500;
    this.closed = false;
    this.queue = Promise.resolve();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/ws/sessions/${this.sessionId}/?after=${this.lastSeq}`;
    this.onState("connecting");
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      this.queue = this.queue.then(() => this.receive(data)).catch((error) => console.error(error));
    };
    socket.onopen = () => { this.backoff = 500; };
    socket.onclose = (event) => {
      if (this.closed) return;
      if (event.code === 4401 || event.code === 4403 || event.code === 4404) {
        this.onState("refused", event.code);
        return;
      }
      this.onState("reconnecting");
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    };
  }

  send(payload) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(payload));
  }

  async receive(data) {
    if (data.type === "live") { this.onState("live"); return; }
    if (data.type === "ack" || data.type === "error") { this.onEvent(data); return; }
    if (data.seq === null || data.seq === undefined) { this.onEvent(data); return; }
    if (data.seq <= this.lastSeq) return;                    // a replay overlapping what we have
    if (data.seq > this.lastSeq + 1) await this.resync(data.seq); // a dropped live message
    if (data.seq === this.lastSeq + 1) { this.lastSeq = data.seq; this.onEvent(data); }
  }

  async resync(until) {
    while (this.lastSeq + 1 < until) {
      const response = await fetch(`/api/v1/sessions/${this.sessionId}/events/?after=${this.lastSeq}`,
        { credentials: "same-origin" });
      if (!response.ok) return;
      const page = await response.json();
      if (!page.events.length) return;
      for (const event of page.events) {
        if (event.seq >= until) return;
        if (event.seq === this.lastSeq + 1) { this.lastSeq = event.seq; this.onEvent(event); }
      }
    }
  }

  close() { this.closed = true; if (this.socket) this.socket.close(); }
}
