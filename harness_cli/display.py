"""How events look in a terminal: progress bars per agent (rich), plain lines, or JSON lines."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from harness_cli.money import dollars


@dataclass
class AgentState:
    slug: str
    status: str = "pending"
    progress: int = 0
    activity: str = ""


QUIET_EVENTS = frozenset({"agent.progress", "agent.delta"})  # drawn as bars, or too fine-grained for lines


# One line per event type, built only for the event at hand: fields are read from `data` with
# defaults so an older or newer server's payload never breaks the terminal.
LINES: dict[str, Callable[[str, str, dict], str]] = {
    "session.created": lambda who, agent, data: f"session created by {who}: {data.get('intent', '')}",
    "session.planning": lambda who, agent, data: "planning: reading screenshots and choosing agents",
    "screenshot.analysed": lambda who, agent, data: (
        f"screenshot analysed ({data.get('source', '')}): {data.get('name', '')}"
    ),
    "requirement.added": lambda who, agent, data: (
        f"requirement added ({data.get('source', 'person')}): {data.get('text', '')}"
    ),
    "requirement.updated": lambda who, agent, data: f"requirement refined by {who}: {data.get('text', '')}",
    "session.shared": lambda who, agent, data: (
        f"{who} shared the session with {data.get('user')} ({data.get('level')})"
    ),
    "session.unshared": lambda who, agent, data: f"{who} stopped sharing the session with {data.get('user')}",
    "session.plan_ready": lambda who, agent, data: "plan ready ({}): {}".format(
        data.get("strategy"), ", ".join(a["slug"] for a in data.get("agents", []))
    ),
    "session.started": lambda who, agent, data: "agents are starting",
    "session.phase_changed": lambda who, agent, data: f"phase: {data.get('to')}",
    "agent.queued": lambda who, agent, data: f"{agent} queued",
    "agent.started": lambda who, agent, data: f"{agent} started" + _resuming(data),
    "agent.completed": lambda who, agent, data: f"{agent} completed: {data.get('summary', '')[:120]}",
    "agent.failed": lambda who, agent, data: (
        f"{agent} failed ({data.get('category') or 'error'}): {(data.get('error') or 'no message')[:300]}"
    ),
    "agent.paused": lambda who, agent, data: f"{agent} paused",
    "agent.pause_requested": lambda who, agent, data: f"{agent} will pause after its current step ({who})",
    "agent.resumed": lambda who, agent, data: f"{agent} resumed ({who})",
    "agent.cancelled": lambda who, agent, data: f"{agent} cancelled",
    "agent.retrying": lambda who, agent, data: _retrying(agent, who, data),
    "agent.tool_refused": lambda who, agent, data: (
        f"{agent} was refused {data.get('tool', 'a tool')} at step {data.get('step', '?')}: {data.get('reason', '')}"
    ),
    "agent.continued": lambda who, agent, data: (
        f"{agent} continues in a new slice (#{data.get('attempt', '?')}) from step {data.get('resumed_from_step', '?')}"
    ),
    "agent.truncated": lambda who, agent, data: (
        f"{agent}'s answer was cut off at max_tokens (step {data.get('step', '?')}, "
        f"{data.get('cuts', 1)} in a row); told to go on"
    ),
    "agent.step": lambda who, agent, data: _step_line(agent, data),
    "session.planning_retrying": lambda who, agent, data: "planning " + _retrying_later(data),
    "agent.requeued": lambda who, agent, data: f"{agent} requeued: {data.get('reason', '')}",
    "agent.awaiting_approval": lambda who, agent, data: f"{agent} waits for approval {data.get('approval')}",
    "agent.awaiting_answer": lambda who, agent, data: f"{agent} waits for an answer to {data.get('question')}",
    "conversation.message": lambda who, agent, data: _thread_line(who, data),
    "artifact.created": lambda who, agent, data: f"{who} wrote {data.get('path')} (v{data.get('version')})",
    "artifact.updated": lambda who, agent, data: (
        f"{who} updated {data.get('path')} (v{data.get('version')}, +{data.get('added')} -{data.get('removed')})"
    ),
    "artifact.conflict": lambda who, agent, data: (
        f"conflict on {data.get('path')}: {who} vs {data.get('latest_author')}"
    ),
    "feedback.submitted": lambda who, agent, data: f"feedback from {who}: {data.get('text', '')}",
    "feedback.delivered": lambda who, agent, data: f"feedback delivered to {agent}",
    "approval.requested": lambda who, agent, data: (
        f"approval {data.get('approval')} requested: {data.get('summary', '')} — approve or reject it"
    ),
    "approval.decided": lambda who, agent, data: (
        f"approval {data.get('approval')} {data.get('decision')} by {who}"
        + (f": {data['reason']}" if data.get("reason") else "")
    ),
    "session.paused": lambda who, agent, data: f"session paused by {who}",
    "session.resumed": lambda who, agent, data: f"session resumed by {who}",
    "session.cancelled": lambda who, agent, data: f"session cancelled by {who}",
    "knowledge.consulted": lambda who, agent, data: "knowledge informed the {}: {}".format(
        data.get("decision", "plan"), ", ".join(d.get("title", "") for d in data.get("documents", []))
    ),
    "conflict.detected": lambda who, agent, data: "conflict on {} with session {} — a lead decides ({})".format(
        data.get("path"), ", ".join(s.get("id", "") for s in data.get("sessions", [])), data.get("approval")
    ),
    "epic.breakdown_ready": lambda who, agent, data: "epic broken down into {} child sessions: {}".format(
        len(data.get("children", [])), ", ".join(c.get("key", "") for c in data.get("children", []))
    ),
    "epic.child_status": lambda who, agent, data: (
        f"a child session not shared with you: {data.get('from')} → {data.get('status')}"
        if data.get("hidden")
        else f"child {data.get('key')} ({data.get('child')}): {data.get('from')} → {data.get('status')}"
    ),
    "verification.queued": lambda who, agent, data: (
        f"checks queued over {data.get('files', '?')} files"
        + (f" (repair round {data['round']})" if data.get("round") else "")
        + (f" ({data['reason']})" if data.get("reason") else "")
    ),
    "verification.started": lambda who, agent, data: "checks running in a sandbox: {}".format(
        ", ".join(data.get("checks") or []) or "nothing to check"
    ),
    "verification.check": lambda who, agent, data: _check_line(data),
    "verification.completed": lambda who, agent, data: _completed_line(data),
    "session.completed": lambda who, agent, data: "session completed" + _spent(data),
    "session.failed": lambda who, agent, data: f"session failed: {data.get('summary', '')}",
}


def _thread_line(who: str, data: dict) -> str:
    """One entry of the session's thread, with its id so a person can answer or reply to it."""
    kind, text, ref = data.get("kind", "message"), data.get("text", ""), data.get("id", "")
    if kind == "question":
        return f"{who} asks ({ref}): {text} — answer {ref} TEXT"
    if kind == "answer":
        return f"{who} answered {data.get('reply_to')}: {text}"
    if kind == "reply":
        links = ", ".join(f"{link.get('path')} v{link.get('version')}" for link in data.get("links") or [])
        return f"{who} replies ({ref}): {text}" + (f" [{links}]" if links and links not in text else "")
    if data.get("requirement"):
        return f"{who} changed the requirements ({ref}): {text}"
    to = f" to {data['agent']}" if data.get("agent") else ""
    return f"{who} says{to} ({ref}): {text}"


