"""How money reads to people, in the terminal and on the web pages alike (plain Python, no Django):
cents from one cent up, a tenth of a cent below it, never "$0.000000", and usage that billed nothing says
it was an offline estimate. static/harness/session.js and transcript.js write it the same way."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
MILL = Decimal("0.001")


def dollars(value: object, estimated: bool = False) -> str:
    """`$12.35`, `$0.42`, `$0.004`, `<$0.001`, `$0` — or `$0 (offline estimate)` when nothing was billed."""
    try:
        amount = Decimal(str(value if value is not None else 0))
    except InvalidOperation:
        return "—"
    if not amount.is_finite():
        return "—"
    if amount == 0:
        return "$0 (offline estimate)" if estimated else "$0"
    if amount < MILL:
        return "<$0.001"
    if (mills := amount.quantize(MILL, rounding=ROUND_HALF_UP)) < CENT:
        return f"${mills}"
    return f"${amount.quantize(CENT, rounding=ROUND_HALF_UP):,}"


def exact_dollars(value: object) -> str:
    """The exact amount for a tooltip, without padding zeros: `$0.00412`, `$0`."""
    try:
        amount = Decimal(str(value if value is not None else 0))
    except InvalidOperation:
        return "—"
    if not amount.is_finite():
        return "—"
    text = format(amount.normalize(), "f") if amount else "0"
    return f"${text}"
