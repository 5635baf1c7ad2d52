"""`harness -i` shows the session's thread as it happens and lets the person answer an agent's question:
the agent waits, the answer resumes it, the session completes."""

from __future__ import annotations

import re

import pytest

from sessions_app.models import ConversationMessage, DevelopmentSession
from tests.cli.test_cli_live import Terminal, session_id, token

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_person_answers_the_agents_question_from_the_terminal(live_url, cast):
    args = [
        "build a notes app", "--org", "acme", "--agents", "requirements-analyst",
        "--requirement", "ask: Which port should the API listen on?", "--interactive",
    ]  # fmt: skip
    terminal = Terminal(args, live_url, token(cast["lead"]))
    terminal.read_until("— answer msg_", timeout=90)
    asked = re.search(r"Requirements analyst asks \((msg_[0-9a-z]+)\): Which port should the API listen on\?",
                      terminal.text)  # fmt: skip
    assert asked, terminal.text
    terminal.read_until("harness>", timeout=30)

    terminal.type(f"answer {asked.group(1)} 8080 please")
    code = terminal.wait(timeout=120)

    assert code == 0, terminal.text
    assert f"answered {asked.group(1)} (msg_" in terminal.text
    assert f"lead answered {asked.group(1)}: 8080 please" in terminal.text  # the thread line, live
    answer = ConversationMessage.objects.get(kind="answer", reply_to__public_id=asked.group(1))
    assert answer.author_user == cast["lead"] and answer.text == "8080 please"
    assert DevelopmentSession.objects.get(public_id=session_id(terminal.text)).status == "completed"
