"""Every call to a model becomes an `LLMCall` row: purpose, tokens, latency, cost, outcome."""

from __future__ import annotations

import logging

from agents_app.llm.base import CallContext, LLMResponse, Usage
from agents_app.llm.pricing import cost_of

logger = logging.getLogger(__name__)


def record_call(
    context: CallContext,
    *,
    provider: str,
    model: str,
    purpose: str | None = None,
    response: LLMResponse | None = None,
    usage: Usage | None = None,
    latency_ms: int = 0,
    error: str = "",
) -> None:
    from agents_app.models import LLMCall

    usage = response.usage if response is not None else (usage or Usage())
    try:
        LLMCall.objects.create(
            session_id=context.session_id,
            run_id=context.run_id,
            purpose=(purpose or context.purpose)[:40],
            provider=provider,
            model=model[:80],
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            latency_ms=response.latency_ms if response is not None else latency_ms,
            cost_usd=cost_of(model, usage),
            ok=not error,
            error=error[:2000],
        )
    except Exception:  # noqa: BLE001 - bookkeeping must never fail the call it records
        logger.warning("could not record an LLM call (%s)", context.purpose, exc_info=True)
