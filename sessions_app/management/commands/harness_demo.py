"""`make demo`: the embedded mode end to end — server, demo cast, one session through the CLI."""

from __future__ import annotations

import json
import os
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

DEMO_PASSWORD = "harness-demo"  # noqa: S105 - printed for the demo users, embedded mode only
SAMPLE = Path(settings.BASE_DIR) / "harness_cli" / "samples" / "chat_app_design.png"


class Command(BaseCommand):
    help = "Run the embedded demo: migrate, seed, serve on 127.0.0.1, start one session through the CLI."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--once", action="store_true", help="exit after the demo session ends")
        parser.add_argument("--intent", default="build a chat app")

    def handle(self, *args, port: int, once: bool, intent: str, **options) -> None:  # noqa: ANN002, ANN003
        base = f"http://127.0.0.1:{port}"
        call_command("migrate", verbosity=0, interactive=False)
        demo_seed(password=DEMO_PASSWORD)
        self.stdout.write(self.style.SUCCESS("Harness demo — embedded mode (SQLite, in-process worker, offline LLM)"))
        server = self._serve(port)
        try:
            self._wait_healthy(base, server)
            self.stdout.write(f"Log in at {base}/accounts/login/ as member, lead or admin — password {DEMO_PASSWORD}")
            self.stdout.write(f"Governance console: {base}/admin/ (as admin) · API docs: {base}/api/docs/\n")
            token = self._token(base)
            cli = [sys.executable, "-m", "harness_cli", intent, "--org", "acme", "--screenshot", str(SAMPLE)]
            cli += ["--requirement", "Messages appear live for everyone in a channel"]
            env = {**os.environ, "HARNESS_URL": base, "HARNESS_TOKEN": token}
            code = subprocess.call(cli, env=env)
            if once:
                if code != 0:
                    raise CommandError(f"the demo session did not complete (CLI exit code {code})")
                return
            self.stdout.write(f"\nStill serving on {base} — Ctrl-C to stop.")
            server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            if server.poll() is None:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()

    def _serve(self, port: int) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env.setdefault("HARNESS_OFFLINE_STEP_SECONDS", "0.3")  # lets a person watch the agents move
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        return subprocess.Popen([sys.executable, manage, "runserver", f"127.0.0.1:{port}", "--noreload"], env=env)

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

    def _token(self, base: str) -> str:
        body = json.dumps({"username": "member", "password": DEMO_PASSWORD}).encode()
        request = urllib.request.Request(  # noqa: S310
            f"{base}/api/v1/auth/token/", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read())["token"]
