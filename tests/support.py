"""Helpers the tests share: wait on a condition with a deadline, check the event log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sessions_app.models import DevelopmentSession, SessionEvent


def wait_for(
    predicate: Callable[[], object], *, timeout: float = 60.0, interval: float = 0.05, what: str = ""
) -> object:
    """Poll with a deadline (never a blind sleep); returns the predicate's truthy value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


def wait_for_status(session: DevelopmentSession, *statuses: str, timeout: float = 90.0) -> DevelopmentSession:
    def done() -> DevelopmentSession | None:
        fresh = DevelopmentSession.objects.get(pk=session.pk)
        return fresh if fresh.status in statuses else None

    return wait_for(done, timeout=timeout, what=f"{session.public_id} to become {statuses}")


def assert_gap_free(session: DevelopmentSession) -> list[str]:
    seqs = list(SessionEvent.objects.filter(session=session).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)), f"event log has gaps or duplicates: {seqs}"
    return list(SessionEvent.objects.filter(session=session).order_by("seq").values_list("type", flat=True))


ROOT = Path(__file__).resolve().parents[1]


def start_worker_process(
    tmp_path: Path, name: str, *, broker: str, env: dict[str, str], pool: str = "prefork", concurrency: int = 2
) -> subprocess.Popen:
    """A real `celery worker -B` process (worker and beat) on the test database and its own broker."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    full_env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
        "HARNESS_LLM": "offline",
        "REDIS_URL": broker,
        **env,
    }
    log = (tmp_path / f"worker-{name}.log").open("w")
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        f"--pool={pool}",
        f"--concurrency={concurrency}",
    ]
    command += [
        "-B",
        "-s",
        str(tmp_path / f"beat-{name}"),
        "--loglevel=WARNING",
        "--without-mingle",
        "--without-gossip",
        "-Q",
        ",".join(settings.HARNESS_WORKER_QUEUES),  # agents and checks alike
    ]
    return subprocess.Popen(
        command, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def kill_worker_process(worker: subprocess.Popen) -> None:
    """SIGKILL the worker and everything it started: no chance to ack, clean up or say goodbye."""
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def worker_logs(tmp_path: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(tmp_path.glob("worker-*.log")))


def add_files(session: DevelopmentSession, count: int, folder: str = "lib") -> None:
    """`count` files of one version each, written by a person, in two inserts (a big session for cost tests)."""
    from artifacts_app.models import Artifact, ArtifactVersion

    artifacts = Artifact.objects.bulk_create(
        Artifact(session=session, path=f"{folder}/module_{i:03}.py", latest_version_number=1) for i in range(count)
    )
    ArtifactVersion.objects.bulk_create(
        ArtifactVersion(artifact=a, number=1, content=f"X = {i}\n", sha256="0" * 64, author_kind="user")
        for i, a in enumerate(artifacts)
    )
