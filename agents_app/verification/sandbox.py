"""A bubblewrap sandbox for generated code.

Every call to `run_sandboxed` makes fresh namespaces (`bwrap --unshare-all`): no network (only a
loopback nobody listens on), its own pid/ipc/uts/cgroup namespaces, and a filesystem of

- the system's `/usr` (with the `/bin`, `/lib*` links) and the checks toolchain, read-only;
- the base Python install the toolchain's `pyvenv.cfg` points at, read-only, at the same path;
- a private copy of the workspace at `/workspace`, writable;
- a size-capped tmpfs at `/tmp`, a minimal `/proc` and `/dev`, a two-line `/etc/passwd`.

Inside, the command runs as uid/gid 65534 with no capabilities, under `prlimit` (CPU seconds,
address space, processes, file size, no core files) and a wall-clock timeout that kills the whole
sandbox. When Harness runs as root, bwrap itself is started as uid 65534 on the host (`setpriv`),
so the sandbox is unprivileged outside its namespaces as well and the process limit binds (the
kernel never applies RLIMIT_NPROC to root).

Nothing ever runs unsandboxed: when bubblewrap cannot make a sandbox here, `run_sandboxed` raises
`SandboxUnavailable` with the reason, and the checks report `not_verified`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

SANDBOX_UID = 65534  # nobody, inside the sandbox and (when Harness runs as root) on the host
WORKSPACE = "/workspace"
SANDBOX_TMP = "/tmp"  # noqa: S108 - the sandbox's own tmpfs, not the host's /tmp
TAIL_BYTES = 4096
COLLECT_MAX_BYTES = 8 * 1024 * 1024
PROBE_TIMEOUT_SECONDS = 20
INSTALL_HINT = "apt-get install bubblewrap"


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made here; the reason says why. Nothing was run."""


def setting(name: str, default):  # noqa: ANN001, ANN201
    """A Django setting when settings are configured, else the default (the library works without Django)."""
    try:
        from django.conf import settings

        return getattr(settings, name, default)
    except Exception:  # noqa: BLE001 - settings not configured: the defaults hold
        return default