def check_badge(result: dict) -> str:
    """A check as the server's summary writes it: `lint 2 ✗`, `tests 12/12 ✓`, `js timeout`."""
    label, status, counts = result.get("label") or result.get("tool") or "check", result.get("status"), {}
    counts = result.get("counts") or counts
    if status in ("skipped", "timeout", "error"):
        return f"{label} {status}"
    if result.get("tool") in ("pytest", "node-test") and counts.get("tests") is not None:
        return f"{label} {counts.get('passed', 0)}/{counts.get('tests', 0)} {'✓' if status == 'passed' else '✗'}"
    if status == "passed":
        return f"{label} ✓"
    return f"{label} {counts.get('errors') or len(result.get('findings') or [])} ✗"


def _finding(finding: dict) -> str:
    where = finding.get("path") or ""
    if where and finding.get("line"):
        where += f":{finding['line']}"
    code = finding.get("code") if finding.get("code") not in (None, "failed") else ""
    return " ".join(part for part in (where, code, str(finding.get("message") or "")[:120]) if part)


def _check_line(data: dict) -> str:
    findings = data.get("findings") or []
    errors = [f for f in findings if f.get("severity") != "warning"]
    warnings = len(findings) - len(errors)
    line = f"check {check_badge(data)}"
    if data.get("status") in ("timeout", "error"):
        seconds = (data.get("duration_ms") or 0) / 1000
        line += f" (exit {data.get('exit_code')}, after {seconds:.1f} s)"
    if errors:
        more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
        return f"{line} — {_finding(errors[0])}{more}"
    if warnings:
        return f"{line} — {warnings} warning{'s' if warnings != 1 else ''}, first {_finding(findings[0])}"
    return line


