"""`harness logs ID [--agent SLUG] [--json]` against a real daphne and worker: each agent's transcript after a
real (offline) session — the briefing summarised, the tool calls, a write's diff, tokens per step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from agents_app.models import AgentRun, AgentStep
from harness_cli.client import Client
from harness_cli.logs import steps_of
from tests.support import wait_for_status

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
AGENTS = ["requirements-analyst", "backend"]


def harness(url: str, key: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HARNESS_URL": url, "HARNESS_TOKEN": key, "XDG_CONFIG_HOME": "/nonexistent"}
    return subprocess.run(
        [sys.executable, "-m", "harness_cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def done(live_url, start, cast):  # noqa: ANN001, ANN201
    session = start(agents=AGENTS, execution_strategy="sequential")
    session = wait_for_status(session, "completed", "failed", timeout=120)
    assert session.status == "completed", session.completion_summary
    return live_url, Token.objects.get_or_create(user=cast["member"])[0].key, session


def test_harness_logs_prints_each_agents_transcript(done):
    url, key, session = done

    result = harness(url, key, "logs", session.public_id)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    runs = {r.agent.slug: r for r in AgentRun.objects.filter(session=session).select_related("agent")}
    assert out.index(f"== requirements-analyst ({runs['requirements-analyst'].public_id})") < out.index("== backend (")
    assert out.count("step 0 · briefing") == 2 and "  intent: build a chat app" in out
    assert "→ write_file(path=" in out and "      +++ b/" in out, f"a write shows its diff:\n{out}"
    assert "→ finish(summary=" in out
    last = runs["backend"].step
    assert f"step {last} · offline · " in out and " tokens (input " in out


def test_harness_logs_for_one_agent_and_as_json(done):
    url, key, session = done
    backend = AgentRun.objects.get(session=session, agent__slug="backend")

    text = harness(url, key, "logs", session.public_id, "--agent", "backend")
    as_json = harness(url, key, "--json", "logs", session.public_id, "--agent", "backend")
    unknown = harness(url, key, "logs", session.public_id, "--agent", "no-such-agent")

    assert text.returncode == 0 and "== backend" in text.stdout and "requirements-analyst (" not in text.stdout
    steps = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert as_json.returncode == 0 and [s["number"] for s in steps] == list(range(backend.step + 1))
    assert {(s["run"], s["agent"]) for s in steps} == {(backend.public_id, "backend")}
    stored = AgentStep.objects.get(run=backend, number=1)
    assert steps[1]["usage"]["tokens"] == stored.tokens and steps[1]["usage"]["input_tokens"] == stored.input_tokens
    assert unknown.returncode == 5 and "no agent 'no-such-agent'" in unknown.stderr and "backend" in unknown.stderr


def test_it_follows_the_cursor_pages_of_a_live_server(done):
    url, key, session = done
    run = AgentRun.objects.get(session=session, agent__slug="backend")

    numbers = [s["number"] for s in steps_of(Client(url, key), session.public_id, run.public_id, page_size=2)]

    assert numbers == list(range(run.step + 1)) and len(numbers) > 2
