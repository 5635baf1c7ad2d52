"""Every call to a model becomes an `LLMCall` row and counts, in the same transaction, in its
session's and run's usage — whatever happens to the step that made it (a fenced or failed step was
still billed). So the session's totals are the bill: vision, selection, planning, breakdown, steps
and repairs, with cache reads and writes."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F

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
    from agents_app.models import AgentRun, LLMCall
    from sessions_app.models import DevelopmentSession

    usage = response.usage if response is not None else (usage or Usage())
    cost = cost_of(model, usage)
    try:
        with transaction.atomic():
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
                cost_usd=cost,
                estimated=usage.estimated,
                ok=not error,
                error=error[:2000],
            )
            if not usage.total and not cost:
                return
            counters = {
                "input_tokens": F("input_tokens") + usage.input_tokens,
                "output_tokens": F("output_tokens") + usage.output_tokens,
                "cache_read_tokens": F("cache_read_tokens") + usage.cache_read_tokens,
                "cache_write_tokens": F("cache_write_tokens") + usage.cache_write_tokens,
                "cost_usd": F("cost_usd") + cost,
            }
            if context.run_id is not None:
                AgentRun.objects.filter(pk=context.run_id).update(**counters)
            if context.session_id is not None:
                extra = {"usage_estimated": True} if usage.estimated else {}
                DevelopmentSession.objects.filter(pk=context.session_id).update(
                    **counters, tokens_used=F("tokens_used") + usage.total, **extra
                )
    except Exception:  # noqa: BLE001 - bookkeeping must never fail the call it records
        logger.warning("could not record an LLM call (%s)", context.purpose, exc_info=True)
