"""The sandbox: no network, no host files, an unprivileged uid, limits that kill, a read-only toolchain."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from agents_app.verification import sandbox as sandbox_module
from agents_app.verification.sandbox import (
    Limits,
    SandboxUnavailable,
    read_inside,
    run_sandboxed,
    sandbox_status,
    toolchain_dir,
)

pytestmark = pytest.mark.usefixtures("sandbox")
QUICK = Limits(timeout_seconds=20, memory_mb=512, cpu_seconds=10, max_processes=64, max_file_mb=8)


def python(code: str) -> list[str]:
    return [str(toolchain_dir() / "bin" / "python"), "-c", code]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "app").mkdir(parents=True)
    (root / "app" / "api.py").write_text("VALUE = 1\n")
    return root


def run_json(workspace: Path, code: str, limits: Limits = QUICK) -> dict:
    outcome = run_sandboxed(workspace, python(code), limits=limits)
    assert outcome.exit_code == 0, outcome
    return json.loads(outcome.stdout_tail)


def test_runs_as_nobody_without_capabilities(workspace: Path) -> None:
    seen = run_json(
        workspace,
        "import json, os\n"
        "status = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)\n"
        "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'cap': status['CapEff'].strip(),"
        " 'cwd': os.getcwd(), 'env': sorted(os.environ)}))",
    )
    assert (seen["uid"], seen["gid"]) == (65534, 65534)
    assert int(seen["cap"], 16) == 0
    assert seen["cwd"] == "/workspace"
    assert "DATABASE_URL" not in seen["env"] and "REDIS_URL" not in seen["env"]  # --clearenv


def test_refuses_network(workspace: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # the host can reach it
        seen = run_json(
            workspace,
            "import json, socket\n"
            "def attempt(host, port):\n"
            "    try:\n"
            "        socket.create_connection((host, port), timeout=2).close()\n"
            "        return 'connected'\n"
            "    except OSError as exc:\n"
            "        return type(exc).__name__\n"
            f"print(json.dumps({{'local': attempt('127.0.0.1', {port}), 'pg': attempt('127.0.0.1', 5432),"
            " 'outside': attempt('1.1.1.1', 80),"
            " 'interfaces': [l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]]}))",
        )
    finally:
        listener.close()
    assert seen["local"] == "ConnectionRefusedError"
    assert seen["pg"] == "ConnectionRefusedError"
    assert seen["outside"] != "connected"
    assert seen["interfaces"] == ["lo"]


def test_hides_host_files(workspace: Path) -> None:
    project = Path(__file__).resolve().parents[2]
    paths = [
        "/etc/shadow",
        "/etc/hostname",
        "/root/.bashrc",
        "/home",
        str(project / "manage.py"),
        str(project / "config" / "settings" / "base.py"),
        str(project / ".venv"),
        str(Path(__file__)),
        "/workspace/app/api.py",
    ]
    assert all(Path(p).exists() for p in paths[4:8])  # the host has them
    seen = run_json(workspace, f"import json, os; print(json.dumps({{p: os.path.exists(p) for p in {paths!r}}}))")
    assert seen == {**dict.fromkeys(paths, False), "/workspace/app/api.py": True}


def test_toolchain_and_system_are_read_only_and_the_workspace_copy_is_writable(workspace: Path) -> None:
    marker = f"x-{uuid.uuid4().hex}"
    targets = [str(toolchain_dir() / "bin" / marker), f"/usr/{marker}", f"/{marker}", f"/etc/{marker}"]
    seen = run_json(
        workspace,
        "import json\n"
        "def attempt(path):\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        return 'written'\n"
        "    except OSError as exc:\n"
        "        return exc.strerror\n"
        f"print(json.dumps({{p: attempt(p) for p in {targets + ['/workspace/app/new.py', '/tmp/t']!r}}}))",
    )
    assert [seen[t] for t in targets] == ["Read-only file system"] * 4
    assert seen["/workspace/app/new.py"] == seen["/tmp/t"] == "written"
    assert not (toolchain_dir() / "bin" / marker).exists()
    assert not (workspace / "app" / "new.py").exists()  # the sandbox wrote to its own copy


def test_collects_files_but_never_follows_a_planted_symlink(workspace: Path) -> None:
    code = (
        "import os\n"
        "open('report.txt', 'w').write('mine')\n"
        "os.symlink('/etc/hostname', 'leak.txt')\n"
        "os.makedirs('out')\n"
        "os.symlink('/etc', 'out/etc')\n"
    )
    outcome = run_sandboxed(
        workspace, python(code), limits=QUICK, collect=("report.txt", "leak.txt", "out/etc/hostname")
    )
    assert outcome.exit_code == 0, outcome
    assert outcome.collected == {"report.txt": b"mine"}
    assert read_inside(Path("/etc"), "hostname") is not None  # the reader itself does read regular files


def test_kills_a_process_over_the_memory_limit(workspace: Path) -> None:
    limits = Limits(timeout_seconds=20, memory_mb=256, cpu_seconds=10, max_processes=64, max_file_mb=8)
    outcome = run_sandboxed(workspace, python("x = bytearray(600 * 1024 * 1024); print('allocated')"), limits=limits)
    assert outcome.exit_code != 0
    assert "allocated" not in outcome.stdout_tail
    assert outcome.limit == "memory"
    ok = run_sandboxed(workspace, python("x = bytearray(64 * 1024 * 1024); print('allocated')"), limits=limits)
    assert ok.exit_code == 0 and "allocated" in ok.stdout_tail  # under the limit it works


def test_kills_a_process_over_the_cpu_limit(workspace: Path) -> None:
    limits = Limits(timeout_seconds=30, memory_mb=512, cpu_seconds=1, max_processes=64, max_file_mb=8)
    outcome = run_sandboxed(workspace, python("while True: pass"), limits=limits)
    assert outcome.limit == "cpu"
    assert not outcome.timed_out
    assert outcome.exit_code != 0
    assert outcome.duration_ms < 15_000


def test_a_wall_clock_overrun_is_a_timeout_and_nothing_is_left_running(workspace: Path) -> None:
    tag = f"{uuid.uuid4().int % 1000}.{uuid.uuid4().int % 1000:03d}1"  # a unique sleep length
    limits = Limits(timeout_seconds=1.5, memory_mb=512, cpu_seconds=10, max_processes=64, max_file_mb=8)
    outcome = run_sandboxed(workspace, ["/bin/sh", "-c", f"sleep {tag} & sleep {tag}"], limits=limits)
    assert outcome.timed_out
    assert outcome.limit == "timeout"
    assert 1500 <= outcome.duration_ms < 10_000
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert f"sleep {tag}" not in processes


def test_limits_processes_and_file_size(workspace: Path) -> None:
    limits = Limits(timeout_seconds=20, memory_mb=512, cpu_seconds=10, max_processes=16, max_file_mb=1)
    forks = run_sandboxed(workspace, ["/bin/sh", "-c", "for i in $(seq 40); do sleep 3 & done; wait"], limits=limits)
    assert forks.limit == "processes", forks
    big = run_sandboxed(workspace, python("open('big', 'wb').write(b'x' * 4 * 1024 * 1024)"), limits=limits)
    assert big.exit_code != 0 and big.limit == "file_size", big


def test_output_is_kept_as_a_tail(workspace: Path) -> None:
    outcome = run_sandboxed(workspace, python("print('a' * 100_000 + 'END')"), limits=QUICK)
    assert outcome.stdout_tail.rstrip().endswith("END")
    assert len(outcome.stdout_tail.encode()) <= 4096 + 4


@pytest.mark.parametrize("bwrap", ["/nonexistent/bwrap", "/bin/false"])
def test_without_bubblewrap_nothing_runs(settings, tmp_path: Path, workspace: Path, bwrap: str) -> None:
    settings.HARNESS_BWRAP = bwrap
    ok, reason = sandbox_status()
    assert not ok
    if bwrap.startswith("/nonexistent"):
        assert reason == "bubblewrap is not installed: apt-get install bubblewrap"
    else:
        assert reason.startswith("user namespaces are not available: ")
    marker = tmp_path / "ran-unsandboxed"
    with pytest.raises(SandboxUnavailable, match="bubblewrap|namespaces"):
        run_sandboxed(workspace, ["/bin/sh", "-c", f"touch {marker}"], limits=QUICK)
    assert not marker.exists()
    settings.HARNESS_BWRAP = "bwrap"
    assert sandbox_status() == (True, "")  # the real one, probed once and cached by its path


def test_the_probe_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sandbox_status()[0]
    calls = []
    monkeypatch.setattr(sandbox_module, "_probe", lambda bwrap: calls.append(bwrap) or (False, "probed", ""))
    try:
        assert sandbox_status() == (True, "")
        assert calls == []
        assert sandbox_status(refresh=True) == (False, "probed")
        assert len(calls) == 1
    finally:
        sandbox_module._status_cache.clear()  # the next test probes for real again


def test_runs_as_the_host_nobody_when_harness_is_root(workspace: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("Harness is not root here: bwrap runs as Harness's own user")
    tag = f"{uuid.uuid4().int % 1000}.{uuid.uuid4().int % 1000:03d}7"
    process = subprocess.Popen(
        [
            "/usr/bin/python3",
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); "
            "from agents_app.verification.sandbox import Limits, run_sandboxed; "
            "from pathlib import Path; "
            f"run_sandboxed(Path(sys.argv[2]), ['sleep', '{tag}'], limits=Limits(timeout_seconds=1.5))",
            str(Path(__file__).resolve().parents[2]),
            str(workspace),
        ],
    )
    try:
        owners = ""
        for _ in range(40):
            owners = subprocess.run(["ps", "-eo", "uid,args"], capture_output=True, text=True, check=True).stdout
            if f"sleep {tag}" in owners:
                break
            subprocess.run(["sleep", "0.1"], check=True)
        rows = [line.split(None, 1) for line in owners.splitlines() if f"sleep {tag}" in line]
        assert rows and all(uid == "65534" for uid, _ in rows)
    finally:
        process.wait(timeout=20)
