"""How events look in a terminal: progress bars per agent (rich), plain lines, or JSON lines."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn


@dataclass
class AgentState:
    slug: str
    status: str = "pending"
    progress: int = 0
    activity: str = ""


def describe(event: dict) -> str | None:
    """One human line for an event (None for the ones not worth a line)."""
    kind, data = event["type"], event.get("data") or {}
    who = event["actor"]["name"]
    agent = data.get("agent", who)
    lines = {
        "session.created": f"session created by {who}: {data.get('intent', '')}",
        "session.planning": "planning: reading screenshots and choosing agents",
        "screenshot.analysed": f"screenshot analysed ({data.get('source', '')}): {data.get('name', '')}",
        "requirement.added": f"requirement added ({data.get('source', 'person')}): {data.get('text', '')}",
        "session.plan_ready": "plan ready ({}): {}".format(
            data.get("strategy"), ", ".join(a["slug"] for a in data.get("agents", []))
        ),
        "session.started": "agents are starting",
        "session.phase_changed": f"phase: {data.get('to')}",
        "agent.queued": f"{agent} queued",
        "agent.started": f"{agent} started" + _resuming(data),
        "agent.completed": f"{agent} completed: {data.get('summary', '')[:120]}",
        "agent.failed": f"{agent} failed ({data.get('category')}): {data.get('error', '')[:160]}",
        "agent.paused": f"{agent} paused",
        "agent.pause_requested": f"{agent} will pause after its current step ({who})",
        "agent.resumed": f"{agent} resumed ({who})",
        "agent.cancelled": f"{agent} cancelled",
        "agent.retrying": f"{agent} retrying ({who})",
        "agent.requeued": f"{agent} requeued: {data.get('reason', '')}",
        "agent.awaiting_approval": f"{agent} waits for approval {data.get('approval')}",
        "artifact.created": f"{who} wrote {data.get('path')} (v{data.get('version')})",
        "artifact.updated": (
            f"{who} updated {data.get('path')} (v{data.get('version')}, +{data.get('added')} -{data.get('removed')})"
        ),
        "artifact.conflict": f"conflict on {data.get('path')}: {who} vs {data.get('latest_author')}",
        "feedback.submitted": f"feedback from {who}: {data.get('text', '')}",
        "feedback.delivered": f"feedback delivered to {agent}",
        "approval.requested": (
            f"approval {data.get('approval')} requested: {data.get('summary', '')} — approve or reject it"
        ),
        "approval.decided": f"approval {data.get('approval')} {data.get('decision')} by {who}",
        "session.paused": f"session paused by {who}",
        "session.resumed": f"session resumed by {who}",
        "session.cancelled": f"session cancelled by {who}",
        "session.completed": "session completed",
        "session.failed": f"session failed: {data.get('summary', '')}",
    }
    return lines.get(kind)


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
