"""What a model call costs: one dated price table per model, each entry naming the page it was read from.

USD per million tokens: base input, output, 5-minute cache write, cache read (hits and refreshes).
Harness writes 5-minute cache entries only (`cache_control: {"type": "ephemeral"}`), so the 1-hour
write price is not needed. Re-check the pages when a price looks stale, and change `checked` with it.

A model that is not in the table is priced at the most expensive entry, with a warning in the log:
an unknown model is never silently cheap. Offline counts (`Usage.estimated`) cost nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from decimal import Decimal

from agents_app.llm.base import Usage

logger = logging.getLogger(__name__)

MILLION = Decimal(1_000_000)
PRICING_PAGE = "https://platform.claude.com/docs/en/about-claude/pricing"


@dataclass(frozen=True)
class Price:
    input: Decimal
    output: Decimal
    cache_write: Decimal
    cache_read: Decimal
    checked: str
    source: str
    #: Haiku 5.5 bills a whole request at `long_prompt` prices when its prompt (input + cache reads and
    #: writes) is longer than this many tokens.
    long_prompt_above: int | None = None
    long_prompt: Price | None = None


def _price(input_: str, output: str, write: str, read: str, *, checked: str, source: str, **extra) -> Price:  # noqa: ANN003
    return Price(Decimal(input_), Decimal(output), Decimal(write), Decimal(read), checked, source, **extra)


PRICES: dict[str, Price] = {
    # Model page: $2 input, $10 output, $2.50 5m write, $4 1h write, $0.20 cache read. Two price trackers
    # (claudit v1.9.2, PromptFuel v1.0.23) record a cut of cache reads to $0.10 from 2026-10-07 that the
    # model page we read does not show. We keep the model page's $0.20: Anthropic's own page is the source,
    # and if the cut is real we over-report cache reads by $0.10/MTok instead of under-reporting spend.
    "claude-sonnet-5-5": _price(
        "2", "10", "2.50", "0.20",
        checked="2026-11-25", source="https://platform.claude.com/docs/en/models/sonnet-5-5/overview",
    ),
    "claude-opus-5-5": _price(
        "4", "20", "5", "0.20",
        checked="2026-11-25", source="https://platform.claude.com/docs/en/models/opus-5-5/overview",
    ),
    # Priced by prompt length (pricing page, "From $0.10 / $0.50"): up to 100,000 prompt tokens, then the
    # whole request at the long-prompt prices.
    "claude-haiku-5-5": _price(
        "0.10", "0.50", "0.125", "0.01",
        checked="2026-11-25", source=PRICING_PAGE,
        long_prompt_above=100_000,
        long_prompt=_price("0.50", "2.50", "0.625", "0.05", checked="2026-11-25", source=PRICING_PAGE),
    ),
    "claude-sonnet-5": _price(
        "2", "10", "2.50", "0.20",
        checked="2026-11-25", source="https://platform.claude.com/docs/en/models/sonnet-5/overview",
    ),
    "claude-opus-5": _price("5", "25", "6.25", "0.50", checked="2026-11-25", source=PRICING_PAGE),
    "claude-haiku-4-5": _price("1", "5", "1.25", "0.10", checked="2026-11-25", source=PRICING_PAGE),
    "claude-fable-5-1": _price("10", "50", "12.50", "0.25", checked="2026-11-25", source=PRICING_PAGE),
}  # fmt: skip

#: Dated ids ("claude-haiku-4-5-20251001") and the 1M-context alias ("…[1m]") price as their model.
_SUFFIX = re.compile(r"(-\d{8}|\[1m\])$")
_warned: set[str] = set()


def price_for(model: str) -> Price:
    name = _SUFFIX.sub("", model.strip().lower())
    if name in PRICES:
        return PRICES[name]
    dearest = max(PRICES, key=lambda key: (PRICES[key].output, PRICES[key].input))
    if model not in _warned:
        _warned.add(model)
        logger.warning(
            "no price for model %r: priced as %s (the most expensive known); add it to agents_app/llm/pricing.py",
            model,
            dearest,
        )
    return PRICES[dearest]


def cost_of(model: str, usage: Usage) -> Decimal:
    if usage.estimated or model == "offline":
        return Decimal(0)
    price = price_for(model)
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    if price.long_prompt is not None and price.long_prompt_above is not None and prompt > price.long_prompt_above:
        price = price.long_prompt
    total = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_write_tokens * price.cache_write
        + usage.cache_read_tokens * price.cache_read
    )
    return (total / MILLION).quantize(Decimal("0.000001"))
