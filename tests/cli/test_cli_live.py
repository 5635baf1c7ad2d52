"""The CLI against a real daphne and worker, as a person runs it: in a terminal (a pty), `--interactive`
ends by itself when the session does, with the final line and the exit code; `status` while agents run."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from agents_app.models import AgentRun, RunStatus
from sessions_app.models import DevelopmentSession
from tests.support import wait_for, wait_for_status

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def environment(url: str, key: str) -> dict[str, str]:
    return {
        **os.environ, "HARNESS_URL": url, "HARNESS_TOKEN": key, "XDG_CONFIG_HOME": "/nonexistent",
        "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1",
    }  # fmt: skip


class Terminal:
    """`harness …` with a pty for stdin, stdout and stderr: prompt_toolkit's real prompt, as at a keyboard."""

    def __init__(self, args: list[str], url: str, key: str) -> None:
        master, child = pty.openpty()
        self.master, self.output = master, b""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "harness_cli", *args],
            cwd=ROOT, env=environment(url, key), stdin=child, stdout=child, stderr=child, start_new_session=True,
        )  # fmt: skip
        os.close(child)

    def read_until(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output:
            if not self._read(deadline - time.monotonic()):
                raise AssertionError(f"no {text!r} within {timeout} s:\n{self.text}")

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def wait(self, timeout: float) -> int:
        """Read until the CLI exits by itself; it is killed (and the test fails) after `timeout`."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None or self._read(0.2):
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"harness still running after {timeout} s:\n{self.text}")
            self._read(0.2)
        os.close(self.master)
        return self.process.returncode

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0))
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed its side
            return False
        self.output += chunk
        return bool(chunk)

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")


def token(user) -> str:  # noqa: ANN001
    return Token.objects.get_or_create(user=user)[0].key


def session_id(text: str) -> str:
    return text.split("task ", 1)[1].split(":", 1)[0]


def test_interactive_ends_by_itself_when_the_session_completes(live_url, cast):
    terminal = Terminal(["build a notes app", "--org", "acme", "--interactive"], live_url, token(cast["member"]))

    code = terminal.wait(timeout=120)  # nobody presses Enter

    assert code == 0, terminal.text
    sid = session_id(terminal.text)
    assert f"session {sid} completed — http" in terminal.text
    assert DevelopmentSession.objects.get(public_id=sid).status == "completed"


def test_interactive_ends_with_a_failing_code_when_the_session_is_cancelled(live_url, cast, settings):
    settings.HARNESS_OFFLINE_STEP_SECONDS = 0.4  # time to type while it runs
    terminal = Terminal(["build a notes app", "--org", "acme", "-i"], live_url, token(cast["member"]))
    terminal.read_until("harness>", timeout=30)

    terminal.type("cancel")
    code = terminal.wait(timeout=60)

    assert code == 1, terminal.text
    sid = session_id(terminal.text)
    assert "cancel sent to the session" in terminal.text and f"session {sid} cancelled — http" in terminal.text
    assert DevelopmentSession.objects.get(public_id=sid).status == "cancelled"


def test_interactive_from_a_pipe_that_stays_open_ends_with_the_session(live_url, cast, tmp_path):
    """A script that keeps stdin open and types nothing: the CLI used to wait for its next line forever."""
    log = tmp_path / "out.txt"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "harness_cli", "build a notes app", "--org", "acme", "-i"],
            cwd=ROOT, env=environment(live_url, token(cast["member"])), stdin=subprocess.PIPE, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            code = process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"harness -i still waiting for input 120 s later:\n{log.read_text()}") from None
        finally:
            process.stdin.close()

    text = log.read_text()
    assert code == 0, text
    assert f"session {session_id(text)} completed — http" in text


def test_status_while_agents_run_says_running_and_counts_them(live_url, cast, start, settings):
    settings.HARNESS_OFFLINE_STEP_SECONDS = 0.4
    agents = ["requirements-analyst", "architect", "backend", "test-engineer", "docs-writer"]
    session = start(agents=agents, execution_strategy="sequential")
    wait_for(lambda: AgentRun.objects.filter(session=session, status=RunStatus.RUNNING).exists(), timeout=60)
    env = environment(live_url, token(cast["member"]))

    text = subprocess.run(
        [sys.executable, "-m", "harness_cli", "status", session.public_id], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=60,
    ).stdout  # fmt: skip
    as_json = subprocess.run(
        [sys.executable, "-m", "harness_cli", "--json", "status", session.public_id], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip

    first = text.splitlines()[0]
    assert first.startswith(f"{session.public_id} running · phase ") and "· 5 agents: " in first, text
    assert "phase -" not in first and "running" in first.split("agents: ", 1)[1], text
    printed = json.loads(as_json)["data"]
    assert printed["status"] == "running" and printed["run_count"] == 5 == len(printed["runs"])
    wait_for_status(session, "completed", "failed", timeout=120)