@dataclass(frozen=True)
class Limits:
    """What one sandboxed command may use. `tmp_mb` is derived: the /tmp tmpfs is a quarter of the memory."""

    timeout_seconds: float = 60
    memory_mb: int = 1024
    cpu_seconds: int = 60
    max_processes: int = 256
    max_file_mb: int = 64

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            timeout_seconds=float(setting("HARNESS_CHECKS_TIMEOUT_SECONDS", cls.timeout_seconds)),
            memory_mb=int(setting("HARNESS_CHECKS_MEMORY_MB", cls.memory_mb)),
            cpu_seconds=int(setting("HARNESS_CHECKS_CPU_SECONDS", cls.cpu_seconds)),
            max_processes=int(setting("HARNESS_CHECKS_MAX_PROCESSES", cls.max_processes)),
            max_file_mb=int(setting("HARNESS_CHECKS_MAX_FILE_MB", cls.max_file_mb)),
        )

    @property
    def tmp_mb(self) -> int:
        return max(16, self.memory_mb // 4)

    def as_dict(self) -> dict:
        return {**asdict(self), "tmp_mb": self.tmp_mb}


@dataclass
class Outcome:
    """How a sandboxed command ended. `limit` names what stopped it when that can be told:
    "timeout" (wall clock), "cpu", "memory", "file_size" or "processes"."""

    exit_code: int | None
    stdout_tail: str
    stderr_tail: str
    duration_ms: int
    timed_out: bool = False
    limit: str | None = None
    collected: dict[str, bytes] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("collected")
        return data


# --- where things are -------------------------------------------------------------------------


def bwrap_path() -> str | None:
    configured = str(setting("HARNESS_BWRAP", "bwrap") or "bwrap")
    if os.sep in configured:
        return configured if os.path.isfile(configured) and os.access(configured, os.X_OK) else None
    return shutil.which(configured)


def toolchain_dir() -> Path:
    configured = setting("HARNESS_CHECKS_TOOLCHAIN", None)
    if configured:
        return Path(configured)
    base = setting("BASE_DIR", None)
    return Path(base or Path(__file__).resolve().parents[2]) / ".toolchain"


def _base_python_prefix(toolchain: Path) -> Path | None:
    """The Python install a venv points at (pyvenv.cfg `home` is its bin directory)."""
    try:
        lines = (toolchain / "pyvenv.cfg").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            home = Path(value.strip())
            return home.parent if home.name == "bin" else home
    return None


def _outside_usr(path: Path) -> bool:
    resolved = path.resolve()
    return resolved != Path("/usr") and Path("/usr") not in resolved.parents


def _readonly_binds() -> list[Path]:
    """The toolchain, its base Python and Node's install, where they are not under /usr already."""
    binds: list[Path] = []
    toolchain = toolchain_dir()
    if toolchain.is_dir():
        binds.append(toolchain)
        prefix = _base_python_prefix(toolchain)
        if prefix is not None and prefix.is_dir() and _outside_usr(prefix):
            binds.append(prefix)
    node = shutil.which("node")
    if node:
        node_prefix = Path(node).resolve().parent.parent
        if _outside_usr(node_prefix) and node_prefix != Path("/"):
            binds.append(node_prefix)
    return binds


# --- the sandbox's command line ---------------------------------------------------------------


def _drops_to_nobody() -> bool:
    return os.geteuid() == 0


def _command(bwrap: str, private: Path, argv: list[str], limits: Limits, env: dict[str, str]) -> list[str]:
    prlimit = shutil.which("prlimit") or "prlimit"
    cmd = [
        prlimit,
        f"--as={limits.memory_mb * 1024 * 1024}",
        f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",
        f"--nproc={limits.max_processes}",
        f"--fsize={limits.max_file_mb * 1024 * 1024}",
        "--core=0",
    ]
    if _drops_to_nobody():
        setpriv = shutil.which("setpriv") or "setpriv"
        cmd += [setpriv, f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups"]
    cmd += [
        bwrap,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--cap-drop",
        "ALL",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--hostname",
        "sandbox",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            cmd += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            cmd += ["--ro-bind", str(host), f"/{name}"]
    tmp = SANDBOX_TMP
    cmd += ["--proc", "/proc", "--dev", "/dev", "--size", str(limits.tmp_mb * 1024 * 1024), "--tmpfs", tmp]
    cmd += ["--dir", "/etc", "--ro-bind", str(private / "etc" / "passwd"), "/etc/passwd"]
    cmd += ["--ro-bind", str(private / "etc" / "group"), "/etc/group"]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives"):
        cmd += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for path in _readonly_binds():
        cmd += ["--ro-bind", str(path), str(path)]
    cmd += ["--bind", str(private / "workspace"), WORKSPACE, "--remount-ro", "/", "--chdir", WORKSPACE]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return [*cmd, "--", *argv]


def _environment(extra: dict | None) -> dict[str, str]:
    toolchain_bin = toolchain_dir() / "bin"
    env = {
        "PATH": f"{toolchain_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": SANDBOX_TMP,
        "TMPDIR": SANDBOX_TMP,
        "USER": "nobody",
        "LOGNAME": "nobody",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "NO_COLOR": "1",
    }
    env.update({str(k): str(v) for k, v in (extra or {}).items()})
    return env


def _prepare(private: Path, workspace: Path | None) -> None:
    """The private directory: the workspace copy and /etc's two files, owned by the sandbox's uid."""
    copy = private / "workspace"
    if workspace is not None:
        shutil.copytree(workspace, copy, symlinks=True)
    else:
        copy.mkdir()
    etc = private / "etc"
    etc.mkdir()
    (etc / "passwd").write_text(f"nobody:x:{SANDBOX_UID}:{SANDBOX_UID}:nobody:/tmp:/usr/sbin/nologin\n")
    (etc / "group").write_text(f"nogroup:x:{SANDBOX_UID}:\n")
    for root, dirs, files in os.walk(private):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)  # noqa: S103 - inside the private 0700 directory
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)
    os.chmod(private, 0o700)  # other host users never see into it
    if _drops_to_nobody():
        for root, dirs, files in os.walk(private):
            os.lchown(root, SANDBOX_UID, SANDBOX_UID)
            for name in dirs + files:
                os.lchown(os.path.join(root, name), SANDBOX_UID, SANDBOX_UID)
        # /etc is the host's: read-only for the sandbox even though it owns the private dir.
        for name in ("etc", "etc/passwd", "etc/group"):
            os.lchown(private / name, 0, 0)


def _remove(private: Path) -> None:
    def retry(function, path, _exc):  # noqa: ANN001, ANN202 - a directory the sandbox made unreadable
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o700)
            function(path)

    shutil.rmtree(private, onerror=retry)
    shutil.rmtree(private, ignore_errors=True)


def _tail(path: Path) -> str:
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - TAIL_BYTES))
        data = handle.read()
    text = data.decode("utf-8", errors="replace")
    return ("…" + text) if size > TAIL_BYTES else text


