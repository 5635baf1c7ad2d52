"""`harness "build a chat app" --screenshot design.png --interactive`, `harness start|watch|status|list|open|login`."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import webbrowser
from pathlib import Path

from harness_cli import config, logs
from harness_cli.client import EXIT_AUTH, EXIT_FAILED, EXIT_USAGE, Client, CliError
from harness_cli.command_words import near_miss, split_command
from harness_cli.display import Renderer, checks_line
from harness_cli.interactive import Commands, interact
from harness_cli.stream import Follower

TERMINAL_OK = "completed"
USAGE = """harness [options] "intent" [start options]   (the same as: harness start "intent" …)
       harness [options] COMMAND [arguments]"""
COMMAND_HELP = """commands:
  start "intent" …       start a session and follow it (a bare word that names a command never starts one)
  watch ID               re-attach: replay what was missed, then follow live
  status ID              where the session and each of its agents are
  list                   your sessions, newest first (--status, --limit)
  open ID                open the session's web page in the browser
  login                  save a token: harness login --url URL --username U
  logs ID                each agent's transcript: briefing, messages, tool calls, diffs, tokens (--agent SLUG)

The options --url, --token, --org and --json work before or after the command.
`harness COMMAND --help` describes one command. Exit codes: 0 the session completed (or the command
succeeded), 1 failed/cancelled or refused, 2 usage, 3 server unreachable, 4 not logged in, bad token or
access withdrawn, 5 not found."""


def global_options() -> argparse.ArgumentParser:
    """The options every command takes, before or after the command word."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--url", help="server address (default: $HARNESS_URL, the login file, or localhost:8000)")
    parser.add_argument("--token", help="API token (default: $HARNESS_TOKEN or the login file)")
    parser.add_argument("--org", help="organisation slug (default: your only one)")
    parser.add_argument("--json", action="store_true", help="print JSON (events as JSON lines)")
    return parser


