"""A local fake of the Anthropic Messages API, so the real SDK is tested without the network.

Tests queue what the next requests get (text, tool use, errors, slow replies); every request is
recorded (path, headers, JSON body). With `"stream": true` replies come as the documented SSE
sequence. An empty queue answers with a plain text reply.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class FakeAnthropic:
    def __init__(self) -> None:
        self.script: deque[dict] = deque()
        self.requests: list[dict] = []
        self.usage = {
            "input_tokens": 120,
            "output_tokens": 40,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 100,
        }
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    # -- the script ------------------------------------------------------------------------------

    def queue_text(self, text: str) -> None:
        self.script.append({"content": [{"type": "text", "text": text}], "stop_reason": "end_turn"})

    def queue_tool_use(self, name: str, tool_input: dict, text: str = "") -> None:
        content: list[dict] = [{"type": "text", "text": text}] if text else []
        content.append(
            {
                "type": "tool_use",
                "id": f"toolu_fake_{len(self.requests)}_{len(self.script)}",
                "name": name,
                "input": tool_input,
            }
        )
        self.script.append({"content": content, "stop_reason": "tool_use"})

    def queue_error(self, status: int, *, retry_after_ms: int | None = None, kind: str | None = None) -> None:
        kind = kind or {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        self.script.append({"error": status, "kind": kind, "retry_after_ms": retry_after_ms})

    def queue_slow(self, seconds: float, text: str = "slow") -> None:
        self.script.append({"delay": seconds, "content": [{"type": "text", "text": text}], "stop_reason": "end_turn"})

    # -- serving -----------------------------------------------------------------------------------

    def _next(self) -> dict:
        with self._lock:
            return (
                self.script.popleft()
                if self.script
                else {"content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn"}
            )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                return

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                step = fake._next()
                if "delay" in step:
                    time.sleep(step["delay"])
                if "error" in step:
                    self._error(step)
                elif body.get("stream"):
                    self._stream(step, body)
                else:
                    self._json(200, fake._message(step, body))

            def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _error(self, step: dict) -> None:
                headers = (
                    {"retry-after-ms": str(step["retry_after_ms"])} if step.get("retry_after_ms") is not None else {}
                )
                headers["x-should-retry"] = "true"
                payload = {"type": "error", "error": {"type": step["kind"], "message": f"fake {step['error']}"}}
                self._json(step["error"], payload, headers)

            def _stream(self, step: dict, body: dict) -> None:
                message = fake._message(step, body)
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("connection", "close")
                self.end_headers()
                start = {
                    **message,
                    "content": [],
                    "stop_reason": None,
                    "usage": {**message["usage"], "output_tokens": 1},
                }
                self._event("message_start", {"type": "message_start", "message": start})
                for index, block in enumerate(message["content"]):
                    if block["type"] == "text":
                        self._event(
                            "content_block_start",
                            {
                                "type": "content_block_start",
                                "index": index,
                                "content_block": {"type": "text", "text": ""},
                            },
                        )
                        for i in range(0, len(block["text"]), 5):
                            delta = {"type": "text_delta", "text": block["text"][i : i + 5]}
                            self._event(
                                "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
                            )
                    else:
                        self._event(
                            "content_block_start",
                            {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}},
                        )
                        delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
                        self._event(
                            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
                        )
                    self._event("content_block_stop", {"type": "content_block_stop", "index": index})
                usage = {"output_tokens": message["usage"]["output_tokens"]}
                self._event(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                        "usage": usage,
                    },
                )
                self._event("message_stop", {"type": "message_stop"})
                self.close_connection = True

            def _event(self, name: str, data: dict) -> None:
                self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

        return Handler

    def _message(self, step: dict, body: dict) -> dict:
        return {
            "id": f"msg_fake_{len(self.requests)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude-sonnet-5-5"),
            "content": step["content"],
            "stop_reason": step["stop_reason"],
            "stop_sequence": None,
            "usage": dict(self.usage),
        }

    def start(self) -> FakeAnthropic:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_anthropic():  # noqa: ANN201
    fake = FakeAnthropic().start()
    yield fake
    fake.stop()