def _rounds(data: dict) -> str:
    rounds = int(data.get("round") or 0)
    return f" (after {rounds} repair round{'s' if rounds != 1 else ''})" if rounds else ""


def _completed_line(data: dict) -> str:
    status = str(data.get("status") or "")
    if status == "not_verified":
        reason = data.get("reason") or str(data.get("summary") or "").removeprefix("not verified: ")
        return f"checks: not verified — {reason}{_rounds(data)}"
    return f"checks: {data.get('summary') or ''} — {status}{_rounds(data)}"


def checks_line(verification: dict | None) -> str:
    """`harness status`: a session's latest checks (its API `verification` field) on one line."""
    if not verification:
        return "checks: — (this server does not report them)"
    status, summary = verification.get("status") or "pending", verification.get("summary") or ""
    if status == "pending":
        return "checks: queued" if verification.get("id") else "checks: pending (they run when the agents finish)"
    if status == "running":
        return "checks: running in the sandbox"
    return _completed_line({**verification, "summary": summary})


def describe(event: dict) -> str | None:
    """One human line for an event (None for the quiet ones and for types this CLI does not know yet)."""
    line = LINES.get(event["type"])
    if line is None:
        return None
    data = event.get("data") or {}
    who = event["actor"]["name"]
    return line(who, data.get("agent", who), data)


def _retrying(agent: str, who: str, data: dict) -> str:
    if data.get("automatic") or "attempt" in data:  # the engine retries a model fault by itself
        return f"{agent} {_retrying_later(data)}"
    previous = f" after it {data['previous']}" if data.get("previous") else ""
    return f"{agent} retried by {who}{previous} (retry {data.get('retries', 1)})"


def _retrying_later(data: dict) -> str:
    when = ""
    if data.get("delay_seconds") is not None:
        when = f" in {float(data['delay_seconds']):.0f} s"
    elif data.get("next_attempt_at"):
        when = f" at {data['next_attempt_at']}"
    attempt = f"attempt {data.get('attempt', '?')}/{data.get('max_attempts', '?')}"
    return f"will retry{when} ({data.get('category') or 'fault'}, {attempt}): {data.get('reason', '')}"


def _step_line(agent: str, data: dict) -> str:
    """`backend step 3: write_file, report_progress — 1,234 tokens, 2.1 s` (its transcript: `harness logs`)."""
    step, tools = data.get("step", "?"), ", ".join(data.get("tools") or [])
    if data.get("kind") == "decision":
        return f"{agent} step {step}: a decision settled {tools or 'a call'}"
    tools = tools or "no tool calls"
    if data.get("more_tools"):
        tools += f" (+{data['more_tools']} more)"
    cut = " (cut off at max_tokens)" if data.get("kind") == "truncated" else ""
    seconds = (data.get("duration_ms") or 0) / 1000
    return f"{agent} step {step}{cut}: {tools} — {int(data.get('tokens') or 0):,} tokens, {seconds:.1f} s"


def _spent(data: dict) -> str:
    if data.get("tokens") is None:
        return ""
    return f" — {int(data['tokens']):,} tokens, {dollars(data.get('cost_usd'))}"


