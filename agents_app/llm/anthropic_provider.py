"""The `anthropic` provider on the official SDK, following the current model's API rules.

- **One SDK client per worker process** (cached by key, base URL and timeout) with `max_retries=0`:
  the engine retries, so each retry is an event and a worker is never held by hidden back-off.
- **Faults are classified** into an `LLMError` with `category`, `retryable` and `retry_after` (seconds,
  from `retry-after-ms` / `retry-after`, uncapped: the engine caps it). Retryable: "timeout",
  "connection", "rate_limited" (429), "overloaded" (529, or a streamed `overloaded_error`),
  "server_error" (other 5xx, 408, 409, a streamed `api_error`), "bad_response" (a 200 whose body is
  not JSON, a stream that ends early, an empty answer). Final: "invalid_request" (400/413/422, with the
  API's message), "auth" (401/403), "not_found" (404: the model name), "refused" (stop_reason
  refusal), "truncated" (a JSON answer cut at max_tokens), "validation" (a JSON answer still invalid
  after one repair). Every call is recorded once with `record_call`, failures with `error=` and zero
  usage; a refused answer is recorded with its usage, since it was billed.
- **Current model rules** (claude-sonnet-5-5): no `tool_choice` forcing, no sampling parameters, thinking
  is never disabled. `thinking: {"type": "adaptive", "display": "summarized"}` keeps adaptive thinking and
  returns the text the model writes between tool calls (it arrives in `thinking` blocks; the default
  display omits it). Streamed thinking and text both go to `on_text`. `LLMResponse.content` holds the
  assistant blocks exactly as they must be sent back next turn: thinking (signature untouched),
  redacted_thinking, text, tool_use.
- **JSON answers** use structured outputs (`output_config.format` with an adapted copy of the schema,
  see `schemas.py`), are validated against the original schema with jsonschema, and get one repair
  request (purpose "<purpose>.repair"). **Tools** are strict (`strict: true`).
- **Prompt caching** when `request.cache` is set (agent steps): breakpoints on the system block, on the
  last block of the newest message and on the last block of the previous user message (the newest
  message's breakpoint of the step before, so its cache entry is found however many blocks the step
  added). Three of the four allowed. One-off calls (`cache=False`) carry no `cache_control` at all.
"""

from __future__ import annotations

import email.utils
import json
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anthropic
import httpx2
import jsonschema
from django.conf import settings

from agents_app.llm.base import LLMError, LLMRequest, LLMResponse, ToolCall, Usage
from agents_app.llm.pricing import cost_of
from agents_app.llm.recording import record_call
from agents_app.llm.schemas import restore, strict_schema

EPHEMERAL = {"type": "ephemeral"}
#: Text between tool calls comes back in thinking blocks; "summarized" returns it (see the module docstring).
THINKING = {"type": "adaptive", "display": "summarized"}
#: Older models without adaptive thinking: no `thinking` parameter is sent to them.
_NO_ADAPTIVE_THINKING = ("claude-3", "claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-1", "claude-opus-4-5")
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)
#: The fields of each block type that go back to the API in the next request.
_BLOCK_FIELDS = {
    "text": ("type", "text", "citations"),
    "thinking": ("type", "thinking", "signature"),
    "redacted_thinking": ("type", "data"),
    "tool_use": ("type", "id", "name", "input"),
}

_clients: dict[tuple[str, str | None, float], anthropic.Anthropic] = {}
_clients_lock = threading.Lock()


