"""Recording an agent's transcript: one `AgentStep` per committed step, in the step's own transaction.

The runtime calls `step_record` (a model answer, or one cut off at max_tokens) and `decision_record` (a lead's
decision settling a parked call) inside its fenced transaction, before the run's step number moves on. Each
writes ONE insert (the briefing, step 0, rides in the same insert as the run's first step) and one
`agent.step` event, so a page or the CLI fetches the new step as soon as it commits. Every text is capped
(`MAX_TEXT` characters, with a `truncated` flag) so a transcript stays bounded whatever the model writes.
"""

from __future__ import annotations

import json
from typing import Any

from agents_app.llm.base import LLMResponse
from agents_app.models import AgentRun, AgentStep, StepKind
from sessions_app.events import Actor, event_record
from sessions_app.models import ApprovalRequest, Feedback

#: Per stored text (a message, a tool argument, a tool result): about 20 KB.
MAX_TEXT = 20_000
MAX_THINKING = 8_000
SUMMARY_TOOLS = 12


def step_record(
    *,
    run: AgentRun,
    response: LLMResponse,
    tool_results: list[dict] | None,
    feedback: list[Feedback],
    checkpoint: dict,
    messages: list[dict],
    kind: str = StepKind.STEP,
) -> AgentStep:
    """Call inside the step's transaction, before `run.step` is moved on: `run.step + 1` is this step's number.
    `tool_results` None: none of the calls ran (a cut-off answer)."""
    results = {r.get("tool_use_id"): r for r in tool_results or []}
    calls = [_call(c.id, c.name, c.input, results.get(c.id), not_run=tool_results is None) for c in response.tool_calls]
    pending = checkpoint.get("pending") or {}
    approvals = (
        [{"id": pending["approval"], "status": "requested", "tool": pending.get("tool", "")}]
        if pending.get("approval")  # a parked question (ask_human) has no approval
        else []
    )
    step = AgentStep(
        run=run,
        llm_call_id=response.call_id,
        number=run.step + 1,
        kind=kind,
        messages=[_text(b.get("text", ""))[0] for b in response.content if b.get("type") == "text" and b.get("text")],
        thinking=_text(
            "\n\n".join(b.get("thinking", "") for b in response.content if b.get("type") == "thinking"), MAX_THINKING
        )[0],
        tool_calls=calls,
        stop_reason=(response.stop_reason or "")[:20],
        model=(response.model or "")[:80],
        input_tokens=response.usage.input_tokens,
        output_tokens=response.usage.output_tokens,
        cache_read_tokens=response.usage.cache_read_tokens,
        cache_write_tokens=response.usage.cache_write_tokens,
        cost_usd=response.cost_usd,
        estimated=response.usage.estimated,
        duration_ms=max(0, int(response.latency_ms or 0)),
        retries=run.fault_retries,
        feedback=[_feedback(f) for f in feedback],
        approvals=approvals,
    )
    rows = [step]
    if run.step == 0 and messages:  # the run's first step: its briefing goes in the same insert
        rows.insert(0, AgentStep(run=run, number=0, kind=StepKind.BRIEFING, briefing=briefing_of(run, messages[0])))
    AgentStep.objects.bulk_create(rows)
    _announce(run, step)
    return step


def decision_record(*, run: AgentRun, approval: ApprovalRequest, pending: dict, result: dict) -> AgentStep:
    """A parked call settled by a lead's decision: the call, its result, and the decision."""
    step = AgentStep(
        run=run,
        number=run.step + 1,
        kind=StepKind.DECISION,
        tool_calls=[_call(pending.get("tool_use_id", ""), pending.get("tool", ""), pending.get("input") or {}, result)],
        retries=run.fault_retries,
        approvals=[
            {"id": approval.public_id, "status": approval.status, "tool": pending.get("tool", ""),
             "comment": _text(approval.comment or "", 2_000)[0]}
        ],  # fmt: skip
    )
    AgentStep.objects.bulk_create([step])
    _announce(run, step)
    return step


