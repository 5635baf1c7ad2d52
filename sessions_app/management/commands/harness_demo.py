"""`make demo`: the embedded mode end to end — server, demo cast, one session through the CLI."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from sessions_app.services.demo import demo_seed

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1

DEMO_PASSWORD = "harness-demo"  # noqa: S105 - printed for the demo users, embedded mode only
SAMPLE = Path(settings.BASE_DIR) / "harness_cli" / "samples" / "chat_app_design.png"


class Command(BaseCommand):
    help = "Run the embedded demo: migrate, seed, serve on 127.0.0.1, start one session through the CLI."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--once", action="store_true", help="exit after the demo session ends")
        parser.add_argument("--intent", default="build a chat app")

    def handle(self, *args, port: int, once: bool, intent: str, **options) -> None:  # noqa: ANN002, ANN003
        stopped_by = _stop_on_signals()
        base = f"http://127.0.0.1:{port}"
        server = cli_process = None
        try:
            call_command("migrate", verbosity=0, interactive=False)
            demo_seed(password=DEMO_PASSWORD)
            self.stdout.write(
                self.style.SUCCESS("Harness demo — embedded mode (SQLite, in-process worker, offline LLM)")
            )
            server = self._serve(port)
            self._wait_healthy(base, server)
            self.stdout.write(f"Log in at {base}/accounts/login/ as member, lead or admin — password {DEMO_PASSWORD}")
            self.stdout.write(f"Governance console: {base}/admin/ (as admin) · API docs: {base}/api/docs/\n")
            token = self._token(base, "member")
            self._build_history(base, token, self._token(base, "lead"))
            self.stdout.write(f"Team analytics: {base}/analytics/ · knowledge base: {base}/knowledge/\n")
            cli = [sys.executable, "-m", "harness_cli", "start", intent, "--org", "acme", "--screenshot", str(SAMPLE)]
            cli += ["--requirement", "Messages appear live for everyone in a channel"]
            env = {**os.environ, "HARNESS_URL": base, "HARNESS_TOKEN": token}
            cli_process = subprocess.Popen(cli, env=env, preexec_fn=_die_with(os.getpid()))  # noqa: PLW1509
            code = cli_process.wait()
            if once:
                if code != 0:
                    raise CommandError(f"the demo session did not complete (CLI exit code {code})")
                return
            self.stdout.write(f"\nStill serving on {base} — Ctrl-C to stop.")
            server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            for signum in STOP_SIGNALS:  # a second Ctrl-C must not cut the cleanup short
                signal.signal(signum, signal.SIG_IGN)
            _stop(cli_process, group=False)
            _stop(server, group=True)
        if stopped_by and stopped_by[0] != signal.SIGINT:  # Ctrl-C is the usual way out: exit 0, as before
            raise SystemExit(128 + stopped_by[0])

    def _serve(self, port: int) -> subprocess.Popen:
        """runserver in its own process group (stopped as a whole), dying with this process if it is killed."""
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env.setdefault("HARNESS_OFFLINE_STEP_SECONDS", "0.3")  # lets a person watch the agents move
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        return subprocess.Popen(
            [sys.executable, manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env,
            start_new_session=True,
            preexec_fn=_die_with(os.getpid()),  # noqa: PLW1509 - only prctl, before exec
        )

    def _wait_healthy(self, base: str, server: subprocess.Popen) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise CommandError(f"the server exited ({server.returncode}); is port {base[-4:]} in use?")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise CommandError("the server did not become healthy within 60 s")

    def _token(self, base: str, username: str) -> str:
        credentials = {"username": username, "password": DEMO_PASSWORD}
        return _call(base, None, "POST", "/api/v1/auth/token/", credentials)["token"]

    def _build_history(self, base: str, member_token: str, lead_token: str) -> None:
        """A knowledge note and a few small real sessions, so /analytics/ has a history to chart.

        Skipped when the organisation already has one (a second `make demo` on the same database).
        """
        conventions = _call(base, member_token, "GET", "/api/v1/knowledge/?organization=acme&q=conventions")
        if not any(hit["title"] == CONVENTIONS["title"] for hit in conventions["results"]):
            _call(base, lead_token, "POST", "/api/v1/knowledge/", {"organization": "acme", **CONVENTIONS})
        completed = _call(base, member_token, "GET", "/api/v1/sessions/?organization=acme&status=completed")
        if len(completed["results"]) >= len(WARM_UP):
            return
        self.stdout.write(f"Building a little team history: {len(WARM_UP)} small sessions on the offline provider …")
        deadline = time.monotonic() + 300
        # One after another: sessions of one organisation writing the same paths at once would
        # (rightly) raise cross-session conflicts for a lead to decide.
        for index, spec in enumerate(WARM_UP):
            token = lead_token if index % 2 else member_token
            session = _call(base, token, "POST", "/api/v1/sessions/", {"organization": "acme", **spec})
            while (detail := _call(base, token, "GET", f"/api/v1/sessions/{session['id']}/"))["status"] not in TERMINAL:
                if time.monotonic() > deadline:
                    raise CommandError(f"warm-up session {session['id']} did not finish within 5 minutes")
                time.sleep(0.3)
            self.stdout.write(f"  {detail['status']:<9} {detail['task_type']:<13} {detail['intent']}")


TERMINAL = {"completed", "failed", "cancelled"}
CONVENTIONS = {
    "title": "Chat conventions",
    "body": (
        "# Chat conventions\n\n"
        "- Messages are ordered by a per-channel sequence number, never by client clocks.\n"
        "- Every message endpoint checks channel membership before reading or writing.\n"
        "- Realtime delivery goes through websockets; clients replay what they missed after a reconnect.\n"
    ),
    "tags": ["chat", "realtime", "conventions"],
}
BACKEND_AND_TESTS = ["backend", "test-engineer"]
WARM_UP = [
    {"intent": "add message search to the chat app", "task_type": "feature", "agents": BACKEND_AND_TESTS},
    {"intent": "fix duplicate messages after a reconnect", "task_type": "bugfix", "agents": BACKEND_AND_TESTS},
    {"intent": "show who is typing in a channel", "task_type": "feature", "agents": BACKEND_AND_TESTS},
    {"intent": "document the chat API for integrators", "task_type": "documentation", "agents": ["docs-writer"]},
]


def _call(base: str, token: str | None, method: str, path: str, body: dict | None = None) -> dict:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}{path}", data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise CommandError(f"{method} {path} answered {error.code}: {error.read().decode()[:300]}") from error


def _stop_on_signals() -> list[int]:
    """SIGTERM and SIGHUP end the demo like Ctrl-C does — through `finally`, which stops the children.
    (Python's default for SIGTERM ends the process at once and would leave the server on the port.)"""
    received: list[int] = []

    def stop(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    return received


def _die_with(parent: int):  # noqa: ANN202
    """For Popen's preexec_fn: the child gets SIGTERM when this process dies, even by SIGKILL (Linux)."""

    def arm() -> None:
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the line above took effect
            os._exit(1)

    return arm


def _stop(process: subprocess.Popen | None, *, group: bool) -> None:
    """SIGTERM (to its whole process group when `group`), then SIGKILL after 10 s; always reaped."""
    if process is None:
        return

    def send(signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum) if group else process.send_signal(signum)

    if process.poll() is None:
        send(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            process.wait()
    if group:
        send(signal.SIGKILL)  # anything the server started and left behind in its group
