"""JSON from untrusted clients, parsed within limits.

`json.loads` raises RecursionError on deep nesting ('[' * 2000), accepts NaN/Infinity, and turns the
escape "\\ud800" into a str that cannot be encoded (the database or the next `send` then fails).
`json_loads_limited` refuses all three with `UnsafeJson` (a ValueError) whose message says what to fix.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32
_SPECIAL = re.compile(r'[\\"\[\]{}]')


class UnsafeJson(ValueError):
    pass


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects, counted in one pass without parsing (strings skipped)."""
    depth = deepest = 0
    in_string, escaped_at = False, -1
    for match in _SPECIAL.finditer(text):
        char, position = match.group(), match.start()
        if position == escaped_at:
            continue
        if in_string:
            if char == "\\":
                escaped_at = position + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> Any:  # noqa: ANN401
    raise UnsafeJson(f"{name} is not valid JSON; send a number or a string.")


def _refuse_unencodable(value: Any) -> None:  # noqa: ANN401
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise UnsafeJson("A string holds a lone surrogate (e.g. \\ud800); send valid UTF-8 text.") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_unencodable(key)
            _refuse_unencodable(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_unencodable(item)


def json_loads_limited(text: str, max_depth: int = MAX_DEPTH) -> Any:  # noqa: ANN401
    """`json.loads`, refusing nesting deeper than `max_depth`, NaN/Infinity and lone surrogates."""
    if json_depth(text) > max_depth:
        raise UnsafeJson(f"JSON nested deeper than {max_depth} levels; send a flatter document.")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise UnsafeJson(f"Not valid JSON ({exc.msg} at character {exc.pos}).") from None
    except RecursionError:  # cannot happen after the depth count; kept so no input can crash the caller
        raise UnsafeJson(f"JSON nested deeper than {max_depth} levels; send a flatter document.") from None
    _refuse_unencodable(value)
    return value
