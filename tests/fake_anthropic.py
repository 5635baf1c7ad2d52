"""A local fake of the Anthropic Messages API, so the real SDK is tested without the network.

It answers `POST /v1/messages` the way the API does for `claude-sonnet-5-5` (see `../shared/NOTES.md`,
"The current models behave differently"), and it **enforces the API's rules**: a request the real API
would refuse gets a 400 `invalid_request_error` here too (and lands in `fake.violations`), so a
regression fails a test instead of reaching production:

- forced tool use (`tool_choice` of type "tool" or "any"), `thinking` other than adaptive/between_tools
  (e.g. `{"type": "disabled"}`), any of `temperature` / `top_p` / `top_k`;
- an assistant message with empty content, or an empty text block;
- a thinking block this fake issued that comes back altered (its HMAC `signature` no longer matches),
  or that is missing from the assistant turn that carried its tool_use (redacted_thinking likewise);
- more than 4 `cache_control` breakpoints;
- a malformed `output_config` (only `effort` and `format: {"type": "json_schema", "schema": {...}}`),
  or a schema outside the structured-outputs subset; a `strict: true` tool whose schema is not strict;
- an image block over the per-image limits of the vision docs: more than 8000 px a side (2000 when the
  request holds more than 20 images), more than 100 images, base64 data over 5 MB (the API's "image
  exceeds 5 MB maximum"), a media type that is not JPEG/PNG/GIF/WebP or not the image's real format,
  data that is not an image; and a request body over 32 MB (413 `request_too_large`).

**Script** what the next requests get: `queue_text`, `queue_tool_use`, `queue_thinking_tool_use`,
`queue_refusal`, `queue_max_tokens`, `queue_error` (any status, `retry_after_ms` / `retry_after`
headers), `queue_stream_error` (an SSE `error` event after a 200), `queue_non_json` (a 200 whose body
is not JSON), `queue_broken_stream` (the connection drops mid-stream), `queue_slow`. An empty script
answers "ok". Every request is kept in `fake.requests` (path, headers, JSON body).

**Usage and prompt caching** are simulated as the caching docs state them: the prompt is rendered as
blocks in API order (tools, system, messages), each block's tokens ~ len(canonical JSON) / 4 with
`cache_control` left out of the key and key order irrelevant. At each breakpoint the fake looks for a
cached prefix ending at the breakpoint or up to 20 blocks before it (`LOOKBACK_BLOCKS`): the longest
hit is `cache_read_input_tokens`; a breakpoint prefix at or above the model's minimum cacheable length
(`min_cacheable`) that was not cached yet is written, the new part being `cache_creation_input_tokens`;
the rest is `input_tokens`. `fake.billed` totals what the fake billed (complete answers only: errors,
broken streams and non-JSON bodies bill nothing), so tests can compare it with what the app recorded.
Set `fake.fixed_usage` to a usage dict to bypass the simulation.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import io
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

#: The caching docs: a breakpoint finds an earlier cache entry up to about 20 blocks before it.
LOOKBACK_BLOCKS = 20
MAX_BREAKPOINTS = 4
#: Minimum cacheable prompt length by model. NOTES.md (2026-11) gives ~1,024 tokens for Sonnet-class models;
#: one third-party comparison gives 512 for claude-sonnet-5-5. The fake applies the stricter 1,024, so a
#: cache share measured here is not flattered by the lower figure.
MIN_CACHEABLE = {"claude-sonnet-5-5": 1024, "claude-opus-5-5": 1024, "claude-haiku-5-5": 2048}
DEFAULT_MIN_CACHEABLE = 1024
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
RETRYABLE_STATUSES = {408, 409, 429, 500, 502, 503, 504, 529}
STRICT_TYPES = {"object", "array", "string", "integer", "number", "boolean", "null"}
#: Per-image limits, Anthropic "Images and vision" (platform.claude.com/docs/en/build-with-claude/vision):
#: 8000×8000 px, 2000×2000 px when a request has more than 20 images, 100 images a request (200k-context
#: models), 32 MB a request; 5 MB an image as the API's own 400 states it ("image exceeds 5 MB maximum").
IMAGE_MAX_SIDE, IMAGE_MAX_SIDE_MANY, MANY_IMAGES, MAX_IMAGES = 8000, 2000, 20, 100
IMAGE_MAX_BASE64_BYTES = 5 * 1024 * 1024
REQUEST_MAX_BYTES = 32 * 1024 * 1024
IMAGE_MEDIA_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
#: Keywords the structured-outputs JSON-schema subset accepts (anything else is refused with a 400).
STRICT_KEYWORDS = {
    "type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf", "allOf",
    "$ref", "$defs", "definitions", "description", "title", "default", "format", "minItems", "pattern",
}  # fmt: skip
_SECRET = b"fake-anthropic-thinking-signature"


class RuleViolation(Exception):
    """What the real API would refuse with a 400 invalid_request_error."""


def sign(thinking: str) -> str:
    return base64.b64encode(hmac.new(_SECRET, thinking.encode(), hashlib.sha256).digest()).decode()


class FakeAnthropic:
    def __init__(self) -> None:
        self.script: deque[dict] = deque()
        self.requests: list[dict] = []
        self.violations: list[str] = []
        self.fixed_usage: dict | None = None
        self.min_cacheable: dict[str, int] = dict(MIN_CACHEABLE)
        self.billed = {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0,
                       "cache_creation_input_tokens": 0}  # fmt: skip
        #: What each answered request was billed, in order (for per-step figures).
        self.bills: list[dict] = []
        self._cache: dict[str, int] = {}
        #: tool_use id -> the thinking / redacted_thinking blocks issued in the same turn.
        self._issued: dict[str, list[dict]] = {}
        self._lock = threading.Lock()
        self._ids = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    # -- the script ------------------------------------------------------------------------------

    def _tool_use(self, name: str, tool_input: dict) -> dict:
        with self._lock:
            self._ids += 1
            return {"type": "tool_use", "id": f"toolu_fake_{self._ids}", "name": name, "input": tool_input}

    def queue_text(self, text: str) -> None:
        self.script.append({"content": [{"type": "text", "text": text}], "stop_reason": "end_turn"})

    def queue_tool_use(self, name: str, tool_input: dict, text: str = "") -> None:
        content: list[dict] = [{"type": "text", "text": text}] if text else []
        content.append(self._tool_use(name, tool_input))
        self.script.append({"content": content, "stop_reason": "tool_use"})

    def queue_thinking_tool_use(
        self,
        thinking: str,
        calls: list[tuple[str, dict]],
        *,
        text: str = "",
        redacted: str | None = None,
    ) -> list[str]:
        """A turn as claude-sonnet-5-5 writes it: a signed thinking block (the text between tool calls),
        optionally a redacted_thinking block and text, then the tool calls. Returns the tool_use ids."""
        content: list[dict] = [{"type": "thinking", "thinking": thinking, "signature": sign(thinking)}]
        if redacted is not None:
            content.append({"type": "redacted_thinking", "data": base64.b64encode(redacted.encode()).decode()})
        if text:
            content.append({"type": "text", "text": text})
        uses = [self._tool_use(name, tool_input) for name, tool_input in calls]
        content += uses
        self.script.append({"content": content, "stop_reason": "tool_use"})
        return [use["id"] for use in uses]

    def queue_refusal(self, text: str = "", explanation: str | None = "This request may enable harm.") -> None:
        content = [{"type": "text", "text": text}] if text else []
        details = {"type": "refusal", "category": "general_harms", "explanation": explanation}
        self.script.append({"content": content, "stop_reason": "refusal", "stop_details": details})

    def queue_max_tokens(self, text: str) -> None:
        self.script.append({"content": [{"type": "text", "text": text}], "stop_reason": "max_tokens"})

    def queue_error(
        self,
        status: int,
        *,
        retry_after_ms: int | None = None,
        retry_after: str | None = None,
        kind: str | None = None,
        message: str | None = None,
    ) -> None:
        kind = kind or ERROR_TYPES.get(status, "api_error")
        self.script.append(
            {
                "error": status,
                "kind": kind,
                "message": message or f"fake {status}",
                "retry_after_ms": retry_after_ms,
                "retry_after": retry_after,
            }
        )

    def queue_stream_error(self, kind: str = "overloaded_error", *, text_before: str = "") -> None:
        """A streamed answer that starts (HTTP 200, message_start, maybe some text) then sends an SSE `error`."""
        self.script.append({"stream_error": kind, "text_before": text_before})

    def queue_non_json(self, body: str = "<html><body>502 Bad Gateway</body></html>") -> None:
        """A 200 whose body is not JSON (a proxy's error page)."""
        self.script.append({"non_json": body})

    def queue_broken_stream(self, text_before: str = "cut off") -> None:
        """A streamed answer whose connection drops before `message_stop`."""
        self.script.append({"broken_stream": True, "text_before": text_before})

    def queue_slow(self, seconds: float, text: str = "slow") -> None:
        self.script.append({"delay": seconds, "content": [{"type": "text", "text": text}], "stop_reason": "end_turn"})

    # -- the rules the real API enforces -----------------------------------------------------------

    def check(self, body: dict) -> None:
        if body.get("tool_choice", {}).get("type") in ("tool", "any"):
            raise RuleViolation("tool_choice: forced tool use is not supported on this model; use auto")
        thinking = body.get("thinking")
        if thinking is not None and thinking.get("type") not in ("adaptive", "between_tools"):
            raise RuleViolation(
                f"thinking.type {thinking.get('type')!r} is not supported on this model; the lowest setting is "
                "between_tools"
            )
        if thinking is not None and thinking.get("display") not in (None, "summarized", "omitted"):
            raise RuleViolation(f"thinking.display: unknown value {thinking.get('display')!r}")
        for name in ("temperature", "top_p", "top_k"):
            if name in body:
                raise RuleViolation(f"{name}: sampling parameters are not supported on this model")
        _check_images(body)
        breakpoints = 0
        for block in _system_blocks(body) + body.get("tools", []):
            breakpoints += "cache_control" in block
        for index, message in enumerate(body.get("messages", [])):
            content = message.get("content")
            if message.get("role") == "assistant" and not content:
                raise RuleViolation(f"messages.{index}: all messages must have non-empty content")
            for block in content if isinstance(content, list) else []:
                breakpoints += "cache_control" in block
                if block.get("type") == "text" and not block.get("text"):
                    raise RuleViolation(f"messages.{index}: text content blocks must be non-empty")
                if block.get("type") == "thinking" and block.get("signature") != sign(block.get("thinking", "")):
                    raise RuleViolation(f"messages.{index}: invalid signature in thinking block")
            if message.get("role") == "assistant" and isinstance(content, list):
                self._check_thinking_kept(index, content)
        if breakpoints > MAX_BREAKPOINTS:
            raise RuleViolation(f"a maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided")
        if "output_config" in body:
            _check_output_config(body["output_config"])
        for tool in body.get("tools", []):
            schema = tool.get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                raise RuleViolation(f"tools.{tool.get('name')}: input_schema must be an object schema")
            if tool.get("strict"):
                problem = strict_schema_problem(schema)
                if problem:
                    raise RuleViolation(f"tools.{tool.get('name')}: strict input_schema is not supported: {problem}")

    def _check_thinking_kept(self, index: int, content: list[dict]) -> None:
        kept = [b for b in content if b.get("type") in ("thinking", "redacted_thinking")]
        for block in content:
            issued = self._issued.get(block.get("id", "")) if block.get("type") == "tool_use" else None
            for thinking in issued or []:
                if thinking not in kept:
                    raise RuleViolation(
                        f"messages.{index}: the {thinking['type']} block issued with tool_use {block['id']} is missing "
                        "or altered; pass thinking blocks back unchanged"
                    )

    # -- usage -----------------------------------------------------------------------------------

    def bill(self, body: dict, content: list[dict]) -> dict:
        output = max(1, sum(len(json.dumps(b, sort_keys=True)) for b in content) // 4)
        if self.fixed_usage is not None:
            usage = {**self.fixed_usage, "output_tokens": self.fixed_usage.get("output_tokens", output)}
        else:
            usage = {**self._cache_usage(body), "output_tokens": output}
        with self._lock:
            for key in self.billed:
                self.billed[key] += usage.get(key, 0)
            self.bills.append(dict(usage))
        return usage

    def _cache_usage(self, body: dict) -> dict:
        model = body.get("model", "")
        blocks = _render(body)
        cumulative, running, keys = [], 0, []
        digest = hashlib.sha256(model.encode())
        for canonical, _ in blocks:
            digest.update(canonical.encode())
            keys.append(digest.hexdigest())
            running += max(1, len(canonical) // 4)
            cumulative.append(running)
        total = running
        breakpoints = [i for i, (_, marked) in enumerate(blocks) if marked]
        minimum = self.min_cacheable.get(model, DEFAULT_MIN_CACHEABLE)
        with self._lock:
            read = 0
            for point in breakpoints:
                for j in range(point, max(-1, point - LOOKBACK_BLOCKS - 1), -1):
                    if keys[j] in self._cache:
                        read = max(read, cumulative[j])
                        break
            written = 0
            for point in breakpoints:
                if cumulative[point] >= minimum and keys[point] not in self._cache:
                    self._cache[keys[point]] = cumulative[point]
                    written = max(written, cumulative[point])
        creation = max(0, written - read)
        return {
            "input_tokens": total - read - creation,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": creation,
        }

    # -- serving -----------------------------------------------------------------------------------

    def _next(self) -> dict:
        with self._lock:
            return (
                self.script.popleft()
                if self.script
                else {"content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn"}
            )

    def _remember_thinking(self, content: list[dict]) -> None:
        thinking = [b for b in content if b["type"] in ("thinking", "redacted_thinking")]
        for block in content:
            if block["type"] == "tool_use" and thinking:
                self._issued[block["id"]] = copy.deepcopy(thinking)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                return

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                if len(raw) > REQUEST_MAX_BYTES:
                    message = f"Request exceeds the maximum allowed size of {REQUEST_MAX_BYTES} bytes"
                    fake.violations.append(message)
                    self._error({"error": 413, "kind": "request_too_large", "message": message})
                    return
                body = json.loads(raw or b"{}")
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                try:
                    fake.check(body)
                except RuleViolation as exc:
                    fake.violations.append(str(exc))
                    self._error({"error": 400, "kind": "invalid_request_error", "message": str(exc)})
                    return
                step = fake._next()
                if "delay" in step:
                    time.sleep(step["delay"])
                if "error" in step:
                    self._error(step)
                elif "non_json" in step:
                    self._raw(200, step["non_json"].encode(), "application/json")
                elif "stream_error" in step or "broken_stream" in step:
                    if body.get("stream"):
                        self._stream_failure(step, body)
                    else:
                        kind = step.get("stream_error", "api_error")
                        self._error({"error": 529 if kind == "overloaded_error" else 500, "kind": kind})
                else:
                    message = fake._message(step, body)
                    if body.get("stream"):
                        self._stream(message)
                    else:
                        self._json(200, message)

            def _raw(self, status: int, data: bytes, content_type: str, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
                self._raw(status, json.dumps(payload).encode(), "application/json", headers)

            def _error(self, step: dict) -> None:
                headers: dict[str, str] = {}
                if step.get("retry_after_ms") is not None:
                    headers["retry-after-ms"] = str(step["retry_after_ms"])
                if step.get("retry_after") is not None:
                    headers["retry-after"] = str(step["retry_after"])
                headers["x-should-retry"] = "true" if step["error"] in RETRYABLE_STATUSES else "false"
                message = step.get("message") or f"fake {step['error']}"
                payload = {"type": "error", "error": {"type": step["kind"], "message": message}}
                self._json(step["error"], payload, headers)

            def _open_stream(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("connection", "close")
                self.end_headers()
                self.close_connection = True

            def _stream_failure(self, step: dict, body: dict) -> None:
                self._open_stream()
                start = fake._message({"content": [], "stop_reason": None}, body, bill=False)
                self._event("message_start", {"type": "message_start", "message": start})
                if step.get("text_before"):
                    self._text_block(0, step["text_before"], stop=False)
                if "stream_error" in step:
                    kind = step["stream_error"]
                    error = {"type": "error", "error": {"type": kind, "message": f"fake streamed {kind}"}}
                    self._event("error", error)
                # broken stream: just hang up

            def _text_block(self, index: int, text: str, *, stop: bool = True) -> None:
                start = {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
                self._event("content_block_start", start)
                for i in range(0, len(text), 5):
                    delta = {"type": "text_delta", "text": text[i : i + 5]}
                    self._event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
                if stop:
                    self._event("content_block_stop", {"type": "content_block_stop", "index": index})

            def _stream(self, message: dict) -> None:
                self._open_stream()
                start = {
                    **message,
                    "content": [],
                    "stop_reason": None,
                    "stop_details": None,
                    "usage": {**message["usage"], "output_tokens": 1},
                }
                self._event("message_start", {"type": "message_start", "message": start})
                for index, block in enumerate(message["content"]):
                    if block["type"] == "text":
                        self._text_block(index, block["text"])
                        continue
                    if block["type"] == "thinking":
                        opened = {"type": "thinking", "thinking": "", "signature": ""}
                        self._event(
                            "content_block_start",
                            {"type": "content_block_start", "index": index, "content_block": opened},
                        )
                        for i in range(0, len(block["thinking"]), 7):
                            delta = {"type": "thinking_delta", "thinking": block["thinking"][i : i + 7]}
                            self._event(
                                "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
                            )
                        delta = {"type": "signature_delta", "signature": block["signature"]}
                        self._event(
                            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
                        )
                    elif block["type"] == "tool_use":
                        self._event(
                            "content_block_start",
                            {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}},
                        )
                        delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
                        self._event(
                            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
                        )
                    else:  # redacted_thinking arrives whole
                        self._event(
                            "content_block_start",
                            {"type": "content_block_start", "index": index, "content_block": block},
                        )
                    self._event("content_block_stop", {"type": "content_block_stop", "index": index})
                self._event(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {
                            "stop_reason": message["stop_reason"],
                            "stop_sequence": None,
                            "stop_details": message.get("stop_details"),
                        },
                        "usage": {"output_tokens": message["usage"]["output_tokens"]},
                    },
                )
                self._event("message_stop", {"type": "message_stop"})

            def _event(self, name: str, data: dict) -> None:
                self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

        return Handler

    def _message(self, step: dict, body: dict, *, bill: bool = True) -> dict:
        content = copy.deepcopy(step["content"])
        if bill:
            self._remember_thinking(content)
        usage = self.bill(body, content) if bill else {**self._peek_usage(), "output_tokens": 1}
        return {
            "id": f"msg_fake_{len(self.requests)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude-sonnet-5-5"),
            "content": content,
            "stop_reason": step["stop_reason"],
            "stop_details": step.get("stop_details"),
            "stop_sequence": None,
            "usage": {
                "input_tokens": usage.get("input_tokens", 0),
                "output_tokens": usage.get("output_tokens", 0),
                "cache_creation_input_tokens": usage.get("cache_creation_input_tokens", 0),
                "cache_read_input_tokens": usage.get("cache_read_input_tokens", 0),
            },
        }

    @staticmethod
    def _peek_usage() -> dict:
        return {"input_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}

    def start(self) -> FakeAnthropic:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- rendering and schema rules ---------------------------------------------------------------------------


def _check_images(body: dict) -> None:
    """The per-image rules of the Messages API (see IMAGE_MAX_SIDE), with its messages."""
    images = [
        (f"messages.{i}.content.{j}.image.source", block.get("source") or {})
        for i, message in enumerate(body.get("messages", []))
        for j, block in enumerate(message.get("content") if isinstance(message.get("content"), list) else [])
        if block.get("type") == "image"
    ]
    if len(images) > MAX_IMAGES:
        raise RuleViolation(f"messages: too many images in the request: {len(images)} > {MAX_IMAGES}")
    max_side = IMAGE_MAX_SIDE_MANY if len(images) > MANY_IMAGES else IMAGE_MAX_SIDE
    for where, source in images:
        if source.get("type") != "base64":
            continue
        media_type, data = source.get("media_type"), source.get("data") or ""
        if media_type not in IMAGE_MEDIA_TYPES:
            raise RuleViolation(f"{where}.media_type: Input should be {sorted(IMAGE_MEDIA_TYPES)}")
        if len(data) > IMAGE_MAX_BASE64_BYTES:
            raise RuleViolation(
                f"{where}.base64: image exceeds 5 MB maximum: {len(data)} bytes > {IMAGE_MAX_BASE64_BYTES} bytes"
            )
        try:
            with Image.open(io.BytesIO(base64.b64decode(data, validate=True))) as image:
                fmt, (width, height) = image.format, image.size
        except Exception:  # noqa: BLE001 - anything Pillow cannot open, the API cannot either
            raise RuleViolation(f"{where}.base64.data: Could not process image") from None
        if fmt != IMAGE_MEDIA_TYPES[media_type]:
            raise RuleViolation(f"{where}.base64.data: Image does not match the provided media type {media_type}")
        if max(width, height) > max_side:
            many = " for many-image requests" if max_side == IMAGE_MAX_SIDE_MANY else ""
            raise RuleViolation(
                f"{where}.base64.data: At least one of the image dimensions exceed max allowed size{many}: "
                f"{max_side} pixels"
            )


def _system_blocks(body: dict) -> list[dict]:
    system = body.get("system")
    if isinstance(system, str):
        return [{"type": "text", "text": system}] if system else []
    return list(system or [])


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _render(body: dict) -> list[tuple[str, bool]]:
    """The prompt as (canonical block, carries a breakpoint) in API order: tools, system, messages.
    String message content counts as one text block, as the API treats it."""
    parts: list[tuple[str, dict]] = [("tool", t) for t in body.get("tools", [])]
    parts += [("system", b) for b in _system_blocks(body)]
    for index, message in enumerate(body.get("messages", [])):
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
        parts += [(f"{index}:{message.get('role')}", b) for b in blocks]
    return [(json.dumps([where, _canonical(b)], sort_keys=True), "cache_control" in b) for where, b in parts]


def _check_output_config(config: Any) -> None:
    if not isinstance(config, dict) or set(config) - {"effort", "format"}:
        raise RuleViolation("output_config: only 'effort' and 'format' are accepted")
    if config.get("effort") not in (None, "low", "medium", "high", "xhigh", "max"):
        raise RuleViolation(f"output_config.effort: unknown value {config.get('effort')!r}")
    fmt = config.get("format")
    if fmt is None:
        return
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
        raise RuleViolation("output_config.format must be {'type': 'json_schema', 'schema': {...}}")
    if set(fmt) - {"type", "schema"}:
        raise RuleViolation(f"output_config.format: unexpected fields {sorted(set(fmt) - {'type', 'schema'})}")
    problem = strict_schema_problem(fmt["schema"])
    if problem:
        raise RuleViolation(f"output_config.format.schema is not supported: {problem}")


def strict_schema_problem(schema: Any, path: str = "#") -> str:
    """Why a schema is outside the structured-outputs subset ("" when it is inside)."""
    if not isinstance(schema, dict):
        return f"{path}: a schema must be an object"
    unknown = set(schema) - STRICT_KEYWORDS
    if unknown:
        return f"{path}: unsupported keywords {sorted(unknown)}"
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    if any(k not in STRICT_TYPES for k in kinds):
        return f"{path}: unsupported type {kind!r}"
    if not kinds and not any(k in schema for k in ("enum", "const", "anyOf", "allOf", "$ref")):
        return f"{path}: a schema needs a type"
    if "object" in kinds:
        if schema.get("additionalProperties") is not False:
            return f"{path}: objects must set additionalProperties to false"
        properties = schema.get("properties", {})
        missing = [name for name in schema.get("required", []) if name not in properties]
        if missing:
            return f"{path}: required names unknown properties {missing}"
        for name, sub in properties.items():
            problem = strict_schema_problem(sub, f"{path}/properties/{name}")
            if problem:
                return problem
    if "array" in kinds and "items" in schema:
        problem = strict_schema_problem(schema["items"], f"{path}/items")
        if problem:
            return problem
    if schema.get("minItems") not in (None, 0, 1):
        return f"{path}: minItems other than 0 or 1 is not supported"
    for key in ("anyOf", "allOf"):
        for i, sub in enumerate(schema.get(key, [])):
            problem = strict_schema_problem(sub, f"{path}/{key}/{i}")
            if problem:
                return problem
    for name, sub in (schema.get("$defs") or schema.get("definitions") or {}).items():
        problem = strict_schema_problem(sub, f"{path}/$defs/{name}")
        if problem:
            return problem
    return ""


@pytest.fixture
def fake_anthropic():  # noqa: ANN201
    fake = FakeAnthropic().start()
    yield fake
    fake.stop()
