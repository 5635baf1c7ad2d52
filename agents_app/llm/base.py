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
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass
class CallContext:
    purpose: str
    session_id: int | None = None
    run_id: int | None = None
    offline_hint: dict = field(default_factory=dict)


@dataclass
class LLMRequest:
    system: str
    messages: list[dict]
    context: CallContext
    tools: list[ToolSpec] = field(default_factory=list)
    max_tokens: int = 4096


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


class LLMError(Exception):
    """category: "llm_error", "timeout" or "validation" (the run's failure category)."""

    def __init__(self, message: str, *, category: str = "llm_error", retryable: bool = False) -> None:
        super().__init__(message)
        self.category, self.retryable = category, retryable


class LLMProvider(Protocol):
    name: str
    model: str

    def complete(self, request: LLMRequest, *, on_text: Callable[[str], None] | None = None) -> LLMResponse: ...

    def complete_json(
        self, request: LLMRequest, *, schema: dict, offline_answer: Callable[[], dict] | None = None
    ) -> tuple[dict, LLMResponse]: ...
