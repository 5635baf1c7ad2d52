"""A whole session on the `anthropic` provider: the real SDK against the local fake Messages API."""

from __future__ import annotations

import json

import pytest

from agents_app.models import LLMCall
from artifacts_app.models import ArtifactVersion
from tests.fake_anthropic import fake_anthropic  # noqa: F401 - fixture
from tests.support import assert_gap_free, wait_for_status


@pytest.fixture
def anthropic_settings(settings, fake_anthropic):  # noqa: ANN001, ANN201, F811
    settings.HARNESS_LLM = "anthropic"
    settings.ANTHROPIC_API_KEY = "test-key"
    settings.ANTHROPIC_BASE_URL = fake_anthropic.base_url
    return fake_anthropic


def test_a_member_gets_a_repaired_selection_without_the_restricted_agent(worker, start, anthropic_settings):
    fake = anthropic_settings
    fake.queue_error(529, retry_after_ms=10)  # overloaded once: the SDK retries
    fake.queue_text("Here is my plan: {agents: [requirements-analyst")  # malformed: one repair request
    fake.queue_text(
        json.dumps(
            {
                "agents": [
                    {"slug": "requirements-analyst", "reason": "the intent needs stories"},
                    {"slug": "devops", "reason": "the intent mentions deploying"},
                    {"slug": "no-such-agent", "reason": "made up"},
                ],
                "strategy": "sequential",
                "dependencies": {"requirements-analyst": []},
            }
        )
    )
    fake.queue_tool_use("write_file", {"path": "docs/requirements.md", "content": "# Requirements\n- chat\n"})
    fake.queue_tool_use("finish", {"summary": "wrote the requirements"})

    session = wait_for_status(start(intent="build a chat app and deploy it to production"), "completed", "failed")

    assert session.status == "completed", session.completion_summary
    assert [a["slug"] for a in session.plan["agents"]] == ["requirements-analyst"]
    dropped = {d["slug"]: d["reason"] for d in session.plan["dropped"]}
    assert "restricted" in dropped["devops"] and "no-such-agent" in dropped
    assert session.plan["source"] == "anthropic"
    written = ArtifactVersion.objects.get(artifact__session=session, artifact__path="docs/requirements.md")
    assert written.content == "# Requirements\n- chat\n"
    purposes = set(LLMCall.objects.filter(session=session).values_list("purpose", flat=True))
    assert {"selection", "selection.repair", "agent_step"} <= purposes
    agent_call = LLMCall.objects.filter(session=session, purpose="agent_step").first()
    # The prompt (tools, system, briefing) is over the cacheable minimum: its tokens may all be a cache write.
    prompt_tokens = agent_call.input_tokens + agent_call.cache_write_tokens + agent_call.cache_read_tokens
    assert agent_call.provider == "anthropic" and prompt_tokens > 0
    assert_gap_free(session)
    step_requests = [r for r in fake.requests if r["body"].get("tools")]
    assert step_requests, "agent steps carry their tools"
    newest = step_requests[-1]["body"]["messages"][-1]["content"]
    assert newest[-1].get("cache_control") == {"type": "ephemeral"}, "agent steps cache up to the newest message"
    one_off = [r for r in fake.requests if not r["body"].get("tools")]
    assert one_off and "cache_control" not in json.dumps([r["body"] for r in one_off]), "one-off calls write no cache"
