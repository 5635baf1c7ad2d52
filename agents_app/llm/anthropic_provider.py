"""The `anthropic` provider on the official SDK.

Prompt caching on the stable prefix (system prompt and tool definitions), image blocks passed
through, tool use, JSON answers validated against a schema with one repair request, retries with
backoff on 408/409/429/5xx/529 and timeouts (the SDK's own, `max_retries`), streaming of text for
the live view, and every call recorded with its tokens, latency and cost.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import anthropic
import jsonschema
from django.conf import settings

from agents_app.llm.base import LLMError, LLMRequest, LLMResponse, ToolCall, Usage
from agents_app.llm.pricing import cost_of
from agents_app.llm.recording import record_call

JSON_INSTRUCTION = (
    "\n\nAnswer with ONE JSON object only — no prose, no code fences — valid against this JSON schema:\n{schema}"
)
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, *, api_key: str, base_url: str | None, model: str) -> None:
        self.model = model
        self.client = anthropic.Anthropic(
            api_key=api_key or "missing-key",
            base_url=base_url or None,
            max_retries=getattr(settings, "HARNESS_LLM_MAX_RETRIES", 3),
            timeout=float(getattr(settings, "HARNESS_LLM_TIMEOUT_SECONDS", 60)),
        )

    # -- public interface ------------------------------------------------------------------------

    def complete(self, request: LLMRequest, *, on_text: Callable[[str], None] | None = None) -> LLMResponse:
        return self._call(request, on_text=on_text, purpose=request.context.purpose)

    def complete_json(
        self, request: LLMRequest, *, schema: dict, offline_answer: Callable[[], dict] | None = None
    ) -> tuple[dict, LLMResponse]:
        schema_text = json.dumps(schema)
        asking = LLMRequest(
            system=request.system + JSON_INSTRUCTION.format(schema=schema_text),
            messages=request.messages,
            context=request.context,
            max_tokens=request.max_tokens,
        )
        response = self._call(asking, purpose=request.context.purpose)
        answer, problem = _parse(response.text, schema)
        if problem is None:
            return answer, response
        repair = LLMRequest(
            system=asking.system,
            messages=[
                *request.messages,
                {"role": "assistant", "content": response.text or "(empty)"},
                {
                    "role": "user",
                    "content": f"That answer is not usable: {problem}. Reply with only the corrected JSON object.",
                },
            ],
            context=request.context,
            max_tokens=request.max_tokens,
        )
        repaired = self._call(repair, purpose=f"{request.context.purpose}.repair")
        answer, problem = _parse(repaired.text, schema)
        if problem is not None:
            raise LLMError(
                f"the model's {request.context.purpose} answer stayed invalid: {problem}", category="validation"
            )
        return answer, repaired

    # -- one request --------------------------------------------------------------------------------

    def _params(self, request: LLMRequest) -> dict:
        params: dict = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            # The stable prefix — system prompt, then tools — is cached; messages vary per step.
            "system": [{"type": "text", "text": request.system, "cache_control": {"type": "ephemeral"}}],
            "messages": request.messages,
        }
        if request.tools:
            tools = [
                {"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in request.tools
            ]
            tools[-1]["cache_control"] = {"type": "ephemeral"}
            params["tools"] = tools
        return params

    def _call(self, request: LLMRequest, *, purpose: str, on_text: Callable[[str], None] | None = None) -> LLMResponse:
        started = time.monotonic()
        try:
            if on_text is None:
                message = self.client.messages.create(**self._params(request))
            else:
                with self.client.messages.stream(**self._params(request)) as stream:
                    for text in stream.text_stream:
                        on_text(text)
                    message = stream.get_final_message()
        except anthropic.APITimeoutError as exc:
            self._record_failure(request, purpose, started, f"timeout: {exc}")
            raise LLMError(f"the model did not answer in time ({exc})", category="timeout", retryable=True)
        except anthropic.APIStatusError as exc:
            self._record_failure(request, purpose, started, f"{exc.status_code}: {exc.message}")
            retryable = exc.status_code in (408, 409, 429) or exc.status_code >= 500
            raise LLMError(f"the model API answered {exc.status_code}: {exc.message}", retryable=retryable)
        except anthropic.APIConnectionError as exc:
            self._record_failure(request, purpose, started, f"connection: {exc}")
            raise LLMError(f"cannot reach the model API ({exc})", retryable=True)
        response = self._response(message, started)
        record_call(request.context, provider=self.name, model=self.model, purpose=purpose, response=response)
        return response

    def _response(self, message: anthropic.types.Message, started: float) -> LLMResponse:
        content = [block.model_dump(exclude_none=True) for block in message.content]
        usage = Usage(
            input_tokens=message.usage.input_tokens or 0,
            output_tokens=message.usage.output_tokens or 0,
            cache_read_tokens=getattr(message.usage, "cache_read_input_tokens", 0) or 0,
            cache_write_tokens=getattr(message.usage, "cache_creation_input_tokens", 0) or 0,
        )
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
            content=[_plain_block(block) for block in content],
        )

    def _record_failure(self, request: LLMRequest, purpose: str, started: float, error: str) -> None:
        latency = round((time.monotonic() - started) * 1000)
        record_call(
            request.context, provider=self.name, model=self.model, purpose=purpose, latency_ms=latency, error=error
        )


def _plain_block(block: dict) -> dict:
    """Only the fields the Messages API accepts back in a conversation."""
    keep = {"text": ("type", "text"), "tool_use": ("type", "id", "name", "input")}.get(block.get("type"))
    return {k: block[k] for k in keep if k in block} if keep else block


def _parse(text: str, schema: dict) -> tuple[dict, str | None]:
    cleaned = _FENCE.sub("", text.strip())
    start, end = cleaned.find("{"), cleaned.rfind("}")
    if start < 0 or end <= start:
        return {}, "no JSON object found"
    try:
        answer = json.loads(cleaned[start : end + 1])
    except json.JSONDecodeError as exc:
        return {}, f"invalid JSON ({exc.msg} at position {exc.pos})"
    try:
        jsonschema.validate(answer, schema)
    except jsonschema.ValidationError as exc:
        return {}, f"does not match the schema: {exc.message} at {'/'.join(map(str, exc.absolute_path)) or 'top level'}"
    return answer, None
