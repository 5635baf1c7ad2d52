"""`harness` as a person types it: every command in --help, global options either side of the command, and
a bare word that names (or nearly names) a command never starts a session — which may cost real money.

The CLI talks HTTP to the real Django application in this process (httpx's WSGI transport), on the test
database, so "no session started" is read from the database, not inferred from the parser."""

from __future__ import annotations

import builtins
import json
import sys

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from rest_framework.authtoken.models import Token

from agents_app import planning
from harness_cli import main as cli
from harness_cli.client import Client
from harness_cli.command_words import COMMANDS, near_miss
from sessions_app.models import DevelopmentSession

URL = "http://testserver"
FIVE = ["requirements-analyst", "architect", "backend", "test-engineer", "docs-writer"]


@pytest.fixture
def server(cast, monkeypatch, tmp_path):  # noqa: ANN001, ANN201
    """The CLI's HTTP goes to this process's Django; no login file, no HARNESS_URL/HARNESS_TOKEN."""

    class InProcessClient(Client):
        def __init__(self, url: str, token: str | None, **kwargs) -> None:  # noqa: ANN003
            assert url == URL, f"the CLI went to {url}"
            super().__init__(url, token, transport=httpx.WSGITransport(app=WSGIHandler()))

    monkeypatch.setattr(cli, "Client", InProcessClient)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("HARNESS_URL", raising=False)
    monkeypatch.delenv("HARNESS_TOKEN", raising=False)
    # As Django's test client does: a request must not close the connection holding the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield Token.objects.get_or_create(user=cast["member"])[0].key
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def run(argv: list[str]) -> int:
    """main()'s exit code, whether it returns one or argparse exits."""
    try:
        return cli.main(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1


@pytest.fixture
def five_agents(start):  # noqa: ANN001, ANN201
    """A planned session of five agents (planned here, in this process: nothing is sent to a worker)."""
    session = start(agents=FIVE, execution_strategy="sequential")
    assert planning.plan_session(session.pk) == "planned"
    return session


@pytest.mark.parametrize("command", COMMANDS)
def test_it_lists_every_command_in_help(capsys, command):
    assert run(["--help"]) == 0
    top = capsys.readouterr().out
    assert run(["help"]) == 0
    assert capsys.readouterr().out == top
    listed = [line.split()[0] for line in top.split("commands:", 1)[1].splitlines() if line.startswith("  ")]
    assert command in listed, top
    for option in ("--url", "--token", "--org", "--json"):
        assert option in top


@pytest.mark.parametrize("command", COMMANDS)
def test_it_describes_each_command_with_the_global_options(capsys, command):
    assert run([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: harness {command}")
    assert all(option in text for option in ("--url", "--token", "--org", "--json"))


def test_logs_of_an_unknown_session_is_not_found_rather_than_starting_a_session(server, capsys):
    assert run(["logs", "dev_x", "--url", URL, "--token", server]) == 5
    assert "not found" in capsys.readouterr().err
    assert not DevelopmentSession.objects.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["list"],
        ["status"],
        ["watch"],
        ["open"],
        ["login"],
        ["logs"],
        ["start"],
        ["help"],
        ["stauts"],
        ["lsit"],
        ["wach"],
        ["Status"],
        ["LIST"],
        ["opne"],
        ["lgoin"],
        ["stat"],
        ["ls"],
        ["wach", "dev_x"],
        ["--org", "acme", "stauts"],
        ["stauts", "--org", "acme", "--detach"],
    ],
)
def test_a_bare_word_that_names_or_nearly_names_a_command_never_starts_a_session(server, capsys, argv):
    argv = [*argv, "--url", URL, "--token", server] if argv[0] not in ("login", "help") else argv

    code = run(argv)

    assert not DevelopmentSession.objects.exists(), (argv, code)
    err = capsys.readouterr().err
    assert code == 0 if argv[0] in ("list", "help") else code == 2
    if argv[:2] == ["wach", "dev_x"]:
        assert "did you mean `harness watch dev_x`?" in err
    if "stauts" in argv:
        assert "did you mean status?" in err and 'harness start "stauts"' in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["start", "stauts"],  # the explicit form: the person said so
        ["build a chat app"],  # several words: an intent, as always
        ["refactor"],  # one word that is no command
        ["--org", "acme", "status page for the shop"],
    ],
)
def test_an_intent_still_starts_a_session(server, capsys, argv):
    code = run([*argv, "--org", "acme", "--detach", "--url", URL, "--token", server])

    assert code == 0, capsys.readouterr().err
    (session,) = DevelopmentSession.objects.all()
    assert session.intent == argv[-1]
    assert f"task {session.public_id}: {session.intent}" in capsys.readouterr().out


