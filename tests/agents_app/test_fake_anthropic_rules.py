"""The fake Messages API refuses what the real one refuses, so a provider regression fails a test.

Each request here is sent with the bare SDK (no Harness code) and breaks one rule; the last test shows
the same request without the fault is accepted, so every refusal is the rule's doing."""

from __future__ import annotations

import anthropic
import pytest

from agents_app.llm.schemas import strict_schema
from agents_app.tools import TOOL_SPECS
from tests.fake_anthropic import fake_anthropic, sign, strict_schema_problem  # noqa: F401

TOOL = {
    "name": "finish",
    "description": "Finish.",
    "input_schema": {"type": "object", "properties": {"summary": {"type": "string"}}, "additionalProperties": False},
}
USER = {"role": "user", "content": "hello"}
CC = {"type": "ephemeral"}


@pytest.fixture
def client(fake_anthropic):  # noqa: ANN001, ANN201, F811
    return anthropic.Anthropic(api_key="k", base_url=fake_anthropic.base_url, max_retries=0)


def send(client: anthropic.Anthropic, **params) -> anthropic.types.Message:  # noqa: ANN003
    return client.messages.create(**{"model": "claude-sonnet-5-5", "max_tokens": 100, "messages": [USER], **params})


def text_block(i: int) -> dict:
    return {"type": "text", "text": f"part {i}", "cache_control": CC}


BROKEN = {
    "forced tool use": {"tools": [TOOL], "tool_choice": {"type": "tool", "name": "finish"}},
    "any tool forced": {"tools": [TOOL], "tool_choice": {"type": "any"}},
    "thinking disabled": {"thinking": {"type": "disabled"}},
    # anthropic 2.13 no longer takes sampling parameters: they can only be smuggled in through extra_body
    "temperature": {"extra_body": {"temperature": 0.2}},
    "top_p": {"extra_body": {"top_p": 0.9}},
    "top_k": {"extra_body": {"top_k": 5}},
    "empty assistant turn": {"messages": [USER, {"role": "assistant", "content": []}, USER]},
    "five breakpoints": {"messages": [{"role": "user", "content": [text_block(i) for i in range(5)]}]},
    "malformed output_config": {"output_config": {"format": {"type": "json", "schema": {"type": "object"}}}},
    "open output schema": {
        "output_config": {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {}}}}
    },
    "strict tool with an open schema": {
        "tools": [{**TOOL, "strict": True, "input_schema": {"type": "object", "properties": {}}}]
    },
    "strict tool with a bound": {
        "tools": [
            {
                **TOOL,
                "strict": True,
                "input_schema": {
                    "type": "object",
                    "properties": {"n": {"type": "integer", "maximum": 9}},
                    "additionalProperties": False,
                },
            }
        ]
    },
    "forged thinking": {
        "messages": [
            USER,
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "made up", "signature": "forged"}]},
            USER,
        ]
    },
}


@pytest.mark.parametrize("fault", list(BROKEN))
def test_it_refuses_what_the_real_api_refuses(client, fake_anthropic, fault):  # noqa: ANN001, F811
    with pytest.raises(anthropic.BadRequestError) as error:
        send(client, **BROKEN[fault])

    assert error.value.type == "invalid_request_error"
    assert len(fake_anthropic.violations) == 1


def test_the_same_requests_without_the_fault_are_accepted(client, fake_anthropic):  # noqa: F811
    send(client, tools=[TOOL], tool_choice={"type": "auto"})
    send(client, thinking={"type": "between_tools"})
    send(client, thinking={"type": "adaptive", "display": "summarized"})
    send(client, messages=[{"role": "user", "content": [text_block(i) for i in range(4)]}])
    send(client, output_config={"format": {"type": "json_schema", "schema": strict_schema({"type": "object"})}})
    send(client, tools=[{**TOOL, "strict": True}])
    signed = {"type": "thinking", "thinking": "real", "signature": sign("real")}
    send(client, messages=[USER, {"role": "assistant", "content": [signed, {"type": "text", "text": "hi"}]}, USER])

    assert fake_anthropic.violations == []


def test_every_agent_tool_is_a_valid_strict_tool():
    for name, spec in TOOL_SPECS.items():
        assert strict_schema_problem(spec.input_schema) == "", name


def test_the_cache_needs_the_models_minimum_and_finds_entries_20_blocks_back(client, fake_anthropic):  # noqa: F811
    short = [{"role": "user", "content": [{"type": "text", "text": "tiny", "cache_control": CC}]}]
    assert send(client, messages=short).usage.cache_creation_input_tokens == 0

    long_text = "x" * 4400  # ~1,100 tokens: above the 1,024 minimum
    blocks = [{"type": "text", "text": long_text}] + [{"type": "text", "text": f"note {i}"} for i in range(30)]

    def upto(n: int) -> list[dict]:
        content = [dict(b) for b in blocks[:n]]
        content[-1]["cache_control"] = CC
        return [{"role": "user", "content": content}]

    written = send(client, messages=upto(1)).usage
    near = send(client, messages=upto(21)).usage  # the entry is 20 blocks back: found
    far = send(client, messages=upto(31)).usage  # 30 blocks back, and the 21-block entry 10 back: found
    assert written.cache_creation_input_tokens >= 1024 and written.cache_read_input_tokens == 0
    assert near.cache_read_input_tokens == written.cache_creation_input_tokens
    assert far.cache_read_input_tokens == near.cache_read_input_tokens + near.cache_creation_input_tokens

    fresh = [{"type": "text", "text": "y" * 4400}] + [{"type": "text", "text": f"other {i}"} for i in range(25)]
    first = [dict(fresh[0], cache_control=CC)]
    send(client, messages=[{"role": "user", "content": first}])
    beyond = [dict(b) for b in fresh]
    beyond[-1]["cache_control"] = CC
    missed = send(client, messages=[{"role": "user", "content": beyond}]).usage  # 25 blocks back: not found
    assert missed.cache_read_input_tokens == 0 and missed.cache_creation_input_tokens > 0
