"""Typing commands while events stream: prompt_toolkit keeps the input line intact above the output."""

from __future__ import annotations

import contextlib
import os
import queue
import shlex
import sys
import threading
import webbrowser
from collections.abc import Callable

from prompt_toolkit import PromptSession
from prompt_toolkit.patch_stdout import patch_stdout

from harness_cli.client import Client, CliError
from harness_cli.display import Renderer, checks_line, usage_line
from harness_cli.money import dollars

HELP = """commands:
  status                    where every agent is
  pause [agent]             pause the session, or one agent
  resume [agent]            resume the session, or one agent
  cancel                    cancel the session
  feedback TEXT             tell the agents something; they get it at their next step
  say TEXT                  the same, as a message in the session's thread
  answer ID TEXT            answer an agent's question (ID: its msg_… id); the agent resumes
  reply ID TEXT             reply to a message of the thread (to a question: answers it)
  approve ID [comment]      approve a pending decision (leads)
  reject ID [comment]       reject a pending decision (leads)
  artifacts                 the files written so far
  open                      open the session in the browser
  help                      this list
  quit                      detach (the session goes on; `harness watch ID` re-attaches)"""


class Commands:
    def __init__(self, client: Client, session_id: str, web_url: str, out: Renderer) -> None:
        self.client, self.session_id, self.web_url, self.out = client, session_id, web_url, out

    def run(self, line: str) -> bool:
        """Execute one command line; False means quit."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            self.out.plain(f"cannot parse that: {exc}")
            return True
        if not words:
            return True
        name, args = words[0].lower(), words[1:]
        if name in ("quit", "exit", "detach"):
            return False
        handler: Callable[[list[str]], None] | None = getattr(self, f"cmd_{name}", None)
        if handler is None:
            self.out.plain(f"unknown command {name!r}; type help")
            return True
        try:
            handler(args)
        except CliError as exc:
            self.out.plain(f"error: {exc.message}")
        return True

    def cmd_help(self, args: list[str]) -> None:
        self.out.plain(HELP)

    def cmd_status(self, args: list[str]) -> None:
        session = self.client.session(self.session_id)
        self.out.plain(status_line(session))
        if session.get("usage"):
            self.out.plain(f"usage: {usage_line(session['usage'])}")
        if "verification" in session:
            self.out.plain(checks_line(session["verification"]))
        for run in session["runs"]:
            agent, activity = run["agent"]["slug"], run["current_activity"]
            usage = run.get("usage")
            spent = (
                f" · {usage['tokens_used']:,} tokens, {dollars(usage['cost_usd'], usage['estimated'])}" if usage else ""
            )
            self.out.plain(f"  {agent:<22} {run['status']:<18} {run['progress']:>3}%  {activity}{spent}")
            if run.get("error"):
                self.out.plain(f"    {run.get('failure_category') or 'error'}: {run['error'][:300]}")

    def _control(self, action: str, args: list[str]) -> None:
        run_id = self._run_id(args[0]) if args else None
        self.client.action(self.session_id, action, run_id)
        self.out.plain(f"{action} sent" + (f" to {args[0]}" if args else " to the session"))

    def cmd_pause(self, args: list[str]) -> None:
        self._control("pause", args)

    def cmd_resume(self, args: list[str]) -> None:
        self._control("resume", args)

    def cmd_cancel(self, args: list[str]) -> None:
        self._control("cancel", args)

    def cmd_retry(self, args: list[str]) -> None:
        self._control("retry", args)

    def cmd_feedback(self, args: list[str]) -> None:
        if not args:
            self.out.plain("usage: feedback TEXT")
            return
        self.client.feedback(self.session_id, " ".join(args))
        self.out.plain("feedback sent; the agents get it at their next step")

    def cmd_say(self, args: list[str]) -> None:
        if not args:
            self.out.plain("usage: say TEXT")
            return
        sent = self.client.say(self.session_id, " ".join(args))
        self.out.plain(f"said ({sent['id']}); the agents get it at their next step")

    def cmd_answer(self, args: list[str]) -> None:
        self._reply("answer", args)

    def cmd_reply(self, args: list[str]) -> None:
        self._reply("reply", args)

    def _reply(self, name: str, args: list[str]) -> None:
        if len(args) < 2:
            self.out.plain(f"usage: {name} ID TEXT (ID: a msg_… id from the thread)")
            return
        sent = self.client.say(self.session_id, " ".join(args[1:]), reply_to=args[0])
        what = "answered" if sent.get("kind") == "answer" else "replied to"
        self.out.plain(f"{what} {args[0]} ({sent['id']})")

    def cmd_approve(self, args: list[str]) -> None:
        self._decide("approve", args)

    def cmd_reject(self, args: list[str]) -> None:
        self._decide("reject", args)

    def _decide(self, decision: str, args: list[str]) -> None:
        if not args:
            pending = self.client.approvals(self.session_id)
            self.out.plain("pending: " + (", ".join(a["id"] + " " + a["summary"] for a in pending) or "none"))
            return
        self.client.decide(args[0], decision, " ".join(args[1:]))
        self.out.plain(f"{args[0]} {decision}d")

    def cmd_artifacts(self, args: list[str]) -> None:
        for artifact in self.client.artifacts(self.session_id):
            self.out.plain(f"  {artifact['path']:<40} {artifact['kind']:<5} v{artifact['version']}")

    def cmd_open(self, args: list[str]) -> None:
        self.out.plain(self.web_url)
        webbrowser.open(self.web_url)

    def _run_id(self, agent: str) -> str:
        for run in self.client.session(self.session_id)["runs"]:
            if agent in (run["agent"]["slug"], run["id"]):
                return run["id"]
        raise CliError(f"no agent {agent!r} in this session; `status` lists them")


def status_line(session: dict) -> str:
    """The session's state as the server has it: status, phase, and how many agents are where."""
    runs = session.get("runs") or []
    if session["status"] in ("created", "planning") and not runs:
        return f"{session['id']} {session['status']} · choosing agents (none has started yet)"
    counts: dict[str, int] = {}
    for run in runs:
        counts[run["status"]] = counts.get(run["status"], 0) + 1
    agents = ", ".join(f"{n} {status}" for status, n in sorted(counts.items(), key=lambda item: -item[1]))
    phase = session.get("current_phase") or "not started"
    return f"{session['id']} {session['status']} · phase {phase} · {len(runs)} agents: {agents or 'none'}"


