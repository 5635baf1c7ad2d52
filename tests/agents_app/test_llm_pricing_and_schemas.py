"""Prices come from one dated table per model; unknown models are never cheap; offline costs nothing.
Schemas are adapted to the structured-outputs subset without losing what they ask for."""

from __future__ import annotations

import logging
from decimal import Decimal

import jsonschema

from agents_app.epic_breakdown import BREAKDOWN_SCHEMA
from agents_app.llm.base import Usage
from agents_app.llm.pricing import PRICES, cost_of, price_for
from agents_app.llm.schemas import restore, strict_schema
from agents_app.selection import SELECTION_SCHEMA
from tests.fake_anthropic import strict_schema_problem

USAGE = Usage(input_tokens=1_000_000, output_tokens=100_000, cache_read_tokens=2_000_000, cache_write_tokens=400_000)


def test_sonnet_5_5_costs_what_its_model_page_says():
    # $2 input + 0.1 M x $10 output + 2 M x $0.20 cache read + 0.4 M x $2.50 cache write
    assert cost_of("claude-sonnet-5-5", USAGE) == Decimal("4.400000")


def test_opus_5_5_and_dated_ids_price_as_their_model():
    assert cost_of("claude-opus-5-5", Usage(input_tokens=1_000_000, output_tokens=1_000_000)) == Decimal("24.000000")
    assert price_for("claude-haiku-4-5-20251001") is PRICES["claude-haiku-4-5"]
    assert price_for("claude-sonnet-5-5[1m]") is PRICES["claude-sonnet-5-5"]


def test_every_price_names_its_page_and_date():
    for model, price in PRICES.items():
        assert price.source.startswith("https://platform.claude.com/") and price.checked >= "2026-11", model


def test_haiku_5_5_bills_a_long_prompt_at_the_long_prompt_prices():
    short = cost_of("claude-haiku-5-5", Usage(input_tokens=100_000, output_tokens=0))
    long = cost_of("claude-haiku-5-5", Usage(input_tokens=100_001, output_tokens=0))
    assert short == Decimal("0.010000") and long > short * 4


def test_an_unknown_model_is_priced_at_the_dearest_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="agents_app.llm.pricing"):
        unknown = cost_of("claude-mystery-9", USAGE)

    dearest = max(cost_of(model, USAGE) for model in PRICES)
    assert unknown == dearest > cost_of("claude-sonnet-5-5", USAGE)
    assert "claude-mystery-9" in caplog.text


def test_estimated_usage_costs_nothing():
    estimated = Usage(input_tokens=5000, output_tokens=500, estimated=True)
    assert cost_of("claude-sonnet-5-5", estimated) == Decimal(0) == cost_of("offline", estimated)


def test_the_engines_schemas_adapt_to_the_accepted_subset():
    for schema in (SELECTION_SCHEMA, BREAKDOWN_SCHEMA):
        before = repr(schema)
        adapted = strict_schema(schema)
        assert strict_schema_problem(adapted) == "", adapted
        assert repr(schema) == before, "the caller's schema is not changed"


def test_a_map_is_asked_as_pairs_and_given_back_as_the_map():
    answer = {
        "agents": [{"slug": "backend", "reason": "API"}],
        "strategy": "hybrid",
        "dependencies": [{"key": "frontend", "value": ["backend"]}, {"key": "qa", "value": ["backend", "frontend"]}],
    }
    jsonschema.validate(answer, strict_schema(SELECTION_SCHEMA))

    restored = restore(answer, SELECTION_SCHEMA)

    assert restored["dependencies"] == {"frontend": ["backend"], "qa": ["backend", "frontend"]}
    jsonschema.validate(restored, SELECTION_SCHEMA)
