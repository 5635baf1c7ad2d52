"""The anthropic provider: the real SDK against the local fake Messages API, which refuses what the real API refuses."""

from __future__ import annotations

import base64
import copy
import email.utils
import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from agents_app.llm import anthropic_provider
from agents_app.llm.anthropic_provider import AnthropicProvider, retry_after_seconds
from agents_app.llm.base import CallContext, LLMError, LLMRequest
from agents_app.models import LLMCall
from agents_app.selection import SELECTION_SCHEMA
from agents_app.tools import TOOL_SPECS
from tests.fake_anthropic import fake_anthropic  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

SCHEMA = {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "integer"}}}
FINISH = TOOL_SPECS["finish"]
LONG = "Harness agents write code in a shared workspace and report progress as they go. " * 80  # ~1,600 tokens


@pytest.fixture
def provider(fake_anthropic, settings):  # noqa: ANN001, ANN201, F811
    settings.HARNESS_LLM_TIMEOUT_SECONDS = 5
    return AnthropicProvider(api_key="test-key", base_url=fake_anthropic.base_url, model="claude-sonnet-5-5")


def ask(text: str = "hello", **kwargs) -> LLMRequest:  # noqa: ANN003
    return LLMRequest(
        system="You help.", messages=[{"role": "user", "content": text}], context=CallContext(purpose="test"), **kwargs
    )


def breakpoints(body: dict) -> list[str]:
    found = [f"system.{i}" for i, b in enumerate(body.get("system", [])) if "cache_control" in b]
    found += [f"tools.{i}" for i, t in enumerate(body.get("tools", [])) if "cache_control" in t]
    for m, message in enumerate(body["messages"]):
        content = message["content"] if isinstance(message["content"], list) else []
        found += [f"messages.{m}.{i}" for i, b in enumerate(content) if "cache_control" in b]
    return found


# --- answers ---------------------------------------------------------------------------------------------


def test_it_returns_text_with_usage_cost_and_a_recorded_call(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_text("hi there")

    response = provider.complete(ask())

    assert response.text == "hi there" and response.tool_calls == [] and response.stop_reason == "end_turn"
    assert response.usage.input_tokens > 0 and response.cost_usd > 0
    call = LLMCall.objects.get()
    assert (call.purpose, call.provider, call.ok, call.estimated) == ("test", "anthropic", True, False)
    assert (call.input_tokens, call.output_tokens) == (response.usage.input_tokens, response.usage.output_tokens)
    headers = {k.lower(): v for k, v in fake_anthropic.requests[0]["headers"].items()}
    assert "test-key" in headers.get("authorization", "") + headers.get("x-api-key", "")


def test_the_request_follows_the_current_models_rules(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_tool_use("finish", {"summary": "done"})

    response = provider.complete(ask(tools=[FINISH]))

    body = fake_anthropic.requests[0]["body"]
    assert body["thinking"] == {"type": "adaptive", "display": "summarized"}
    assert not {"tool_choice", "temperature", "top_p", "top_k"} & set(body)
    assert body["tools"] == [
        {"name": "finish", "description": FINISH.description, "input_schema": FINISH.input_schema, "strict": True}
    ]
    assert response.content == [
        {"type": "tool_use", "id": response.tool_calls[0].id, "name": "finish", "input": {"summary": "done"}}
    ]
    assert fake_anthropic.violations == []


def test_it_streams_text_deltas_in_order(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_text("streaming works nicely")
    chunks: list[str] = []

    response = provider.complete(ask(), on_text=chunks.append)

    assert "".join(chunks) == "streaming works nicely" and len(chunks) > 1
    assert response.text == "streaming works nicely"
    assert fake_anthropic.requests[0]["body"]["stream"] is True


def test_thinking_blocks_reach_the_live_view_and_go_back_unchanged(provider, fake_anthropic):  # noqa: F811
    [call_id] = fake_anthropic.queue_thinking_tool_use(
        "Listing the files before I write.", [("list_files", {})], text="Let me look.", redacted="hidden notes"
    )
    fake_anthropic.queue_text("done")
    chunks: list[str] = []
    request = ask("build it", tools=[TOOL_SPECS["list_files"]], cache=True)

    first = provider.complete(request, on_text=chunks.append)

    assert "".join(chunks) == "Listing the files before I write.\n\nLet me look."
    assert [b["type"] for b in first.content] == ["thinking", "redacted_thinking", "text", "tool_use"]
    thinking = first.content[0]
    assert set(thinking) == {"type", "thinking", "signature"} and thinking["thinking"].startswith("Listing")
    assert first.content[1] == {"type": "redacted_thinking", "data": base64.b64encode(b"hidden notes").decode()}
    assert first.text == "Let me look." and first.tool_calls[0].id == call_id

    messages = [
        *request.messages,
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "app/models.py"}]},
    ]
    second = provider.complete(
        LLMRequest(system="You help.", messages=messages, context=CallContext("test"), tools=request.tools, cache=True)
    )

    assert second.text == "done" and fake_anthropic.violations == []
    sent_back = fake_anthropic.requests[1]["body"]["messages"][1]["content"]
    assert sent_back == first.content  # byte for byte: no cache_control on an assistant turn that is not the newest


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (lambda content: content[0].update(thinking=content[0]["thinking"] + " (edited)"), "invalid signature"),
        (lambda content: content.pop(0), "missing or altered"),
    ],
)
def test_an_altered_or_dropped_thinking_block_is_refused_as_the_api_would(provider, fake_anthropic, change, rule):  # noqa: ANN001, F811
    [call_id] = fake_anthropic.queue_thinking_tool_use("Reading first.", [("list_files", {})])
    first = provider.complete(ask(tools=[TOOL_SPECS["list_files"]]))
    content = copy.deepcopy(first.content)
    change(content)
    messages = [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "none"}]},
    ]

    with pytest.raises(LLMError) as error:
        provider.complete(LLMRequest(system="s", messages=messages, context=CallContext(purpose="test")))

    assert error.value.category == "invalid_request" and not error.value.retryable
    assert rule in str(error.value)
    assert rule in fake_anthropic.violations[0]