def interact(commands: Commands, follow: Callable[[], str], stop: Callable[[], None]) -> str | None:
    """Stream in a background thread while reading commands; returns the final status, None if detached.

    The prompt closes by itself when the session ends: nobody has to press Enter to get the final line."""
    result: dict[str, object] = {}
    reader = _TerminalReader() if sys.stdin.isatty() else _LineReader()

    def background() -> None:
        try:
            result["status"] = follow()
        except CliError as exc:
            result["error"] = exc
        finally:
            reader.close()

    thread = threading.Thread(target=background, name="harness-stream", daemon=True)
    thread.start()
    commands.out.plain("type help for commands, quit to detach")
    reader.run(commands)
    if thread.is_alive():
        stop()
        return None
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return str(result.get("status", ""))


class _TerminalReader:
    """prompt_toolkit's prompt; `close()` (from the stream's thread) ends the prompt that is open, or the next one."""

    def __init__(self) -> None:
        self.session: PromptSession[str] = PromptSession()
        self.closed = threading.Event()

    def run(self, commands: Commands) -> None:
        with patch_stdout(raw=True):
            while not self.closed.is_set():
                try:
                    line = self.session.prompt("harness> ", pre_run=self._exit_if_closed)
                except (EOFError, KeyboardInterrupt):
                    return
                if not commands.run(line):
                    return

    def close(self) -> None:
        self.closed.set()
        loop = self.session.app.loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # that prompt's loop is gone; the next prompt sees `closed`
                loop.call_soon_threadsafe(self._exit_if_closed)

    def _exit_if_closed(self) -> None:
        app = self.session.app
        if self.closed.is_set() and app.is_running and app.future is not None and not app.future.done():
            app.exit(exception=EOFError())


class _LineReader:
    """Plain lines from a script or a pipe, read in a thread so the end of the session is not stuck behind them."""

    END = object()

    def __init__(self) -> None:
        self.lines: queue.Queue[object] = queue.Queue()

    def run(self, commands: Commands) -> None:
        threading.Thread(target=self._read, name="harness-stdin", daemon=True).start()
        while (line := self.lines.get()) is not self.END:
            if not commands.run(str(line)):
                return

    def close(self) -> None:
        self.lines.put(self.END)

    def _read(self) -> None:
        # os.read, not sys.stdin: a daemon thread blocked inside sys.stdin's buffer holds its lock, and the
        # interpreter would abort at exit trying to take it.
        pending = b""
        while chunk := os.read(sys.stdin.fileno(), 4096):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self.lines.put(line.decode(errors="replace").strip())
        if pending.strip():
            self.lines.put(pending.decode(errors="replace").strip())
        self.lines.put(self.END)  # end of input: detach, as before
