"""`make demo` stopped by SIGTERM, SIGINT, SIGHUP — or killed outright — leaves no server on the port and no
child behind. The demo runs as a subprocess on a free port with its own SQLite database and media root."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def demo_env(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "ANTHROPIC_API_KEY")}
    return {
        **env, "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}", "HARNESS_MEDIA_ROOT": str(directory / "media"),
        "HARNESS_LLM": "offline", "HARNESS_OFFLINE_STEP_SECONDS": "0.1", "XDG_CONFIG_HOME": str(directory),
    }  # fmt: skip


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:  # noqa: ANN001
    """One migrated database for the module (migrating takes longer than the rest of a test); each test copies it."""
    directory = tmp_path_factory.mktemp("demo-template")
    manage = [sys.executable, "manage.py", "migrate", "--verbosity", "0"]
    subprocess.run(manage, cwd=ROOT, env=demo_env(directory), check=True, timeout=300)
    return directory / "db.sqlite3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid` (from /proc), with its command line."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found[child] = cmdline(child)
                frontier.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting for a reaper (a reparented child nobody waits for stays one)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize(
    ("signum", "code", "wait_for_cli"),
    [
        (signal.SIGTERM, 128 + signal.SIGTERM, True),  # while the CLI streams the demo session
        (signal.SIGTERM, 128 + signal.SIGTERM, False),  # while it builds the history
        (signal.SIGINT, 0, False),
        (signal.SIGHUP, 128 + signal.SIGHUP, False),
        (signal.SIGKILL, -signal.SIGKILL, False),  # the parent dies without a word: the children follow it
    ],
)
def test_stopping_the_demo_stops_its_server_and_frees_the_port(tmp_path, migrated, signum, code, wait_for_cli):
    shutil.copy(migrated, tmp_path / "db.sqlite3")
    port, log = free_port(), tmp_path / "demo.log"
    with log.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "manage.py", "harness_demo", "--port", str(port)],
            cwd=ROOT, env=demo_env(tmp_path), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    children: dict[int, str] = {}
    try:
        wait_for(lambda: listening(port) or demo.poll() is not None, timeout=120, what="the demo server")
        assert demo.poll() is None, log.read_text()
        if wait_for_cli:
            wait_for(
                lambda: any("harness_cli" in c for c in descendants(demo.pid).values()), timeout=120, what="the CLI"
            )
        children = descendants(demo.pid)
        assert any("runserver" in c for c in children.values()), children

        demo.send_signal(signum)

        assert demo.wait(timeout=30) == code, log.read_text()
        wait_for(lambda: not any(alive(pid) for pid in children), timeout=15, what=f"children {children} to end")
        assert port_is_free(port)
        assert not listening(port)
    finally:
        if demo.poll() is None:
            demo.kill()
        demo.wait(timeout=10)
        for pid, command in children.items():  # only ours: the pid still runs the command it ran
            if alive(pid) and cmdline(pid) == command:
                os.kill(pid, signal.SIGKILL)
