"""USD per million tokens, by model family: input, output, cache write, cache read."""

from __future__ import annotations

from decimal import Decimal

from agents_app.llm.base import Usage

PRICES: dict[str, tuple[str, str, str, str]] = {
    "opus": ("15", "75", "18.75", "1.50"),
    "sonnet": ("3", "15", "3.75", "0.30"),
    "haiku": ("1", "5", "1.25", "0.10"),
}
MILLION = Decimal(1_000_000)


def cost_of(model: str, usage: Usage) -> Decimal:
    if model == "offline":
        return Decimal(0)
    family = next((name for name in PRICES if name in model), "sonnet")
    price_in, price_out, price_write, price_read = (Decimal(p) for p in PRICES[family])
    total = (
        usage.input_tokens * price_in
        + usage.output_tokens * price_out
        + usage.cache_write_tokens * price_write
        + usage.cache_read_tokens * price_read
    )
    return (total / MILLION).quantize(Decimal("0.000001"))
