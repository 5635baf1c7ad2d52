"""`harness logs ID [--agent SLUG]`: each agent's transcript, step by step, from `runs/{run}/steps/`.

Text: the briefing summarised, then per step the model, tokens by kind, cost, duration and retries, what the
model said (and its thinking), each tool call with its arguments and result cut to a few lines, and a write's
diff. `--json`: one JSON line per step as the API gives it, with its `run` and `agent`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from harness_cli.client import EXIT_NOT_FOUND, Client, CliError
from harness_cli.display import token_kinds
from harness_cli.money import dollars

RESULT_LINES, DIFF_LINES, TEXT_CHARS, ARGUMENT_CHARS = 8, 40, 600, 200


def steps_of(client: Client, session_id: str, run_id: str, *, page_size: int = 200) -> Iterator[dict]:
    """Every step of a run, oldest first, following the API's cursor pages."""
    url = f"/api/v1/sessions/{session_id}/runs/{run_id}/steps/"
    page = client.request("GET", url, params={"page_size": page_size})
    while True:
        yield from page.get("results", [])
        if not page.get("next"):
            return
        page = client.request("GET", page["next"])


def logs(client: Client, session_id: str, *, agent: str | None, as_json: bool, out: Callable[[str], None]) -> int:
    session = client.session(session_id)
    runs = session.get("runs") or []
    if agent:
        runs = [r for r in runs if r["agent"]["slug"] == agent]
        if not runs:
            slugs = ", ".join(r["agent"]["slug"] for r in session.get("runs") or []) or "none yet"
            raise CliError(f"no agent {agent!r} in session {session_id} (its agents: {slugs})", EXIT_NOT_FOUND)
    if not runs and not as_json:
        out(f"session {session_id} has no agents yet ({session.get('status')})")
    for run in runs:
        slug = run["agent"]["slug"]
        if not as_json:
            out(run_header(run))
        for step in steps_of(client, session_id, run["id"]):
            if as_json:
                out(json.dumps({"run": run["id"], "agent": slug, **step}))
            else:
                for line in step_lines(step):
                    out(line)
        if not as_json:
            out("")
    return 0


def run_header(run: dict) -> str:
    usage = run.get("usage") or {}
    tokens = int(usage.get("tokens_used") or 0)
    money = dollars(usage.get("cost_usd"), bool(usage.get("estimated")))
    steps = f"{run.get('step', 0)} step{'s' if run.get('step') != 1 else ''}"
    return f"== {run['agent']['slug']} ({run['id']}) — {run['status']}, {steps}, {tokens:,} tokens, {money}"


def step_lines(step: dict) -> list[str]:
    if step.get("kind") == "briefing":
        return briefing_lines(step.get("briefing") or {})
    lines = [step_heading(step)]
    if step.get("thinking"):
        lines += indented("thinking: " + clip(step["thinking"], TEXT_CHARS))
    for text in step.get("messages") or []:
        lines += indented("says: " + clip(text, TEXT_CHARS))
    for item in step.get("feedback") or []:
        lines += indented(f"feedback from {item.get('author')}: {clip(item.get('text', ''), TEXT_CHARS)}")
    for call in step.get("tool_calls") or []:
        lines += call_lines(call)
    for approval in step.get("approvals") or []:
        comment = f" — {approval['comment']}" if approval.get("comment") else ""
        lines.append(f"  approval {approval.get('id')} {approval.get('status')} ({approval.get('tool')}){comment}")
    return lines


def briefing_lines(briefing: dict) -> list[str]:
    lines = ["step 0 · briefing", f"  intent: {briefing.get('intent', '')}"]
    requirements = briefing.get("requirements") or []
    lines.append(f"  requirements: {len(requirements)}")
    lines += [f"    - {clip(r, ARGUMENT_CHARS)}" for r in requirements]
    if briefing.get("knowledge"):
        lines.append("  knowledge: " + ", ".join(briefing["knowledge"]))
    inherited = briefing.get("inherited_files") or []
    if inherited:
        shown = ", ".join(inherited[:10]) + (f", … ({len(inherited) - 10} more)" if len(inherited) > 10 else "")
        lines.append(f"  inherited files: {shown}")
    lines.append(f"  ({len(briefing.get('text') or '')} characters told; --json prints them)")
    return lines


def step_heading(step: dict) -> str:
    usage = step.get("usage") or {}
    kinds = token_kinds(usage)
    parts = [f"step {step.get('number')}"]
    if step.get("kind") == "truncated":
        parts.append("cut off at max_tokens (none of its calls ran)")
    elif step.get("kind") == "decision":
        parts.append("a lead's decision")
    if step.get("model"):
        parts.append(step["model"])
    if step.get("kind") != "decision":
        parts.append(f"{int(usage.get('tokens') or 0):,} tokens ({kinds})")
        parts.append(dollars(usage.get("cost_usd"), bool(usage.get("estimated"))))
        parts.append(f"{(step.get('duration_ms') or 0) / 1000:.1f} s")
    retries = int(step.get("retries") or 0)
    if retries:
        parts.append(f"after {retries} retr{'ies' if retries > 1 else 'y'}")
    return " · ".join(parts)


def call_lines(call: dict) -> list[str]:
    flags = [flag for flag in ("refused", "not_run", "truncated") if call.get(flag)]
    flags = [f.replace("not_run", "not run") for f in flags]
    lines = [f"  → {call.get('name')}({arguments(call)})" + (f"  [{', '.join(flags)}]" if flags else "")]
    if call.get("result") is not None:
        lines += indented(cut_lines(str(call["result"]), RESULT_LINES), "      ")
    if call.get("diff"):
        lines += indented(cut_lines(call["diff"].rstrip("\n"), DIFF_LINES), "      ")
    return lines


def arguments(call: dict) -> str:
    raw = dict(call.get("arguments") or {})
    args = {**({"path": raw["path"]} if "path" in raw else {}), **raw}  # what a call is about comes first
    if call.get("name") == "write_file" and isinstance(args.get("content"), str):
        content = args.pop("content")
        args["content"] = f"<{len(content.splitlines())} lines>"
    shown = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in args.items())
    return clip(shown, ARGUMENT_CHARS)


def clip(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more characters)"


def cut_lines(text: str, limit: int) -> str:
    lines = text.splitlines()
    if len(lines) <= limit:
        return text
    return "\n".join(lines[:limit] + [f"… ({len(lines) - limit} more lines)"])


def indented(text: str, prefix: str = "  ") -> list[str]:
    return [prefix + line for line in text.splitlines() or [""]]