def client_for(api_key: str, base_url: str | None, timeout: float) -> anthropic.Anthropic:
    """The process's SDK client for these settings (one connection pool per worker process)."""
    key = (api_key, base_url, timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = anthropic.Anthropic(
                api_key=api_key or "missing-key", base_url=base_url, max_retries=0, timeout=timeout
            )
        return client


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, *, api_key: str, base_url: str | None, model: str) -> None:
        self.model = model
        self.client = client_for(api_key, base_url or None, float(settings.HARNESS_LLM_TIMEOUT_SECONDS))

    # -- public interface ------------------------------------------------------------------------

    def complete(self, request: LLMRequest, *, on_text: Callable[[str], None] | None = None) -> LLMResponse:
        return self._call(request, purpose=request.context.purpose, on_text=on_text)

    def complete_json(
        self, request: LLMRequest, *, schema: dict, offline_answer: Callable[[], dict] | None = None
    ) -> tuple[dict, LLMResponse]:
        output_format = {"type": "json_schema", "schema": strict_schema(schema)}
        purpose = request.context.purpose
        response = self._call(request, purpose=purpose, output_format=output_format)
        _stop_if_truncated(response, purpose)
        answer, problem = _parse(response.text, schema)
        if problem is None:
            return answer, response
        repair = LLMRequest(
            system=request.system,
            messages=[
                *request.messages,
                {"role": "assistant", "content": response.content},
                {
                    "role": "user",
                    "content": f"That answer is not usable: {problem}. Reply with only the corrected JSON object.",
                },
            ],
            context=request.context,
            max_tokens=request.max_tokens,
        )
        repaired = self._call(repair, purpose=f"{purpose}.repair", output_format=output_format)
        _stop_if_truncated(repaired, purpose)
        answer, problem = _parse(repaired.text, schema)
        if problem is not None:
            raise LLMError(
                f"the model's {purpose} answer stayed invalid after one repair: {problem}", category="validation"
            )
        return answer, repaired

    # -- one request --------------------------------------------------------------------------------

    def _params(self, request: LLMRequest, output_format: dict | None) -> dict:
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": _messages(request.messages, cache=request.cache),
        }
        if not self.model.startswith(_NO_ADAPTIVE_THINKING):
            params["thinking"] = THINKING
        if request.system:
            system: dict[str, Any] = {"type": "text", "text": request.system}
            if request.cache:
                system["cache_control"] = EPHEMERAL
            params["system"] = [system]
        if request.tools:
            params["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.input_schema, "strict": True}
                for t in request.tools
            ]
        if output_format is not None:
            params["output_config"] = {"format": output_format}
        return params

    def _call(
        self,
        request: LLMRequest,
        *,
        purpose: str,
        on_text: Callable[[str], None] | None = None,
        output_format: dict | None = None,
    ) -> LLMResponse:
        params = self._params(request, output_format)
        started = time.monotonic()
        try:
            if on_text is None:
                message = self.client.messages.create(**params)
            else:
                message = _stream(self.client, params, on_text)
            if not isinstance(message, anthropic.types.Message):
                raise _BadResponse(f"the API answered 200 with a body that is not a message ({type(message).__name__})")
            if message.stop_reason is None:
                raise _BadResponse("the answer stream ended before the message was complete")
        except Exception as exc:  # noqa: BLE001 - every fault is classified, recorded and re-raised as LLMError
            error = classify(exc, model=self.model)
            self._record_failure(request, purpose, started, f"{error.category}: {error}")
            raise error from exc
        response = self._response(message, started)
        if response.stop_reason == "refusal":
            said = response.text.strip() or "(no text)"
            details = getattr(message, "stop_details", None)
            reason = f" ({details.category}: {details.explanation})" if details is not None and details.category else ""
            error = LLMError(f"the model refused to answer{reason}; it said: {said}", category="refused")
            record_call(
                request.context, provider=self.name, model=self.model, purpose=purpose, response=response,
                error=f"refused: {error}",
            )  # fmt: skip
            raise error
        if not response.content:
            record_call(
                request.context, provider=self.name, model=self.model, purpose=purpose, response=response,
                error="bad_response: empty answer",
            )  # fmt: skip
            raise LLMError(
                f"the model gave an empty answer (stop_reason {response.stop_reason})",
                category="bad_response",
                retryable=True,
            )
        record_call(request.context, provider=self.name, model=self.model, purpose=purpose, response=response)
        return response

    def _response(self, message: anthropic.types.Message, started: float) -> LLMResponse:
        usage = Usage(
            input_tokens=message.usage.input_tokens or 0,
            output_tokens=message.usage.output_tokens or 0,
            cache_read_tokens=message.usage.cache_read_input_tokens or 0,
            cache_write_tokens=message.usage.cache_creation_input_tokens or 0,
        )
        content = [_plain_block(block.model_dump(exclude_none=True)) for block in message.content]
        return LLMResponse(
            text="".join(block.text for block in message.content if block.type == "text"),
            tool_calls=[
                ToolCall(id=block.id, name=block.name, input=dict(block.input))
                for block in message.content
                if block.type == "tool_use"
            ],
            stop_reason=message.stop_reason or "",
            usage=usage,
            model=message.model or self.model,
            provider=self.name,
            latency_ms=round((time.monotonic() - started) * 1000),
            cost_usd=cost_of(self.model, usage),
            content=[block for block in content if block],
        )

    def _record_failure(self, request: LLMRequest, purpose: str, started: float, error: str) -> None:
        latency = round((time.monotonic() - started) * 1000)
        record_call(
            request.context, provider=self.name, model=self.model, purpose=purpose, latency_ms=latency, error=error
        )


class _BadResponse(Exception):
    """A 200 that is not a usable message."""


def _stream(client: anthropic.Anthropic, params: dict, on_text: Callable[[str], None]) -> anthropic.types.Message:
    """Stream the answer; thinking text (the model's notes between tool calls) and text both reach `on_text`,
    a blank line apart when a new block starts."""
    emitted, new_block = False, False
    with client.messages.stream(**params) as stream:
        for event in stream:
            if event.type == "content_block_start":
                new_block = True
                continue
            chunk = event.text if event.type == "text" else event.thinking if event.type == "thinking" else ""
            if not chunk:
                continue
            if new_block and emitted:
                on_text("\n\n")
            new_block, emitted = False, True
            on_text(chunk)
        return stream.get_final_message()


# -- requests -------------------------------------------------------------------------------------------


