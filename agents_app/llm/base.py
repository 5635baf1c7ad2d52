"""The one small interface every LLM provider implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    input: dict


@dataclass(frozen=True)
class Usage:
    """What one call used, as the provider bills it. `estimated`: counted by Harness, not billed (offline)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    estimated: bool = False

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens


@dataclass
class CallContext:
    purpose: str
    session_id: int | None = None
    run_id: int | None = None
    offline_hint: dict = field(default_factory=dict)
    #: An agent step: its usage is counted in the step's own transaction, not when the call is recorded.
    defer_counting: bool = False


@dataclass
class LLMRequest:
    system: str
    messages: list[dict]
    context: CallContext
    tools: list[ToolSpec] = field(default_factory=list)
    max_tokens: int = 4096
    #: A conversation that grows call after call (agent steps): cache its prefix up to the newest message.
    #: One-off calls (vision, selection, breakdown) leave it False and pay no cache writes.
    cache: bool = False


@dataclass
class LLMResponse:
    text: str
    tool_calls: list[ToolCall]
    stop_reason: str
    usage: Usage
    model: str
    provider: str
    latency_ms: int
    cost_usd: Decimal
    content: list[dict]
    #: The `LLMCall` recorded for it (set by `record_call`).
    call_id: int | None = None


class LLMError(Exception):
    """A call that gave no usable answer. `category` becomes the run's failure category (see
    `FailureCategory`): retryable ones are "timeout", "connection", "rate_limited", "overloaded",
    "server_error", "bad_response"; final ones are "invalid_request", "auth", "not_found", "refused",
    "validation", "llm_error". `retry_after` is what the API asked for (seconds), if it said."""

    def __init__(
        self, message: str, *, category: str = "llm_error", retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.category, self.retryable, self.retry_after = category, retryable, retry_after


class LLMProvider(Protocol):
    name: str
    model: str

    def complete(self, request: LLMRequest, *, on_text: Callable[[str], None] | None = None) -> LLMResponse: ...

    def complete_json(
        self, request: LLMRequest, *, schema: dict, offline_answer: Callable[[], dict] | None = None
    ) -> tuple[dict, LLMResponse]: ...
