"""SSE against a live daphne with a real HTTP client, and the harness CLI as a person runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from rest_framework.authtoken.models import Token

from sessions_app.models import DevelopmentSession
from tests.support import wait_for_status

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "harness_cli" / "samples" / "chat_app_design.png"
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def token(user) -> str:  # noqa: ANN001
    return Token.objects.get_or_create(user=user)[0].key


def sse_events(response: httpx.Response) -> list[tuple[str | None, str, str]]:
    """(id, event, data) for each message until `end`."""
    out, current = [], {"id": None, "event": "message", "data": ""}
    for line in response.iter_lines():
        if line == "":
            if current["data"]:
                out.append((current["id"], current["event"], current["data"]))
                if current["event"] == "end":
                    return out
            current = {"id": None, "event": "message", "data": ""}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            current[name] = value
    return out


def cli(*args: str, url: str, key: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "HARNESS_URL": url, "HARNESS_TOKEN": key, "XDG_CONFIG_HOME": "/nonexistent"}
    return subprocess.run(
        [sys.executable, "-m", "harness_cli", *args],
        cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_sse_replays_from_last_event_id_then_ends(live_url, start, cast):
    session = wait_for_status(start(agents=["requirements-analyst"]), "completed", "failed")
    headers = {"Authorization": f"Token {token(cast['lead'])}", "Last-Event-ID": "3"}

    with httpx.stream(
        "GET", f"{live_url}/api/v1/sessions/{session.public_id}/stream/", headers=headers, timeout=30
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r)

    ids = [int(i) for i, kind, _ in events if kind != "end"]
    assert ids == list(range(4, session.last_event_seq + 1))
    assert events[-1][1] == "end" and json.loads(events[-1][2]) == {"status": "completed"}


def test_sse_refuses_strangers(live_url, start, cast):
    session = start(agents=["requirements-analyst"])
    url = f"{live_url}/api/v1/sessions/{session.public_id}/stream/"
    assert httpx.get(url, timeout=10).status_code == 401
    outsider = httpx.get(url, headers={"Authorization": f"Token {token(cast['outsider'])}"}, timeout=10)
    assert outsider.status_code == 404 and "detail" in outsider.json()


def test_the_cli_runs_a_session_to_completion(live_url, cast):
    args = ["build a todo app", "--org", "acme", "--screenshot", str(SAMPLE), "--requirement", "Tasks have due dates"]
    result = cli(*args, url=live_url, key=token(cast["member"]))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "watch it live: http" in result.stdout and "/development/dev_" in result.stdout
    assert "session completed" in result.stdout and "[offline]" in result.stdout
    session_id = result.stdout.split("task ", 1)[1].split(":", 1)[0]
    assert DevelopmentSession.objects.get(public_id=session_id).status == "completed"


def test_the_cli_runs_an_epic_and_shows_its_children(live_url, cast):
    args = ["build a team chat product", "--org", "acme", "--task-type", "epic", "--requirement", "Users can chat"]
    result = cli(*args, url=live_url, key=token(cast["member"]), timeout=180)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "epic broken down into 3 child sessions: foundation, part-1-users-can-chat, integration" in result.stdout
    assert "child integration (dev_" in result.stdout and "→ completed" in result.stdout
    bad = cli("x", "--org", "acme", "--task-type", "saga", url=live_url, key=token(cast["member"]))
    assert bad.returncode == 1 and "task_type" in bad.stderr and "\n" not in bad.stderr.strip()


def test_an_interactive_run_then_watch_replays(live_url, cast, settings):
    settings.HARNESS_OFFLINE_STEP_SECONDS = 0.4  # slow enough to steer while it runs
    commands = "status\npause\nresume\nfeedback please add input validation\nquit\n"

    first = cli(
        "build a notes app", "--org", "acme", "--interactive", url=live_url, key=token(cast["member"]), stdin=commands
    )

    assert first.returncode == 0, first.stdout + first.stderr
    assert "pause sent" in first.stdout and "resume sent" in first.stdout and "feedback sent" in first.stdout
    assert "detached" in first.stdout
    session_id = first.stdout.split("task ", 1)[1].split(":", 1)[0]
    session = wait_for_status(DevelopmentSession.objects.get(public_id=session_id), "completed", "failed", timeout=120)
    assert session.status == "completed"

    second = cli("watch", session_id, "--json", url=live_url, key=token(cast["member"]))

    assert second.returncode == 0, second.stderr
    events = [json.loads(line) for line in second.stdout.splitlines() if line.startswith("{")]
    seqs = [e["seq"] for e in events if e.get("seq")]
    assert seqs == list(range(1, session.last_event_seq + 1))
    types = [e["type"] for e in events]
    assert "session.paused" in types and "session.resumed" in types and "feedback.submitted" in types


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["status", "dev_doesnotexist"], "not found", 5),
        (["build x", "--org", "acme", "--screenshot", str(ROOT / "README.md")], "415", 1),
        (["build x", "--org", "acme", "--screenshot", "/nonexistent.png"], "no such file", 2),
    ],
)
def test_the_cli_fails_with_one_clear_line(live_url, cast, args, message, code):
    result = cli(*args, url=live_url, key=token(cast["member"]))
    assert result.returncode == code, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_cli_says_when_the_server_is_down_or_the_token_is_bad(live_url, cast):
    down = cli("status", "dev_x", url="http://127.0.0.1:9", key="x")
    bad = cli("status", "dev_x", url=live_url, key="not-a-token")
    assert down.returncode == 3 and "is the Harness server running" in down.stderr
    assert bad.returncode == 4 and "harness login" in bad.stderr
