"""The anthropic provider: the real SDK against the local fake Messages API."""

from __future__ import annotations

import base64

import pytest

from agents_app.llm.anthropic_provider import AnthropicProvider
from agents_app.llm.base import CallContext, LLMError, LLMRequest, ToolSpec
from agents_app.models import LLMCall
from tests.fake_anthropic import fake_anthropic  # noqa: F401

SCHEMA = {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "integer"}}}
TOOL = ToolSpec(
    name="finish", description="Finish.", input_schema={"type": "object", "properties": {"summary": {"type": "string"}}}
)


@pytest.fixture
def provider(fake_anthropic, settings):  # noqa: ANN001, ANN201, F811
    settings.HARNESS_LLM_MAX_RETRIES = 2
    settings.HARNESS_LLM_TIMEOUT_SECONDS = 1.5
    return AnthropicProvider(api_key="test-key", base_url=fake_anthropic.base_url, model="claude-sonnet-5-5")


def ask(text: str = "hello", **kwargs) -> LLMRequest:  # noqa: ANN003
    return LLMRequest(
        system="You help.", messages=[{"role": "user", "content": text}], context=CallContext(purpose="test"), **kwargs
    )


@pytest.mark.django_db
def test_it_returns_text_with_usage_cost_and_a_recorded_call(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_text("hi there")

    response = provider.complete(ask())

    assert response.text == "hi there" and response.tool_calls == []
    assert response.usage.cache_read_tokens == 100 and response.cost_usd > 0
    call = LLMCall.objects.get()
    assert (call.purpose, call.provider, call.ok, call.input_tokens) == ("test", "anthropic", True, 120)
    headers = {k.lower(): v for k, v in fake_anthropic.requests[0]["headers"].items()}
    assert "test-key" in headers.get("authorization", "") + headers.get("x-api-key", "")


@pytest.mark.django_db
def test_it_parses_tool_use_and_caches_the_stable_prefix(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_tool_use("finish", {"summary": "done"})

    response = provider.complete(ask(tools=[TOOL]))

    assert [(c.name, c.input) for c in response.tool_calls] == [("finish", {"summary": "done"})]
    body = fake_anthropic.requests[0]["body"]
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert response.content[-1] == {
        "type": "tool_use",
        "id": response.tool_calls[0].id,
        "name": "finish",
        "input": {"summary": "done"},
    }


@pytest.mark.django_db
def test_it_streams_text_deltas_in_order(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_text("streaming works nicely")
    chunks: list[str] = []

    response = provider.complete(ask(), on_text=chunks.append)

    assert "".join(chunks) == "streaming works nicely" and len(chunks) > 1
    assert response.text == "streaming works nicely"
    assert fake_anthropic.requests[0]["body"]["stream"] is True


@pytest.mark.django_db
@pytest.mark.parametrize("status", [529, 500, 429])
def test_it_retries_an_overloaded_or_failing_api_then_succeeds(provider, fake_anthropic, status):  # noqa: F811
    fake_anthropic.queue_error(status, retry_after_ms=10)
    fake_anthropic.queue_text("second time lucky")

    assert provider.complete(ask()).text == "second time lucky"
    assert len(fake_anthropic.requests) == 2


@pytest.mark.django_db
def test_exhausted_rate_limits_become_a_retryable_llm_error(provider, fake_anthropic):  # noqa: F811
    for _ in range(3):
        fake_anthropic.queue_error(429, retry_after_ms=10)

    with pytest.raises(LLMError) as error:
        provider.complete(ask())

    assert error.value.retryable and error.value.category == "llm_error"
    assert LLMCall.objects.get().ok is False


@pytest.mark.django_db
def test_a_slow_api_is_a_timeout(provider, fake_anthropic, settings):  # noqa: F811
    settings.HARNESS_LLM_MAX_RETRIES = 0
    slow = AnthropicProvider(api_key="k", base_url=fake_anthropic.base_url, model="claude-sonnet-5-5")
    fake_anthropic.queue_slow(3.0)

    with pytest.raises(LLMError) as error:
        slow.complete(ask())

    assert error.value.category == "timeout"


@pytest.mark.django_db
def test_malformed_json_is_repaired_once(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_text("```json\n{answer: forty-two}\n```")
    fake_anthropic.queue_text('{"answer": 42}')

    answer, _ = provider.complete_json(ask("what is it?"), schema=SCHEMA)

    assert answer == {"answer": 42}
    repair = fake_anthropic.requests[1]["body"]["messages"][-1]["content"]
    assert "invalid JSON" in repair
    assert set(LLMCall.objects.values_list("purpose", flat=True)) == {"test", "test.repair"}


@pytest.mark.django_db
def test_json_invalid_twice_is_a_validation_error(provider, fake_anthropic):  # noqa: F811
    fake_anthropic.queue_text('{"answer": "not a number"}')
    fake_anthropic.queue_text('{"answer": "still not"}')

    with pytest.raises(LLMError) as error:
        provider.complete_json(ask(), schema=SCHEMA)

    assert error.value.category == "validation"
    assert "schema" in fake_anthropic.requests[1]["body"]["messages"][-1]["content"]


@pytest.mark.django_db
def test_image_blocks_pass_through(provider, fake_anthropic):  # noqa: F811
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(b"png").decode()},
    }

    provider.complete(
        LLMRequest(system="s", messages=[{"role": "user", "content": [image]}], context=CallContext(purpose="vision"))
    )

    assert fake_anthropic.requests[0]["body"]["messages"][0]["content"][0] == image