def briefing_of(run: AgentRun, first: dict) -> dict[str, Any]:
    """The first message as the agent got it, and what it held: read back from the text itself, so the
    transcript shows exactly what the agent was told."""
    content = first.get("content")
    blocks = [content] if isinstance(content, str) else [b.get("text", "") for b in content or [] if b.get("text")]
    text = blocks[0] if blocks else ""
    lines = text.splitlines()
    intent = _quoted_after(lines, "Session intent (quoted user text): ")
    requirements = _quoted_items(lines, "Requirements (quoted user text")
    knowledge = _quoted_items(lines, "Organisation knowledge")
    inherited: list[str] = []
    if run.session.parent_id is not None:  # an epic's child starts from its siblings' files
        from artifacts_app.selectors import inherited_contents

        inherited = sorted(inherited_contents(session=run.session))
    body, truncated = _text(text)
    return {
        "text": body,
        "truncated": truncated,
        "intent": intent or run.session.intent,
        "requirements": requirements,
        "knowledge": knowledge,
        "inherited_files": inherited[:500],
    }


def _announce(run: AgentRun, step: AgentStep) -> None:
    tools = [c["name"] for c in step.tool_calls]
    event_record(
        session=run.session,
        type="agent.step",
        actor=Actor.for_agent(run.agent.slug, run.agent.name),
        run=run,
        data={
            "agent": run.agent.slug,
            "step": step.number,
            "kind": step.kind,
            "tools": tools[:SUMMARY_TOOLS],
            "more_tools": max(0, len(tools) - SUMMARY_TOOLS),
            "tokens": step.tokens,
            "cost_usd": str(step.cost_usd),
            "duration_ms": step.duration_ms,
            **({"briefing": True} if run.step == 0 and step.kind != StepKind.DECISION else {}),
        },
    )


def _call(call_id: str, name: str, arguments: dict, result: dict | None, *, not_run: bool = False) -> dict:
    args, args_cut = _capped(arguments)
    call: dict[str, Any] = {"id": _text(str(call_id), 200)[0], "name": _text(str(name), 80)[0], "arguments": args}
    truncated = args_cut
    if result is None:
        call.update(result=None, is_error=False, refused=False, not_run=not_run)
    else:
        raw = result.get("content", "")
        text = raw if isinstance(raw, str) else "\n".join(b.get("text", "") for b in raw if isinstance(b, dict))
        text, cut = _text(text)
        truncated = truncated or cut
        is_error = bool(result.get("is_error"))
        call.update(result=text, is_error=is_error, refused=is_error and text.startswith("refused:"), not_run=False)
    call["truncated"] = truncated
    return call


def _capped(value: Any) -> tuple[Any, bool]:
    """Arguments as JSON with every string capped at MAX_TEXT (and storable: no NUL, no lone surrogate)."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        items = [(_text(str(k), 200)[0], _capped(v)) for k, v in value.items()]
        return {k: v for k, (v, _) in items}, any(cut for _, (_, cut) in items)
    if isinstance(value, list):
        items = [_capped(v) for v in value[:200]]
        return [v for v, _ in items], len(value) > 200 or any(cut for _, cut in items)
    if value is None or isinstance(value, bool | int | float):
        return value, False
    return _text(json.dumps(value, default=str))


def _text(value: str, limit: int = MAX_TEXT) -> tuple[str, bool]:
    """PostgreSQL text and JSON hold neither NUL nor lone surrogates; long texts keep their start."""
    clean = value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    if len(clean) <= limit:
        return clean, False
    return clean[:limit], True


def _feedback(item: Feedback) -> dict:
    author = item.author.get_username() if item.author_id else "Harness checks"
    return {"id": item.pk, "author": author, "text": _text(item.text, 4_000)[0]}


def _quoted_after(lines: list[str], prefix: str) -> str:
    for line in lines:
        if line.startswith(prefix):
            return _json_string(line[len(prefix) :]) or ""
    return ""


def _quoted_items(lines: list[str], heading: str) -> list[str]:
    """The `- "…"` lines under a heading (a knowledge line is `- "title": "snippet"`: its title)."""
    found: list[str] = []
    inside = False
    for line in lines:
        if line.startswith(heading):
            inside = True
        elif inside and line.startswith("- "):
            item = _json_string(line[2:])
            if item is not None:
                found.append(item)
        elif inside:
            break
    return found


def _json_string(raw: str) -> str | None:
    try:
        value, _ = json.JSONDecoder().raw_decode(raw.strip())
    except ValueError:
        return None
    return _text(value, 2_000)[0] if isinstance(value, str) else None