def read_inside(root: Path, relative: str, max_bytes: int = COLLECT_MAX_BYTES) -> bytes | None:
    """A regular file under root, never following a symlink the sandbox may have planted; None if absent."""
    parts = [p for p in relative.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        return None
    flags = os.O_RDONLY | os.O_NOFOLLOW
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        file_fd = os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        if not stat.S_ISREG(os.fstat(file_fd).st_mode):
            return None
        with os.fdopen(file_fd, "rb", closefd=False) as handle:
            return handle.read(max_bytes)
    finally:
        os.close(file_fd)


def _which_limit(exit_code: int | None, stdout: str, stderr: str) -> str | None:
    if exit_code in (None, 0):
        return None
    sig = exit_code - 128 if exit_code > 128 else -exit_code if exit_code < 0 else 0
    if sig == signal.SIGXCPU:
        return "cpu"
    if sig == signal.SIGXFSZ:
        return "file_size"
    text = stdout[-1500:] + stderr[-1500:]
    if any(m in text for m in ("MemoryError", "out of memory", "Cannot allocate memory", "bad_alloc")):
        return "memory"
    if any(m in text for m in ("File too large", "EFBIG")):
        return "file_size"
    if any(m in text for m in ("Cannot fork", "fork: Resource temporarily unavailable", "BlockingIOError")):
        return "processes"
    return None


def _execute(
    bwrap: str, workspace: Path | None, argv: list[str], limits: Limits, env: dict | None, collect: tuple[str, ...]
) -> Outcome:
    private = Path(tempfile.mkdtemp(prefix="harness-sandbox-"))
    try:
        _prepare(private, workspace)
        out_path, err_path = private / "stdout", private / "stderr"  # not bound: written through the fds
        command = _command(bwrap, private, list(argv), limits, _environment(env))
        started = time.monotonic()
        timed_out = False
        with out_path.open("wb") as out, err_path.open("wb") as err:
            process = subprocess.Popen(  # noqa: S603 - the argv is ours; what it runs is sandboxed
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                close_fds=True,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
            )
            try:
                process.wait(timeout=limits.timeout_seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # bwrap dies; --die-with-parent and the pid
                process.wait()  # namespace take everything inside with it
        duration_ms = int((time.monotonic() - started) * 1000)
        stdout, stderr = _tail(out_path), _tail(err_path)
        exit_code = process.returncode
        collected = {}
        for relative in collect:
            data = read_inside(private / "workspace", relative)
            if data is not None:
                collected[relative] = data
        return Outcome(
            exit_code=exit_code,
            stdout_tail=stdout,
            stderr_tail=stderr,
            duration_ms=duration_ms,
            timed_out=timed_out,
            limit="timeout" if timed_out else _which_limit(exit_code, stdout, stderr),
            collected=collected,
        )
    finally:
        _remove(private)


# --- can a sandbox be made here? ----------------------------------------------------------------

_status_cache: dict[tuple, tuple[bool, str, str]] = {}
_status_lock = threading.Lock()


def _probe(bwrap: str | None) -> tuple[bool, str, str]:
    if bwrap is None:
        return False, f"bubblewrap is not installed: {INSTALL_HINT}", ""
    if shutil.which("prlimit") is None:
        return False, "prlimit is not installed (util-linux)", ""
    if _drops_to_nobody() and shutil.which("setpriv") is None:
        return False, "setpriv is not installed (util-linux)", ""
    try:
        version = subprocess.run(  # noqa: S603
            [bwrap, "--version"], capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECONDS, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"bubblewrap cannot run: {exc}", ""
    version = version.removeprefix("bubblewrap ").strip()
    true = "/usr/bin/true" if os.path.exists("/usr/bin/true") else "/bin/true"
    try:
        outcome = _execute(bwrap, None, [true], Limits(timeout_seconds=PROBE_TIMEOUT_SECONDS), None, ())
    except OSError as exc:
        return False, f"bubblewrap cannot run: {exc}", version
    if outcome.exit_code == 0 and not outcome.timed_out:
        return True, "", version
    error = outcome.stderr_tail.strip().splitlines()
    detail = error[-1] if error else f"{os.path.basename(bwrap)} exited {outcome.exit_code} without a message"
    if outcome.timed_out:
        detail = "the probe timed out"
    return False, f"user namespaces are not available: {detail}", version


def _status_key() -> tuple:
    return (bwrap_path(), shutil.which("prlimit"), os.geteuid())


def _status(refresh: bool = False) -> tuple[bool, str, str]:
    key = _status_key()
    with _status_lock:
        if refresh or key not in _status_cache:
            _status_cache[key] = _probe(key[0])
        return _status_cache[key]


def sandbox_status(*, refresh: bool = False) -> tuple[bool, str]:
    """(True, "") when a sandbox can be made here, else (False, the reason). Probed once per process
    (per bwrap binary); `refresh=True` probes again."""
    ok, reason, _ = _status(refresh)
    return ok, reason


def sandbox_version() -> str:
    return _status()[2]


def sandbox_description() -> dict:
    ok, reason, version = _status()
    description = {"kind": "bubblewrap", "version": version or None, "network": "none", "uid": SANDBOX_UID}
    if not ok:
        description["available"] = False
        description["reason"] = reason
    return description


def run_sandboxed(
    workspace: Path,
    argv: list[str],
    *,
    limits: Limits,
    env: dict | None = None,
    collect: tuple[str, ...] = (),
) -> Outcome:
    """Run argv in a fresh sandbox over a private, writable copy of `workspace` (at /workspace).

    `collect` names files (relative to the workspace) to read back from the copy after the run;
    they are returned in `Outcome.collected` (regular files only, symlinks never followed, 8 MiB
    at most). Raises SandboxUnavailable, having run nothing, when no sandbox can be made here."""
    ok, reason, _ = _status()
    if not ok:
        raise SandboxUnavailable(reason)
    bwrap = bwrap_path()
    if bwrap is None:  # removed since the probe
        raise SandboxUnavailable(f"bubblewrap is not installed: {INSTALL_HINT}")
    return _execute(bwrap, Path(workspace), argv, limits, env, tuple(collect))
