"""JSON schemas for structured outputs: the subset the Messages API accepts, and back.

Structured outputs (`output_config.format`) and strict tools accept a subset of JSON Schema: every
object closes with `additionalProperties: false`; numeric and string bounds, `maxItems` and
`minItems` above 1 are not accepted. `strict_schema` adapts a copy of a schema (the SDK's
`transform_schema` moves the bounds into descriptions, so the model still reads them), and the
caller keeps validating the answer against the original schema with jsonschema.

One shape cannot just be closed: a map (`{"type": "object", "additionalProperties": {...}}`, e.g.
selection's dependencies) would become an object that must stay empty. It is asked for as a list
of `{"key", "value"}` pairs instead, and `restore` turns those pairs back into the map.
"""

from __future__ import annotations

import copy
from typing import Any

import anthropic

PAIR_KEY, PAIR_VALUE = "key", "value"


def _is_map(schema: dict) -> bool:
    return (schema.get("type") == "object" and isinstance(schema.get("additionalProperties"), dict)) and not schema.get(
        "properties"
    )


def _without_maps(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_without_maps(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if _is_map(schema):
        pair = {
            "type": "object",
            "properties": {PAIR_KEY: {"type": "string"}, PAIR_VALUE: _without_maps(schema["additionalProperties"])},
            "required": [PAIR_KEY, PAIR_VALUE],
        }
        described = {"description": schema["description"]} if "description" in schema else {}
        return {"type": "array", "items": pair, **described}
    return {key: _without_maps(value) for key, value in schema.items()}


def strict_schema(schema: dict) -> dict:
    """A copy of `schema` inside the structured-outputs subset (the input is not changed)."""
    return anthropic.transform_schema(_without_maps(copy.deepcopy(schema)))


def restore(answer: Any, schema: dict) -> Any:
    """Undo `strict_schema`'s map-to-pairs change on an answer, guided by the original schema."""
    if not isinstance(schema, dict):
        return answer
    if _is_map(schema) and isinstance(answer, list):
        value_schema = schema["additionalProperties"]
        return {
            pair[PAIR_KEY]: restore(pair.get(PAIR_VALUE), value_schema)
            for pair in answer
            if isinstance(pair, dict) and PAIR_KEY in pair
        }
    if isinstance(answer, dict):
        properties = schema.get("properties", {})
        return {key: restore(value, properties.get(key, {})) for key, value in answer.items()}
    if isinstance(answer, list) and isinstance(schema.get("items"), dict):
        return [restore(item, schema["items"]) for item in answer]
    return answer