TOKEN_KINDS = (
    ("input_tokens", "input"),
    ("output_tokens", "output"),
    ("cache_read_tokens", "cache read"),
    ("cache_write_tokens", "cache write"),
)


def token_kinds(usage: dict) -> str:
    """`input 1,200, output 300, cache read 0, cache write 0`."""
    return ", ".join(f"{label} {int(usage.get(kind) or 0):,}" for kind, label in TOKEN_KINDS)


def usage_line(usage: dict) -> str:
    """A session's (or run's) usage as the API gives it, on one line."""
    kinds = token_kinds(usage)
    estimated = bool(usage.get("estimated"))
    line = f"{int(usage.get('tokens_used') or 0):,} tokens ({kinds}) · {dollars(usage.get('cost_usd'), estimated)}"
    return line + (" — estimated: offline provider, not billed" if estimated else "")


def _resuming(data: dict) -> str:
    step = data.get("resumed_from_step")
    return f" (resuming at step {step})" if step else ""


class Renderer:
    """Line output with an inline bar on progress events; safe under prompt_toolkit's patch_stdout."""

    def __init__(self, *, json_lines: bool = False, live_bars: bool | None = None) -> None:
        self.json_lines = json_lines
        self.console = Console(highlight=False, soft_wrap=True)
        self.agents: dict[str, AgentState] = {}
        use_live = sys.stdout.isatty() if live_bars is None else live_bars
        self.progress: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        self.live: Live | None = None
        if use_live and not json_lines:
            self.progress = Progress(
                TextColumn("{task.fields[slug]:<22}"),
                BarColumn(bar_width=28),
                TextColumn("{task.percentage:>3.0f}%"),
                TextColumn("{task.fields[status]:<18} {task.fields[activity]}"),
                console=self.console,
            )
            self.live = Live(self.progress, console=self.console, refresh_per_second=8, transient=False)
            self.live.start()

    def event(self, event: dict) -> None:
        if self.json_lines:
            print(json.dumps(event), flush=True)
            return
        self._track(event)
        if event["type"] == "agent.delta":
            return
        line = describe(event)
        if line:
            seq = event.get("seq")
            prefix = f"[dim]{seq:>4}[/dim] " if seq else "     "
            self.console.print(prefix + escape(line), markup=True)
        elif event["type"] == "agent.progress" and not self.progress:
            state = self.agents[event["data"]["agent"]]
            line = f"     {state.slug:<22} {bar(state.progress)} {state.progress:>3}% {state.activity}"
            self.console.print(line, markup=False)

    def state(self, state: str) -> None:
        if not self.json_lines:
            self.console.print(f"[yellow]{escape(state)}…[/yellow]")

    def plain(self, text: str) -> None:
        if self.json_lines:
            print(json.dumps({"type": "cli.message", "text": text}), flush=True)
        else:
            self.console.print(text, markup=False)

    def close(self) -> None:
        if self.live:
            self.live.stop()

    def _track(self, event: dict) -> None:
        data = event.get("data") or {}
        if event["type"] == "session.plan_ready":
            for agent in data.get("agents", []):
                self._agent(agent["slug"])
        slug = data.get("agent")
        if not slug or not event["type"].startswith("agent."):
            return
        state = self._agent(slug)
        if event["type"] == "agent.step":  # a step is not a change of status
            return
        if event["type"] == "agent.progress":
            state.progress, state.activity = int(data.get("progress", 0)), str(data.get("message", ""))[:60]
        else:
            state.status = event["type"].split(".", 1)[1]
            if state.status == "completed":
                state.progress, state.activity = 100, ""
        if self.progress:
            self.progress.update(
                self.tasks[slug], completed=state.progress, status=state.status, activity=state.activity
            )

    def _agent(self, slug: str) -> AgentState:
        if slug not in self.agents:
            self.agents[slug] = AgentState(slug)
            if self.progress:
                self.tasks[slug] = self.progress.add_task(slug, total=100, slug=slug, status="pending", activity="")
        return self.agents[slug]


def bar(percent: int, width: int = 20) -> str:
    filled = round(width * max(0, min(100, percent)) / 100)
    return "[" + "█" * filled + "░" * (width - filled) + "]"
