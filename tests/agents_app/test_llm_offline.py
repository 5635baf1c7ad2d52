"""The offline provider: counted usage marked estimated at zero cost, and a gate that holds an agent at a step."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from agents_app.llm import offline
from agents_app.llm.base import CallContext, LLMRequest
from agents_app.models import LLMCall


@pytest.fixture(autouse=True)
def _no_gate_left_behind():  # noqa: ANN202
    yield
    offline.release_all()


def step_request(agent: str, turns: int) -> LLMRequest:
    messages: list[dict] = [{"role": "user", "content": [{"type": "text", "text": "Build the API."}]}]
    for turn in range(turns):
        call_id = f"toolu_{turn}"
        messages += [
            {"role": "assistant", "content": [{"type": "tool_use", "id": call_id, "name": "list_files", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "none"}]},
        ]
    hint = {"agent": agent, "intent": "a todo API", "requirements": [], "task_type": "feature"}
    return LLMRequest(system="s", messages=messages, context=CallContext("agent_step", offline_hint=hint))


def call_in_thread(request: LLMRequest) -> tuple[threading.Thread, list]:
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(offline.OfflineProvider().complete(request)), daemon=True)
    thread.start()
    return thread, answers


@pytest.mark.django_db
def test_offline_usage_is_estimated_and_free():
    response = offline.OfflineProvider().complete(step_request("backend", 0))

    assert response.usage.estimated and response.usage.input_tokens > 0 and response.cost_usd == Decimal(0)
    call = LLMCall.objects.get()
    assert call.estimated is True and call.cost_usd == Decimal(0) and call.input_tokens > 0


@pytest.mark.django_db(transaction=True)
def test_a_gate_holds_the_agent_at_its_step_until_released():
    gate = offline.hold(agent="backend", step=2)
    before, _ = call_in_thread(step_request("backend", 1))  # step 1 passes
    before.join(timeout=30)
    other, _ = call_in_thread(step_request("frontend", 2))  # another agent's step 2 passes
    other.join(timeout=30)
    assert not before.is_alive() and not other.is_alive() and not gate.reached.is_set()

    held, answers = call_in_thread(step_request("backend", 2))
    gate.wait_reached(timeout=30)
    held.join(timeout=0.2)
    assert held.is_alive() and answers == []

    gate.release()
    held.join(timeout=30)
    assert not held.is_alive() and answers and answers[0].tool_calls


def test_waiting_for_a_gate_that_is_never_reached_fails_loudly():
    gate = offline.hold(agent="nobody", step=0)

    with pytest.raises(AssertionError, match="nobody"):
        gate.wait_reached(timeout=0.05)


@pytest.mark.django_db(transaction=True)
def test_release_all_lets_a_held_agent_go_and_a_forgotten_gate_lets_go_by_itself():
    offline.hold(agent="backend", step=0)
    held, answers = call_in_thread(step_request("backend", 0))
    offline.release_all()
    held.join(timeout=30)
    assert not held.is_alive() and answers

    forgotten = offline.hold(agent="qa", step=0, timeout=0.2)
    alone, answers = call_in_thread(step_request("qa", 0))
    alone.join(timeout=30)
    assert forgotten.reached.is_set() and not forgotten.released and answers
