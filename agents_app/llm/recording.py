"""Every call to a model becomes an `LLMCall` row and counts in its session's and run's usage — whatever
happens to the step that made it (a fenced or failed step was still billed). So the session's totals are
the bill: vision, selection, planning, breakdown, steps and repairs, with cache reads and writes.

A call counts in the same transaction that records it, except an agent step's answer
(`CallContext.defer_counting`): its row is written at once (the bill survives any crash), uncounted, and
the step's own transaction counts it together with the step's other writes — one statement instead of a
transaction of three. A step that never commits (fenced, failed, its worker killed) leaves its call
uncounted; `count_uncounted` counts it, under the session lock, when the run is next claimed or the
step's failure is handled. A call is counted exactly once: by the step whose `AgentStep` names it, or
by `count_uncounted`, which skips those."""

from __future__ import annotations

import contextlib
import logging
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F

from agents_app.llm.base import CallContext, LLMResponse, Usage
from agents_app.llm.pricing import cost_of

logger = logging.getLogger(__name__)

#: The four kinds of token a call is billed for: `Usage`'s fields and the run's and session's counters alike.
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


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
    cost = cost_of(model, usage)
    deferred = context.defer_counting and response is not None and not error
    try:
        # One statement needs no transaction of its own: a deferred call is just its row.
        with transaction.atomic() if not deferred else contextlib.nullcontext():
            call = LLMCall.objects.create(
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
                counted=not deferred,
            )
            if response is not None:
                response.call_id = call.pk
            if not deferred:
                _count(context.session_id, context.run_id, usage, cost)
    except Exception:  # noqa: BLE001 - bookkeeping must never fail the call it records
        logger.warning("could not record an LLM call (%s)", context.purpose, exc_info=True)


def _count(session_id: int | None, run_id: int | None, usage: Usage, cost: Decimal) -> None:
    from agents_app.models import AgentRun
    from sessions_app.models import DevelopmentSession

    if not usage.total and not cost:
        return
    counters = {name: F(name) + getattr(usage, name) for name in TOKEN_FIELDS}
    counters["cost_usd"] = F("cost_usd") + cost
    if run_id is not None:
        AgentRun.objects.filter(pk=run_id).update(**counters)
    if session_id is not None:
        extra = {"usage_estimated": True} if usage.estimated else {}
        DevelopmentSession.objects.filter(pk=session_id).update(
            **counters, tokens_used=F("tokens_used") + usage.total, **extra
        )


def count_in_step(run: Any, response: LLMResponse) -> dict[str, Any]:
    """Inside the step's transaction, with `run` and `run.session` locked and read in it: add the step's call to
    both (in memory). Returns the session's new counters, for the statement that writes the session row."""
    usage, cost = response.usage, response.cost_usd
    session = run.session
    for name in TOKEN_FIELDS:
        setattr(run, name, getattr(run, name) + getattr(usage, name))
        setattr(session, name, getattr(session, name) + getattr(usage, name))
    run.cost_usd += cost
    session.cost_usd += cost
    session.tokens_used += usage.total
    session.usage_estimated = session.usage_estimated or usage.estimated
    return {name: getattr(session, name) for name in (*TOKEN_FIELDS, "cost_usd", "tokens_used", "usage_estimated")}


def count_uncounted(*, run_id: int) -> int:
    """Count the run's calls whose step never committed (no `AgentStep` names them), once. Call under the
    session lock. Returns how many there were."""
    from agents_app.models import LLMCall

    calls = list(
        LLMCall.objects.select_for_update(of=("self",))
        .filter(run_id=run_id, counted=False, steps__isnull=True)
        .values_list("pk", "session_id", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                     "cost_usd", "estimated")
    )  # fmt: skip
    if not calls:
        return 0
    LLMCall.objects.filter(pk__in=[c[0] for c in calls]).update(counted=True)
    for _, session_id, i, o, r, w, cost, estimated in calls:
        usage = Usage(input_tokens=i, output_tokens=o, cache_read_tokens=r, cache_write_tokens=w, estimated=estimated)
        _count(session_id, run_id, usage, cost)
    return len(calls)
