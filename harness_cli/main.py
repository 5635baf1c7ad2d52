"""`harness "build a chat app" --screenshot design.png --interactive`, `harness watch ID`, `status`, `login`."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from harness_cli import config
from harness_cli.client import EXIT_FAILED, EXIT_USAGE, Client, CliError
from harness_cli.display import Renderer, checks_line
from harness_cli.interactive import Commands, interact
from harness_cli.stream import Follower

SUBCOMMANDS = {"watch", "status", "login"}
TERMINAL_OK = "completed"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="Start, watch and steer Harness sessions.")
    parser.add_argument("--url", help="server address (default: $HARNESS_URL, the login file, or localhost:8000)")
    parser.add_argument("--token", help="API token (default: $HARNESS_TOKEN or the login file)")
    parser.add_argument("--json", action="store_true", help="print events as JSON lines")
    return parser


def start_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    parser.add_argument("intent", help='what to build, e.g. "build a chat app"')
    parser.add_argument("--screenshot", action="append", default=[], type=Path, help="a UI screenshot (repeatable)")
    parser.add_argument("--requirement", action="append", default=[], help="a requirement (repeatable)")
    parser.add_argument("--agents", default="", help="comma-separated agent slugs (explicit choice)")
    parser.add_argument("--strategy", choices=["sequential", "parallel", "hybrid"])
    parser.add_argument("--org", help="organisation slug (default: your only one)")
    parser.add_argument("--task-type", help="feature (default), bugfix, refactor, documentation, testing, epic …")
    parser.add_argument("--parent", metavar="EPIC", help="add this session to an epic (dev_…)")
    parser.add_argument("--interactive", "-i", action="store_true", help="type commands while it runs")
    parser.add_argument("--detach", action="store_true", help="print the session and return at once")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        command = next((a for a in argv if not a.startswith("-")), None)
        if command in SUBCOMMANDS:
            argv.remove(command)
            return {"watch": cmd_watch, "status": cmd_status, "login": cmd_login}[command](argv)
        return cmd_start(argv)
    except CliError as exc:
        print(f"harness: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("\nharness: detached; the session goes on", file=sys.stderr)
        return 130


def cmd_start(argv: list[str]) -> int:
    args = start_parser().parse_args(argv)
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


def cmd_watch(argv: list[str]) -> int:
    parser = build_parser()
    parser.add_argument("session", help="the session id (dev_…)")
    parser.add_argument("--after", type=int, default=0, help="replay events after this seq (default: all)")
    parser.add_argument("--interactive", "-i", action="store_true")
    args = parser.parse_args(argv)
    client = _client(args)
    session = client.session(args.session)
    out = Renderer(json_lines=args.json, live_bars=False if args.interactive else None)
    out.plain(f"task {session['id']} ({session['status']}): {session['intent']}")
    out.plain(f"watch it live: {session['web_url']}")
    return _follow(client, session["id"], session["web_url"], out, interactive=args.interactive, after=args.after)


def cmd_status(argv: list[str]) -> int:
    parser = build_parser()
    parser.add_argument("session")
    args = parser.parse_args(argv)
    client = _client(args)
    session = client.session(args.session)
    out = Renderer(json_lines=args.json, live_bars=False)
    if args.json:
        checks = checks_line(session.get("verification"))
        out.event({"type": "cli.status", "seq": None, "actor": {"name": "cli"}, "data": session, "checks": checks})
    else:
        Commands(client, session["id"], session["web_url"], out).cmd_status([])
    return 0 if session["status"] == TERMINAL_OK else EXIT_FAILED


def cmd_login(argv: list[str]) -> int:
    parser = build_parser()
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", help="(prompted when omitted)")
    args = parser.parse_args(argv)
    url = config.load(url=args.url).url
    password = args.password or getpass.getpass(f"password for {args.username} at {url}: ")
    token = Client(url, None).token(args.username, password)
    path = config.save(url, token)
    print(f"logged in to {url} as {args.username}; token saved in {path}")
    return 0


def _client(args: argparse.Namespace) -> Client:
    settings = config.load(url=args.url, token=args.token)
    if not settings.token:
        raise CliError(f"no token for {settings.url}: run `harness login --url {settings.url} --username YOU`", 4)
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
