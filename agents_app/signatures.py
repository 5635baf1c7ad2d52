"""Error signatures: the same failure, whatever ids and numbers it names, groups together."""

from __future__ import annotations

import re

_VARIABLE_PARTS = [
    (re.compile(r"\b(dev|run|art|apr|kn)_[0-9a-z]{20}\b"), r"\1_…"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "'…'"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b\d+(\.\d+)?\b", re.IGNORECASE), "N"),
]


def error_signature(error: str) -> str:
    """The error's first line with ids, quoted values and numbers masked."""
    first_line = (error or "").strip().splitlines()[0] if (error or "").strip() else ""
    for pattern, replacement in _VARIABLE_PARTS:
        first_line = pattern.sub(replacement, first_line)
    return first_line[:160]