def test_a_refusal_is_recorded_as_billed_and_raised_with_what_the_model_said(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_refusal("I can't help with that part.", explanation="It could enable harm.")

    with pytest.raises(LLMError) as error:
        provider.complete(ask(), on_text=lambda _: None)

    assert (error.value.category, error.value.retryable) == ("refused", False)
    assert "I can't help with that part." in str(error.value) and "It could enable harm." in str(error.value)
    call = LLMCall.objects.get()
    assert call.ok is False and call.error.startswith("refused") and call.output_tokens > 0


def test_an_empty_answer_is_never_returned_to_be_sent_back(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.script.append({"content": [], "stop_reason": "end_turn"})

    with pytest.raises(LLMError) as error:
        provider.complete(ask())

    assert (error.value.category, error.value.retryable) == ("bad_response", True)
    assert LLMCall.objects.get().ok is False


def test_max_tokens_returns_the_cut_answer_for_the_engine_to_continue(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_max_tokens("half an ans")

    response = provider.complete(ask())

    assert (response.stop_reason, response.text) == ("max_tokens", "half an ans")
    assert LLMCall.objects.get().ok is True


def test_a_json_answer_cut_at_max_tokens_is_truncated(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_max_tokens('{"answ')

    with pytest.raises(LLMError) as error:
        provider.complete_json(ask(), schema=SCHEMA)

    assert (error.value.category, error.value.retryable) == ("truncated", False)
    assert len(fake_anthropic.requests) == 1


# --- faults ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "category", "retryable"),
    [
        (429, "rate_limited", True),
        (529, "overloaded", True),
        (500, "server_error", True),
        (503, "server_error", True),
        (408, "server_error", True),
        (409, "server_error", True),
        (400, "invalid_request", False),
        (413, "invalid_request", False),
        (422, "invalid_request", False),
        (401, "auth", False),
        (403, "auth", False),
        (404, "not_found", False),
    ],
)
def test_each_status_becomes_one_classified_error_recorded_once(provider, fake_anthropic, status, category, retryable):  # noqa: ANN001, F811
    fake_anthropic.queue_error(status, retry_after_ms=1500, message=f"what the API said about {status}")
    fake_anthropic.queue_text("the SDK must not retry by itself")

    with pytest.raises(LLMError) as error:
        provider.complete(ask())

    assert (error.value.category, error.value.retryable) == (category, retryable)
    assert len(fake_anthropic.requests) == 1, "the engine retries, not the SDK"
    if retryable:
        assert error.value.retry_after == 1.5
    else:
        assert f"what the API said about {status}" in str(error.value)
    call = LLMCall.objects.get()
    assert call.ok is False and call.error.startswith(category)
    assert (call.input_tokens, call.output_tokens, call.cost_usd) == (0, 0, Decimal(0))


def test_error_messages_say_what_to_fix(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_error(401)
    fake_anthropic.queue_error(404, message="model: claude-sonnet-5-5")

    with pytest.raises(LLMError) as auth:
        provider.complete(ask())
    with pytest.raises(LLMError) as missing:
        provider.complete(ask())

    assert "ANTHROPIC_API_KEY" in str(auth.value)
    assert "HARNESS_LLM_MODEL=claude-sonnet-5-5" in str(missing.value)


def test_retry_after_in_seconds_or_as_a_date_is_passed_on_uncapped(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_error(429, retry_after="3600")

    with pytest.raises(LLMError) as error:
        provider.complete(ask())

    assert error.value.retry_after == 3600.0
    in_a_minute = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 55 <= retry_after_seconds({"retry-after": in_a_minute}) <= 60
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({}) is None


@pytest.mark.parametrize(("kind", "category"), [("overloaded_error", "overloaded"), ("api_error", "server_error")])
def test_a_stream_that_fails_after_a_200_is_retryable(provider, fake_anthropic, kind, category):  # noqa: ANN001, F811
    fake_anthropic.queue_stream_error(kind, text_before="I was saying")
    chunks: list[str] = []

    with pytest.raises(LLMError) as error:
        provider.complete(ask(), on_text=chunks.append)

    assert (error.value.category, error.value.retryable) == (category, True)
    assert "".join(chunks) == "I was saying"
    assert LLMCall.objects.get().error.startswith(category)


def test_a_200_that_is_not_json_is_a_retryable_bad_response(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_non_json()

    with pytest.raises(LLMError) as error:
        provider.complete(ask())

    assert (error.value.category, error.value.retryable) == ("bad_response", True)
    assert LLMCall.objects.get().ok is False


def test_a_stream_that_ends_early_is_a_retryable_bad_response(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_broken_stream()

    with pytest.raises(LLMError) as error:
        provider.complete(ask(), on_text=lambda _: None)

    assert (error.value.category, error.value.retryable) == ("bad_response", True)


def test_a_slow_api_is_a_timeout(fake_anthropic, settings):  # noqa: F811
    settings.HARNESS_LLM_TIMEOUT_SECONDS = 0.3
    slow = AnthropicProvider(api_key="k", base_url=fake_anthropic.base_url, model="claude-sonnet-5-5")
    fake_anthropic.queue_slow(1.0)

    with pytest.raises(LLMError) as error:
        slow.complete(ask())

    assert (error.value.category, error.value.retryable) == ("timeout", True)
    assert LLMCall.objects.get().error.startswith("timeout")


def test_an_unreachable_api_is_a_connection_error(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the call: nothing listens there
    settings.HARNESS_LLM_TIMEOUT_SECONDS = 2
    provider = AnthropicProvider(api_key="k", base_url=f"http://127.0.0.1:{port}", model="claude-sonnet-5-5")

    with pytest.raises(LLMError) as error:
        provider.complete(ask())

    assert (error.value.category, error.value.retryable) == ("connection", True)


# --- JSON answers ---------------------------------------------------------------------------------------


def test_json_answers_use_structured_outputs_with_an_accepted_schema(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_text(
        '{"agents": [{"slug": "backend", "reason": "API"}, {"slug": "frontend", "reason": "UI"}],'
        ' "strategy": "sequential", "dependencies": [{"key": "frontend", "value": ["backend"]}]}'
    )

    answer, _ = provider.complete_json(ask("plan it"), schema=SELECTION_SCHEMA)

    assert answer["dependencies"] == {"frontend": ["backend"]}  # asked as pairs, given back as the map
    body = fake_anthropic.requests[0]["body"]
    fmt = body["output_config"]["format"]
    assert fmt["type"] == "json_schema" and fmt["schema"]["additionalProperties"] is False
    assert fmt["schema"]["properties"]["agents"]["items"]["additionalProperties"] is False
    assert "tool_choice" not in body and "additionalProperties" not in SELECTION_SCHEMA  # the caller's schema untouched
    assert fake_anthropic.violations == [] and breakpoints(body) == []


def test_malformed_json_is_repaired_once(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_text("```json\n{answer: forty-two}\n```")
    fake_anthropic.queue_text('{"answer": 42}')

    answer, _ = provider.complete_json(ask("what is it?"), schema=SCHEMA)

    assert answer == {"answer": 42}
    repair = fake_anthropic.requests[1]["body"]
    assert "invalid JSON" in repair["messages"][-1]["content"] and "output_config" in repair
    assert repair["messages"][-2]["content"] == [{"type": "text", "text": "```json\n{answer: forty-two}\n```"}]
    assert list(LLMCall.objects.order_by("pk").values_list("purpose", flat=True)) == ["test", "test.repair"]
    assert breakpoints(repair) == []


def test_json_invalid_twice_is_a_validation_error(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_text('{"answer": "not a number"}')
    fake_anthropic.queue_text('{"answer": "still not"}')

    with pytest.raises(LLMError) as error:
        provider.complete_json(ask(), schema=SCHEMA)

    assert (error.value.category, error.value.retryable) == ("validation", False)
    assert "schema" in fake_anthropic.requests[1]["body"]["messages"][-1]["content"]


# --- caching ---------------------------------------------------------------------------------------------


def test_one_off_calls_carry_no_cache_control_and_write_nothing(provider, fake_anthropic):  # noqa: F811
    tools = [TOOL_SPECS["list_files"], FINISH]
    marked = {"role": "user", "content": [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]}

    first = provider.complete(LLMRequest(system=LONG, messages=[marked], tools=tools, context=CallContext("vision")))
    provider.complete(LLMRequest(system=LONG, messages=[marked], tools=tools, context=CallContext("vision")))

    assert all(breakpoints(r["body"]) == [] for r in fake_anthropic.requests)
    assert first.usage.cache_write_tokens == 0 and fake_anthropic.billed["cache_creation_input_tokens"] == 0
    assert "cache_control" in marked["content"][0], "the caller's message is not changed"


def test_a_conversation_breaks_on_the_newest_message_and_reads_its_prefix_next_step(provider, fake_anthropic):  # noqa: F811
    messages: list[dict] = [{"role": "user", "content": LONG}]
    usages = []
    for step in range(3):
        fake_anthropic.queue_tool_use("list_files", {})
        response = provider.complete(
            LLMRequest(system="You help.", messages=messages, tools=[TOOL_SPECS["list_files"]], cache=True,
                       context=CallContext("agent_step"))
        )  # fmt: skip
        usages.append(response.usage)
        body = fake_anthropic.requests[step]["body"]
        last = len(body["messages"]) - 1
        expected = ["system.0", f"messages.{last}.0"] + ([f"messages.{last - 2}.0"] if step else [])
        assert sorted(breakpoints(body)) == sorted(expected) and len(expected) <= 4
        messages += [
            {"role": "assistant", "content": response.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": response.tool_calls[0].id,
                                          "content": f"step {step}: app/models.py"}]},
        ]  # fmt: skip

    assert messages[0] == {"role": "user", "content": LONG}, "the checkpoint's messages are not changed"
    assert usages[0].cache_write_tokens > 1000 and usages[0].cache_read_tokens == 0
    assert usages[1].cache_read_tokens >= usages[0].cache_write_tokens
    assert usages[2].cache_read_tokens > usages[1].cache_read_tokens
    assert fake_anthropic.violations == []


def test_recorded_usage_matches_what_the_fake_billed(provider, fake_anthropic):  # noqa: F811
    messages = [{"role": "user", "content": LONG}]
    for _ in range(2):
        fake_anthropic.queue_text("noted")
        provider.complete(LLMRequest(system="s", messages=messages, cache=True, context=CallContext("agent_step")))
    fake_anthropic.queue_error(529)
    with pytest.raises(LLMError):
        provider.complete(ask())

    recorded = LLMCall.objects.aggregate(
        i=Sum("input_tokens"), o=Sum("output_tokens"), r=Sum("cache_read_tokens"), w=Sum("cache_write_tokens")
    )
    billed = fake_anthropic.billed
    assert (recorded["i"], recorded["o"], recorded["r"], recorded["w"]) == (
        billed["input_tokens"], billed["output_tokens"], billed["cache_read_input_tokens"],
        billed["cache_creation_input_tokens"],
    )  # fmt: skip
    assert billed["cache_read_input_tokens"] > 0


# --- the client -------------------------------------------------------------------------------------------


def test_one_sdk_client_per_process_and_settings(fake_anthropic, settings):  # noqa: F811
    settings.HARNESS_LLM_TIMEOUT_SECONDS = 7
    first = AnthropicProvider(api_key="k", base_url=fake_anthropic.base_url, model="claude-sonnet-5-5")
    second = AnthropicProvider(api_key="k", base_url=fake_anthropic.base_url, model="claude-opus-5-5")
    settings.HARNESS_LLM_TIMEOUT_SECONDS = 8
    third = AnthropicProvider(api_key="k", base_url=fake_anthropic.base_url, model="claude-sonnet-5-5")

    assert first.client is second.client and third.client is not first.client
    assert first.client.max_retries == 0 and first.client.timeout == 7
    assert anthropic_provider._clients[("k", fake_anthropic.base_url, 7.0)] is first.client


def test_latency_is_measured_and_recorded(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_slow(0.2, text="late")

    response = provider.complete(ask())

    assert response.latency_ms >= 200 and LLMCall.objects.get().latency_ms == response.latency_ms
