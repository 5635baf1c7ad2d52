"""Streamed model text goes live only (`agent.delta`), batched to keep sockets calm."""

from __future__ import annotations

import time

from agents_app.models import AgentRun
from sessions_app.events import Actor, event_send_ephemeral

FLUSH_SECONDS, FLUSH_CHARS = 0.1, 400


class DeltaPublisher:
    """`publisher(chunk)` while the model streams; `publisher.flush()` once it is done."""

    def __init__(self, run: AgentRun) -> None:
        self.session_public_id, self.run_public_id = run.session.public_id, run.public_id
        self.actor = Actor.for_agent(run.agent.slug, run.agent.name)
        self.buffer: list[str] = []
        self.last = time.monotonic()

    def __call__(self, chunk: str) -> None:
        self.buffer.append(chunk)
        if time.monotonic() - self.last >= FLUSH_SECONDS or sum(map(len, self.buffer)) >= FLUSH_CHARS:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            event_send_ephemeral(
                session_public_id=self.session_public_id,
                type="agent.delta",
                actor=self.actor,
                data={"text": "".join(self.buffer)},
                run_public_id=self.run_public_id,
            )
            self.buffer.clear()
        self.last = time.monotonic()
