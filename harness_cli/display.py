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
    "session.planning_retrying": lambda who, agent, data: "planning " + _retrying_later(data),
    "agent.requeued": lambda who, agent, data: f"{agent} requeued: {data.get('reason', '')}",
    "agent.awaiting_approval": lambda who, agent, data: f"{agent} waits for approval {data.get('approval')}",
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
    "approval.decided": lambda who, agent, data: f"approval {data.get('approval')} {data.get('decision')} by {who}",
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
        f"child {data.get('key')} ({data.get('child')}): {data.get('from')} → {data.get('status')}"
    ),
    "verification.queued": lambda who, agent, data: (
        f"checks queued over {data.get('files', '?')} files" + (f" ({data['reason']})" if data.get("reason") else "")
    ),
    "verification.started": lambda who, agent, data: "checks running in a sandbox: {}".format(
        ", ".join(data.get("checks") or []) or "nothing to check"
    ),
    "verification.check": lambda who, agent, data: _check_line(data),
    "verification.completed": lambda who, agent, data: (
        f"checks: {data.get('summary') or data.get('reason') or ''} — {str(data.get('status', '')).replace('_', ' ')}"
    ),
    "session.completed": lambda who, agent, data: "session completed" + _spent(data),
    "session.failed": lambda who, agent, data: f"session failed: {data.get('summary', '')}",
}


def _check_line(data: dict) -> str:
    counts = data.get("counts") or {}
    shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    first = (data.get("findings") or [{}])[0]
    where = f" — first: {first.get('path')}:{first.get('line') or ''} {first.get('message', '')[:120]}" if first else ""
    return f"check {data.get('tool')}: {data.get('status')}" + (f" ({shown})" if shown else "") + where


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


def _spent(data: dict) -> str:
    if data.get("tokens") is None:
        return ""
    return f" — {int(data['tokens']):,} tokens, {dollars(data.get('cost_usd'))}"


def usage_line(usage: dict) -> str:
    """A session's (or run's) usage as the API gives it, on one line."""
    kinds = ", ".join(
        f"{label} {int(usage.get(kind) or 0):,}"
        for kind, label in (
            ("input_tokens", "input"),
            ("output_tokens", "output"),
            ("cache_read_tokens", "cache read"),
            ("cache_write_tokens", "cache write"),
        )
    )
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
