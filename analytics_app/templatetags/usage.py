"""`dollars` and `tokens` for the pages: the same wording as the CLI (`harness_cli.money`)."""

from __future__ import annotations

from django import template

from harness_cli.money import dollars as _dollars
from harness_cli.money import exact_dollars as _exact_dollars

register = template.Library()


@register.filter
def dollars(value: object, estimated: bool = False) -> str:
    return _dollars(value, estimated)


@register.filter
def exact_dollars(value: object) -> str:
    """The exact amount for a tooltip: `$0.004123`, never `$0.000000`."""
    return _exact_dollars(value)


@register.filter
def tokens(value: int | None) -> str:
    """12,345 — thousands separated, as in the CLI."""
    return f"{int(value or 0):,}"
