"""How money reads to people, in the terminal and on the web pages alike (plain Python, no Django):
never "$0.000000", and usage that billed nothing says it was an offline estimate."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

SMALLEST = Decimal("0.0001")


def dollars(value: object, estimated: bool = False) -> str:
    """`$0.0123`, `$12.35`, `< $0.0001`, `$0` — or `$0 (offline estimate)` when nothing was billed."""
    try:
        amount = Decimal(str(value if value is not None else 0))
    except InvalidOperation:
        return "—"
    if amount == 0:
        return "$0 (offline estimate)" if estimated else "$0"
    if amount < SMALLEST:
        return "< $0.0001"
    if (rounded := amount.quantize(SMALLEST)) < 1:
        return f"${rounded}"
    return f"${amount.quantize(Decimal('0.01')):,}"