def _messages(messages: list[dict], *, cache: bool) -> list[dict]:
    """A copy of the conversation for the API: no caller's `cache_control` survives; with `cache`, a
    breakpoint on the last block of the newest message and of the previous user message. The caller's
    list (the run's checkpoint) is never changed."""
    prepared = [{**m, "content": [_unmarked(b) for b in m["content"]]} if isinstance(m["content"], list) else dict(m)
                for m in messages]  # fmt: skip
    if not cache or not prepared:
        return prepared
    marks = [len(prepared) - 1]
    previous_user = next((i for i in range(len(prepared) - 2, -1, -1) if prepared[i]["role"] == "user"), None)
    if previous_user is not None:
        marks.append(previous_user)
    for index in marks:
        message = prepared[index]
        if isinstance(message["content"], str):
            if not message["content"]:
                continue
            message["content"] = [{"type": "text", "text": message["content"]}]
        for block in reversed(message["content"]):
            if block.get("type") not in ("thinking", "redacted_thinking"):  # the API refuses markers on these
                block["cache_control"] = EPHEMERAL
                break
    return prepared


def _unmarked(block: dict) -> dict:
    return {k: v for k, v in block.items() if k != "cache_control"} if "cache_control" in block else dict(block)


def _plain_block(block: dict) -> dict:
    """Only the fields the Messages API accepts back in a conversation; thinking blocks stay byte-identical."""
    keep = _BLOCK_FIELDS.get(block.get("type", ""))
    if keep is None:
        return block
    if block["type"] == "text" and not block.get("text"):
        return {}  # an empty text block is refused when sent back
    return {k: block[k] for k in keep if k in block}


# -- faults ---------------------------------------------------------------------------------------------


def classify(exc: Exception, *, model: str) -> LLMError:
    """The `LLMError` for whatever the SDK (or the wire) raised."""
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
        return LLMError(f"the model API did not answer in time ({exc})", category="timeout", retryable=True)
    if isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
        return LLMError(f"cannot reach the model API ({exc})", category="connection", retryable=True)
    if isinstance(exc, anthropic.APIStatusError):
        return _status_error(exc, model=model)
    return LLMError(
        f"the model API answered with something unusable ({type(exc).__name__}: {exc})",
        category="bad_response",
        retryable=True,
    )


def _status_error(exc: anthropic.APIStatusError, *, model: str) -> LLMError:
    status, kind = exc.status_code, exc.type or ""
    said = exc.api_message or str(exc)
    retry_after = retry_after_seconds(exc.response.headers) if status != 200 else None
    if status == 200:  # an SSE `error` event in a stream that had started
        category = {"overloaded_error": "overloaded", "rate_limit_error": "rate_limited"}.get(kind, "server_error")
        return LLMError(f"the answer stream failed after it started ({kind or 'error'}: {said})", category=category,
                        retryable=True)  # fmt: skip
    if status == 429:
        return LLMError(f"rate limited by the model API: {said}", category="rate_limited", retryable=True,
                        retry_after=retry_after)  # fmt: skip
    if status == 529 or kind == "overloaded_error":
        return LLMError(f"the model API is overloaded: {said}", category="overloaded", retryable=True,
                        retry_after=retry_after)  # fmt: skip
    if status >= 500 or status in (408, 409):
        return LLMError(f"the model API failed ({status}): {said}", category="server_error", retryable=True,
                        retry_after=retry_after)  # fmt: skip
    if status in (400, 413, 422):
        return LLMError(
            f"the model API refused the request as invalid ({status}: {said}); this is a bug in how Harness builds the "
            "request (or a prompt/image that is too large), not a passing fault",
            category="invalid_request",
        )
    if status in (401, 403):
        return LLMError(f"the model API refused the key ({status}: {said}); check ANTHROPIC_API_KEY", category="auth")
    if status == 404:
        return LLMError(
            f"the model name HARNESS_LLM_MODEL={model} is not known to the API ({said}); set it to a current model",
            category="not_found",
        )
    return LLMError(f"the model API answered {status}: {said}", category="llm_error")


def retry_after_seconds(headers: Any) -> float | None:
    """What the API asked us to wait, in seconds: `retry-after-ms`, else `retry-after` (seconds or a date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# -- JSON answers -----------------------------------------------------------------------------------------


def _stop_if_truncated(response: LLMResponse, purpose: str) -> None:
    if response.stop_reason == "max_tokens":
        raise LLMError(
            f"the model's {purpose} answer was cut off at max_tokens before the JSON was complete",
            category="truncated",
        )


def _parse(text: str, schema: dict) -> tuple[dict, str | None]:
    cleaned = _FENCE.sub("", text.strip())
    start, end = cleaned.find("{"), cleaned.rfind("}")
    if start < 0 or end <= start:
        return {}, "no JSON object found"
    try:
        answer = restore(json.loads(cleaned[start : end + 1]), schema)
    except json.JSONDecodeError as exc:
        return {}, f"invalid JSON ({exc.msg} at position {exc.pos})"
    try:
        jsonschema.validate(answer, schema)
    except jsonschema.ValidationError as exc:
        return {}, f"does not match the schema: {exc.message} at {'/'.join(map(str, exc.absolute_path)) or 'top level'}"
    return answer, None
