"""Following a session's events over SSE: replay from the last seq, reconnect, fill gaps, never repeat."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import httpx

from harness_cli.client import EXIT_AUTH, EXIT_UNREACHABLE, Client, CliError


@dataclass
class SseMessage:
    event: str = "message"
    data: str = ""
    id: str | None = None


def parse_sse(lines: Iterable[str]) -> Iterator[SseMessage]:
    """The text/event-stream format: fields until a blank line; comments (':') are keep-alives."""
    message, data_lines = SseMessage(), []
    for line in lines:
        if line == "":
            if data_lines:
                message.data = "\n".join(data_lines)
                yield message
            message, data_lines = SseMessage(), []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data_lines.append(value)
        elif name == "event":
            message.event = value
        elif name == "id":
            message.id = value


@dataclass
class Follower:
    """Delivers each stored event exactly once, in seq order, plus live-only (seq null) events."""

    client: Client
    session_id: str
    on_event: Callable[[dict], None]
    on_state: Callable[[str], None] = lambda state: None
    last_seq: int = 0
    reconnect_for: float = 300.0
    stopped: bool = False
    _seen_end: bool = field(default=False, init=False)

    def run(self) -> str:
        """Follow until the session ends (returns its final status) or `stop()` is called."""
        final = ""
        down_since: float | None = None
        while not self.stopped:
            try:
                for message in parse_sse(self.client.stream_lines(self.session_id, self.last_seq)):
                    down_since = None
                    if message.event == "end":
                        final = json.loads(message.data or "{}").get("status", "")
                        if final == "access_revoked":  # reconnecting would only be refused
                            raise CliError(f"your access to {self.session_id} was withdrawn", EXIT_AUTH)
                        return final
                    self._deliver(json.loads(message.data))
                    if self.stopped:
                        return final
            except (httpx.TransportError, CliError) as exc:
                if isinstance(exc, CliError) and exc.code != EXIT_UNREACHABLE:
                    raise
            if self.stopped:
                break
            down_since = down_since or time.monotonic()
            if time.monotonic() - down_since > self.reconnect_for:
                raise CliError(f"lost the stream of {self.session_id} for {self.reconnect_for:.0f} s", EXIT_UNREACHABLE)
            self.on_state("reconnecting")
            time.sleep(1.0)
        return final

    def stop(self) -> None:
        self.stopped = True

    def _deliver(self, event: dict) -> None:
        seq = event.get("seq")
        if seq is None:
            self.on_event(event)
            return
        if seq <= self.last_seq:
            return  # already seen (a replay overlapping what we had)
        if seq > self.last_seq + 1:
            self._fill_gap(until=seq)
        if seq == self.last_seq + 1:
            self.last_seq = seq
            self.on_event(event)

    def _fill_gap(self, until: int) -> None:
        """A live message was dropped (channel layer at capacity): read the missing ones from the log."""
        while self.last_seq + 1 < until:
            page = self.client.events(self.session_id, self.last_seq)["events"]
            if not page:
                return
            for event in page:
                if event["seq"] >= until:
                    return
                if event["seq"] == self.last_seq + 1:
                    self.last_seq = event["seq"]
                    self.on_event(event)