def build_parser() -> argparse.ArgumentParser:
    """`harness --help`: every command and the global options."""
    return argparse.ArgumentParser(
        prog="harness",
        usage=USAGE,
        description="Start, watch and steer Harness sessions.",
        epilog=COMMAND_HELP,
        parents=[global_options()],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def command_parser(name: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=f"harness {name}", description=description, parents=[global_options()])


def start_parser() -> argparse.ArgumentParser:
    parser = command_parser("start", "Start a session and follow its progress.")
    parser.add_argument("intent", help='what to build, e.g. "build a chat app"')
    parser.add_argument("--screenshot", action="append", default=[], type=Path, help="a UI screenshot (repeatable)")
    parser.add_argument("--requirement", action="append", default=[], help="a requirement (repeatable)")
    parser.add_argument("--agents", default="", help="comma-separated agent slugs (explicit choice)")
    parser.add_argument("--strategy", choices=["sequential", "parallel", "hybrid"])
    parser.add_argument("--task-type", help="feature (default), bugfix, refactor, documentation, testing, epic …")
    parser.add_argument("--parent", metavar="EPIC", help="add this session to an epic (dev_…)")
    parser.add_argument("--interactive", "-i", action="store_true", help="type commands while it runs")
    parser.add_argument("--detach", action="store_true", help="print the session and return at once")
    return parser


def watch_parser() -> argparse.ArgumentParser:
    parser = session_parser("watch", "Re-attach to a session: replay what was missed, then follow it live.")
    parser.add_argument("--after", type=int, default=0, help="replay events after this seq (default: all)")
    parser.add_argument("--interactive", "-i", action="store_true", help="type commands while it runs")
    return parser


def session_parser(name: str, description: str) -> argparse.ArgumentParser:
    """A command about one session, named by its id."""
    parser = command_parser(name, description)
    parser.add_argument("session", help="the session id (dev_…)")
    return parser


def status_parser() -> argparse.ArgumentParser:
    return session_parser("status", "Where the session and each of its agents are.")


def list_parser() -> argparse.ArgumentParser:
    parser = command_parser("list", "Your sessions, newest first.")
    parser.add_argument("--status", help="only these statuses, comma-separated (running,failed …)")
    parser.add_argument("--limit", type=int, default=20, help="at most this many (1-200, default 20)")
    return parser


def open_parser() -> argparse.ArgumentParser:
    return session_parser("open", "Open the session's web page in the browser.")


def login_parser() -> argparse.ArgumentParser:
    parser = command_parser("login", "Exchange a username and password for a token, saved for later commands.")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", help="(prompted when omitted)")
    return parser


def logs_parser() -> argparse.ArgumentParser:
    parser = session_parser("logs", "Each agent's transcript, step by step (--json: one JSON line per step).")
    parser.add_argument("--agent", metavar="SLUG", help="only this agent's transcript")
    return parser


PARSERS = {
    "start": start_parser,
    "watch": watch_parser,
    "status": status_parser,
    "list": list_parser,
    "open": open_parser,
    "login": login_parser,
    "logs": logs_parser,
}


def value_options() -> set[str]:
    """Every option that takes a value, so `--url X status ID` finds `status`, not `X`."""
    return {
        option
        for make in PARSERS.values()
        for action in make()._actions
        if action.nargs != 0
        for option in action.option_strings
    }


def parse(argv: list[str]) -> tuple[str, argparse.Namespace]:
    """The command and its arguments; raises SystemExit for help and usage errors (argparse's way)."""
    word, rest = split_command(argv, value_options())
    if word is None:
        build_parser().parse_args(rest)  # --help prints every command and exits; anything else is usage
        build_parser().error('say what to build (harness "build a chat app") or give a command')
    if word == "help":
        if rest and rest[0] in PARSERS:
            PARSERS[rest[0]]().parse_args(["--help"])
        build_parser().parse_args(["--help"])
    if word in PARSERS:
        args = PARSERS[word]().parse_args(rest)
        args.implicit = False
        return word, args
    command, extra = near_miss(word), split_command(rest, value_options())[0]
    if command in PARSERS and extra is not None:  # `harness wach dev_…`: a mistyped command with its argument
        build_parser().error(f"{word!r} is not a command; did you mean `harness {command} {extra}`?")
    args = start_parser().parse_args(argv)
    args.implicit = True  # `harness "intent"`: a single word close to a command is confirmed first
    return "start", args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        command, args = parse(argv)
        if args.implicit:
            _confirm_bare_word(args.intent)
        return HANDLERS[command](args)
    except CliError as exc:
        print(f"harness: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("\nharness: detached; the session goes on", file=sys.stderr)
        return 130


def _confirm_bare_word(intent: str) -> None:
    """A single word close to a command is probably a typo; starting a session with it may cost money."""
    command = near_miss(intent)
    if command is None:
        return
    explicit = f'use `harness start "{intent}"` to start a session with that intent'
    if not sys.stdin.isatty():
        raise CliError(f"{intent!r} is not a command; did you mean {command}? {explicit}", EXIT_USAGE)
    try:
        answer = input(f'"{intent}" looks like `harness {command}`. Start a session with the intent "{intent}"? [y/N] ')
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise CliError(f"nothing started; did you mean `harness {command}`? ({explicit})", EXIT_USAGE)


def cmd_start(args: argparse.Namespace) -> int:
    client = _client(args)
    org = args.org or _only_organization(client)
    for path in args.screenshot:
        if not path.is_file():
            raise CliError(f"{path}: no such file", EXIT_USAGE)
    session = client.create_session(
        organization=org,
        intent=args.intent,
        requirements=args.requirement,
        screenshots=args.screenshot,
        agents=[a.strip() for a in args.agents.split(",") if a.strip()],
        strategy=args.strategy,
        task_type=args.task_type,
        parent=args.parent,
    )
    out = Renderer(json_lines=args.json, live_bars=False if args.interactive else None)
    out.plain(f"task {session['id']}: {session['intent']}")
    out.plain(f"watch it live: {session['web_url']}")
    if args.detach:
        return 0
    return _follow(client, session["id"], session["web_url"], out, interactive=args.interactive, after=0)


def cmd_watch(args: argparse.Namespace) -> int:
    client = _client(args)
    session = client.session(args.session)
    out = Renderer(json_lines=args.json, live_bars=False if args.interactive else None)
    out.plain(f"task {session['id']} ({session['status']}): {session['intent']}")
    out.plain(f"watch it live: {session['web_url']}")
    return _follow(client, session["id"], session["web_url"], out, interactive=args.interactive, after=args.after)


def cmd_status(args: argparse.Namespace) -> int:
    client = _client(args)
    session = client.session(args.session)
    out = Renderer(json_lines=args.json, live_bars=False)
    if args.json:
        checks = checks_line(session.get("verification"))
        out.event({"type": "cli.status", "seq": None, "actor": {"name": "cli"}, "data": session, "checks": checks})
    else:
        Commands(client, session["id"], session["web_url"], out).cmd_status([])
    return 0 if session["status"] == TERMINAL_OK else EXIT_FAILED


def cmd_list(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 200:
        raise CliError("--limit must be from 1 to 200", EXIT_USAGE)
    client = _client(args)
    params = {"page_size": args.limit, "organization": args.org, "status": args.status}
    sessions = client.sessions({name: value for name, value in params.items() if value})["results"]
    for session in sessions:
        if args.json:
            print(json.dumps(session))
            continue
        phase = session["current_phase"] or "-"
        agents = f"{session['run_count']} agent{'s' if session['run_count'] != 1 else ''}"
        print(f"{session['id']}  {session['status']:<9} {phase:<13} {agents:<9} {session['created_by']:<12} "
              f"{session['intent'][:60]}")  # fmt: skip
    if not sessions and not args.json:
        print("no sessions" + (f" with status {args.status}" if args.status else ""))
    return 0


def cmd_open(args: argparse.Namespace) -> int:
    session = _client(args).session(args.session)
    print(session["web_url"])
    webbrowser.open(session["web_url"])
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    return logs.logs(_client(args), args.session, agent=args.agent, as_json=args.json, out=print)


def cmd_login(args: argparse.Namespace) -> int:
    url = config.load(url=args.url).url
    password = args.password or getpass.getpass(f"password for {args.username} at {url}: ")
    token = Client(url, None).token(args.username, password)
    path = config.save(url, token)
    print(f"logged in to {url} as {args.username}; token saved in {path}")
    return 0


HANDLERS = {
    "start": cmd_start,
    "watch": cmd_watch,
    "status": cmd_status,
    "list": cmd_list,
    "open": cmd_open,
    "logs": cmd_logs,
    "login": cmd_login,
}


def _client(args: argparse.Namespace) -> Client:
    settings = config.load(url=args.url, token=args.token)
    if not settings.token:
        login = f"harness login --url {settings.url} --username YOU"
        raise CliError(f"no token for {settings.url}: run `{login}`", EXIT_AUTH)
    return Client(settings.url, settings.token)


def _only_organization(client: Client) -> str:
    organizations = client.organizations()
    if len(organizations) == 1:
        return organizations[0]["slug"]
    names = ", ".join(o["slug"] for o in organizations) or "none"
    raise CliError(f"you belong to several organisations ({names}); choose one with --org", EXIT_USAGE)


def _follow(client: Client, session_id: str, web_url: str, out: Renderer, *, interactive: bool, after: int) -> int:
    follower = Follower(client, session_id, on_event=out.event, on_state=out.state, last_seq=after)
    try:
        if interactive:
            status = interact(Commands(client, session_id, web_url, out), follower.run, follower.stop)
            if status is None:
                out.close()
                out.plain(f"detached at event {follower.last_seq}; re-attach with: harness watch {session_id}")
                return 0
        else:
            status = follower.run()
    finally:
        out.close()
    out.plain(f"session {session_id} {status} — {web_url}")
    return 0 if status == TERMINAL_OK else EXIT_FAILED