@pytest.mark.parametrize(("answer", "started"), [("y", True), ("yes", True), ("n", False), ("", False)])
def test_it_asks_before_a_near_miss_starts_a_session_at_a_terminal(server, capsys, monkeypatch, answer, started):
    asked: list[str] = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(builtins, "input", lambda prompt: asked.append(prompt) or answer)

    code = run(["stauts", "--org", "acme", "--detach", "--url", URL, "--token", server])

    assert asked == ['"stauts" looks like `harness status`. Start a session with the intent "stauts"? [y/N] ']
    assert DevelopmentSession.objects.filter(intent="stauts").exists() is started
    assert code == (0 if started else 2)


@pytest.mark.parametrize(
    ("word", "command"),
    [("stauts", "status"), ("lsit", "list"), ("statsu", "status"), ("wtach", "watch"), ("opne", "open"),
     ("logn", "login"), ("strat", "start"), ("sttaus", "status"), ("chat", None), ("todo", None), ("docs", None),
     ("test", None), ("refactor", None), ("a chat app", None), ("listen", None)],
)  # fmt: skip
def test_it_tells_a_near_miss_from_an_intent(word, command):
    assert near_miss(word) == command


@pytest.mark.parametrize(
    "argv",
    [
        ["--url", URL, "--token", "{key}", "status", "{id}"],
        ["status", "{id}", "--url", URL, "--token", "{key}"],
        ["--url", URL, "status", "--token", "{key}", "{id}"],
        ["--url=" + URL, "--token={key}", "status", "{id}"],
        ["--org", "acme", "--url", URL, "--token", "{key}", "status", "{id}"],
    ],
)
def test_global_options_work_before_or_after_the_command(server, capsys, five_agents, argv):
    argv = [a.format(key=server, id=five_agents.public_id) for a in argv]

    assert run(argv) == 1  # running, not completed
    out = capsys.readouterr().out
    assert out.startswith(f"{five_agents.public_id} running · phase analysis · 5 agents: "), out


def test_without_the_options_it_has_no_token(server, capsys, five_agents):
    assert run(["status", five_agents.public_id]) == 4
    assert "harness login" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["before", "after"])
def test_json_works_before_or_after_and_counts_the_runs(server, capsys, five_agents, where):
    rest = ["status", five_agents.public_id, "--url", URL, "--token", server]
    argv = ["--json", *rest] if where == "before" else [*rest, "--json"]

    run(argv)

    printed = json.loads(capsys.readouterr().out)
    assert printed["type"] == "cli.status"
    assert len(printed["data"]["runs"]) == 5
    assert printed["data"]["run_count"] == 5  # was 0: the detail never counted them


def test_status_says_what_the_server_says(server, capsys, five_agents):
    run(["status", five_agents.public_id, "--url", URL, "--token", server])

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{five_agents.public_id} running · phase analysis · 5 agents: 4 pending, 1 queued"
    rows = {line.split()[0]: line.split()[1] for line in lines if line.startswith("  ")}
    assert rows == {"requirements-analyst": "queued", "architect": "pending", "backend": "pending",
                    "test-engineer": "pending", "docs-writer": "pending"}  # fmt: skip


def test_status_of_a_session_being_planned_says_no_agent_started(server, capsys, start):
    session = start()

    run(["status", session.public_id, "--url", URL, "--token", server])

    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"{session.public_id} created · choosing agents (none has started yet)"


@pytest.mark.parametrize("where", ["before", "after"])
def test_list_shows_the_sessions_with_their_agents_and_takes_org_either_side(server, capsys, five_agents, where):
    rest = ["list", "--url", URL, "--token", server]
    argv = ["--org", "acme", *rest] if where == "before" else [*rest, "--org", "acme"]

    assert run(argv) == 0

    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{five_agents.public_id}  running") and " 5 agents " in line
    assert run([*rest, "--org", "globex"]) == 0
    assert capsys.readouterr().out.strip() == "no sessions"
    assert not DevelopmentSession.objects.exclude(pk=five_agents.pk).exists()


def test_open_prints_and_opens_the_web_page_of_a_session_it_may_see(server, capsys, monkeypatch, five_agents):
    opened: list[str] = []
    monkeypatch.setattr(cli.webbrowser, "open", opened.append)  # no browser in a test run

    assert run(["open", five_agents.public_id, "--url", URL, "--token", server]) == 0
    assert run(["open", "dev_nosuchsession", "--url", URL, "--token", server]) == 5

    assert opened == [f"{URL}/development/{five_agents.public_id}/"]
    assert capsys.readouterr().out.strip() == opened[0]
