"""Prompt caching benchmark (`make bench`): a 10-step agent conversation through the real provider and
SDK against the fake Messages API, which applies the minimum cacheable length and the 20-block lookback
as the caching docs state them. Prints, per step, input / cache read / cache write tokens and the share
of input tokens read from cache from step 2 on (target: at least 90 %). Asserts nothing about speed.

The conversation is built the way the engine builds it: the system prompt of a real agent from the
registry (`briefing.system_prompt`), its tools (`tools.tools_for`), a realistic briefing as the first
message, then per step the assistant's content exactly as returned (a signed thinking block with the
text between tool calls, then write_file + report_progress with a real template file) and a user
message of tool_result blocks, with `cache=True`."""

from __future__ import annotations

import pytest

from agents_app import briefing
from agents_app.llm.anthropic_provider import AnthropicProvider
from agents_app.llm.base import CallContext, LLMRequest
from agents_app.models import AgentDefinition, AgentRun
from agents_app.offline_templates import offline_files
from agents_app.tools import tools_for
from tests.fake_anthropic import FakeAnthropic, fake_anthropic  # noqa: F401 - fixture

pytestmark = [pytest.mark.bench, pytest.mark.django_db]
STEPS = 10
AGENT = "backend"
INTENT = "Build a team task tracker: projects, tasks with assignees and due dates, comments, and a JSON API."
REQUIREMENTS = [
    "A member can create a project and invite teammates by email.",
    "Tasks have a title, a description, an assignee, a due date and a status (todo, doing, done).",
    "Anyone in the project can comment on a task; comments are listed oldest first.",
    "The API lists a project's open tasks ordered by due date, 50 per page.",
    "Only project members can see or change a project's tasks.",
]


def briefing_message(agent: AgentDefinition) -> dict:
    lines = [
        f"Session intent (quoted user text): {briefing.quoted(INTENT)}",
        f"Task type: feature. You are the {agent.name} ({agent.slug}).",
        "Why you were chosen: the intent needs models, an API and permissions.",
        "Requirements (quoted user text, one JSON string each):",
        *(f"- {briefing.quoted(text)}" for text in REQUIREMENTS),
        "Start by looking at the workspace, then do your part and call finish.",
    ]
    return {"role": "user", "content": [{"type": "text", "text": "\n".join(lines)}]}


def converse(fake: FakeAnthropic, agent: AgentDefinition) -> list[tuple[int, int, int, int]]:
    """Run the conversation; per step (step, input, cache read, cache write) as the provider recorded it."""
    system = briefing.system_prompt(AgentRun(agent=agent))
    tools = tools_for(agent.tools)
    files = offline_files(AGENT, intent=INTENT, requirements=REQUIREMENTS)
    provider = AnthropicProvider(api_key="bench", base_url=fake.base_url, model="claude-sonnet-5-5")
    messages = [briefing_message(agent)]
    rows = []
    for step in range(1, STEPS + 1):
        file = files[(step - 1) % len(files)]
        fake.queue_thinking_tool_use(
            f"Step {step}: the workspace has what I wrote so far; next I write {file.path}.",
            [
                ("write_file", {"path": file.path, "content": file.content, "kind": file.kind}),
                ("report_progress", {"percent": min(95, step * 9), "message": f"wrote {file.path}"}),
            ],
        )
        response = provider.complete(
            LLMRequest(
                system=system,
                messages=messages,
                tools=tools,
                cache=True,
                context=CallContext(purpose="agent_step", offline_hint={"agent": AGENT}),
            ),
            on_text=lambda _: None,
        )
        usage = response.usage
        rows.append((step, usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens))
        messages += [
            {"role": "assistant", "content": response.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": f"ok: {call.input.get('path', '')}"
                     f"{' version 1' if call.name == 'write_file' else ''}"}
                    for call in response.tool_calls
                ],
            },
        ]  # fmt: skip
    assert fake.violations == []
    return rows


def report(title: str, rows: list[tuple[int, int, int, int]], minimum: int) -> float:
    """Print the table; return the share of prompt tokens (input + cache read + cache write) read from cache,
    steps 2 on. The ceiling is that share if every token sent in an earlier request were read: what a
    step adds (the model's last turn and the tool results) must be written once, whatever the breakpoints."""
    later = rows[1:]
    prompt = [fresh + cached + written for _, fresh, cached, written in rows]
    read = sum(r[2] for r in later)
    total = sum(prompt[1:])
    best = sum(prompt[i - 1] if prompt[i - 1] >= minimum else 0 for i in range(1, len(rows)))
    share = read / total if total else 0.0
    print(f"\n{title}")
    print("  step | input | cache read | cache write | read share")
    for step, fresh, cached, written in rows:
        print(f"  {step:>4} | {fresh:>5} | {cached:>10} | {written:>11} | {cached / (fresh + cached + written):>9.1%}")
    print(f"  share of prompt tokens read from cache, steps 2-{STEPS}: {share:.1%} (target >= 90%)")
    print(f"  ceiling (every earlier token read, new ones written once): {best / total:.1%}")
    uncached = sum(r[1] for r in later)
    print(f"  prompt tokens neither read nor written (uncached input), steps 2-{STEPS}: {uncached}")
    return share


def test_share_of_input_read_from_cache_over_a_ten_step_agent(fake_anthropic, settings):  # noqa: F811
    settings.HARNESS_LLM_TIMEOUT_SECONDS = 10
    agent = AgentDefinition.objects.filter(slug=AGENT).first()
    assert agent is not None, f"the registry has no {AGENT} agent"

    rows = converse(fake_anthropic, agent)
    report(f"prompt caching, {STEPS}-step {AGENT} agent, claude-sonnet-5-5, minimum cacheable 1,024 (NOTES.md)", rows,
           1024)  # fmt: skip
    print(f"  billed by the fake: {fake_anthropic.billed}")

    low = FakeAnthropic().start()
    try:
        low.min_cacheable["claude-sonnet-5-5"] = 512
        report("the same with a 512-token minimum (a third-party figure for claude-sonnet-5-5)", converse(low, agent),
               512)  # fmt: skip
    finally:
        low.stop()
