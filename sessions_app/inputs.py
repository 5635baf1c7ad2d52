"""What people may type, whatever the interface: one rule per field, checked at the service boundary.

The API serializers, the web forms and their templates read the same limits from here, and the services
call `clean_text` themselves, so the websocket, the CLI and any later interface refuse the same things
with the same message. Text that PostgreSQL cannot store (NUL) or that is not Unicode text at all (a lone
surrogate, which a JSON escape such as "\\ud800" can produce) is refused with the field's name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings

from sessions_app.errors import InvalidInput

_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class TextRule:
    """How long a field may be (characters, or UTF-8 bytes for documents and files) and whether it may be
    blank. `max_bytes_setting` names a setting, so an operator's limit is read when the check runs."""

    max_length: int | None = None
    max_bytes: int | None = None
    max_bytes_setting: str | None = None
    required: bool = True
    trim: bool = True

    def byte_limit(self) -> int | None:
        if self.max_bytes_setting:
            return int(getattr(settings, self.max_bytes_setting))
        return self.max_bytes


INTENT = TextRule(max_length=5000)
REQUIREMENT = TextRule(max_length=2000)
FEEDBACK = TextRule(max_length=5000)
COMMENT = TextRule(max_length=5000, required=False)
KNOWLEDGE_TITLE = TextRule(max_length=200)
KNOWLEDGE_BODY = TextRule(max_bytes_setting="HARNESS_MAX_KNOWLEDGE_BYTES")
ARTIFACT_CONTENT = TextRule(max_length=512 * 1024, max_bytes=512 * 1024, required=False, trim=False)
# Artifact paths have their own rules, on the model: `artifacts_app.models.artifact_path_problem`.
MAX_REQUIREMENTS = 50


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None."""
    if "\x00" in value:
        return "contains a NUL character (\\x00); remove it."
    found = _SURROGATE.search(value)
    if found:
        code = f"\\u{ord(found.group()):04x}"
        return f"contains a lone surrogate ({code}) at character {found.start()}; send valid Unicode."
    return None


def _problem(value: Any, rule: TextRule) -> tuple[str, str | None]:
    """(cleaned value, why it is refused or None)."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        return "", "must be a string."
    problem = text_problem(value)
    if problem:
        return value, problem
    if rule.trim:
        value = value.strip()
    if not value:
        return value, "may not be blank." if rule.required else None
    if rule.max_length is not None and len(value) > rule.max_length:
        return value, f"is {len(value)} characters long; the limit is {rule.max_length}."
    limit = rule.byte_limit()
    if limit is not None:
        size = len(value.encode())
        if size > limit:
            return value, f"is {size} bytes long; the limit is {limit} bytes."
    return value, None


def clean_text(value: Any, rule: TextRule, *, field: str) -> str:
    """The value trimmed (when the rule trims), or InvalidInput naming `field`."""
    return clean_fields({field: (value, rule)})[field]


def clean_fields(fields: Mapping[str, tuple[Any, TextRule]]) -> dict[str, str]:
    """Every field checked, every problem reported at once (a form shows them all)."""
    cleaned: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for field, (value, rule) in fields.items():
        cleaned[field], problem = _problem(value, rule)
        if problem:
            errors[field] = [f"'{field}' {problem}"]
    raise_if_errors(errors)
    return cleaned


def clean_text_list(
    values: Iterable[Any] | None, rule: TextRule, *, field: str, max_items: int | None = None
) -> list[str]:
    """A list of texts (requirements): blank items dropped, each item checked, the count limited."""
    cleaned: list[str] = []
    messages: list[str] = []
    for position, value in enumerate(values or [], start=1):
        text, problem = _problem(value, replace(rule, required=False))
        if problem:
            messages.append(f"'{field}' item {position} {problem}")
        elif text:
            cleaned.append(text)
    if max_items is not None and len(cleaned) > max_items:
        messages.append(f"'{field}' has {len(cleaned)} items; at most {max_items}.")
    raise_if_errors({field: messages} if messages else {})
    return cleaned


def raise_if_errors(errors: dict[str, list[str]]) -> None:
    """One InvalidInput for every field's problems (callers that check several things collect them first)."""
    if errors:
        raise InvalidInput("Invalid input — " + " ".join(m for ms in errors.values() for m in ms), errors=errors)
