"""The cast every test shares (STYLE #12): acme's member, lead and admin, globex's outsider, and a guest."""

from __future__ import annotations

import importlib
import time

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun, task_prerun
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from sessions_app.services.demo import demo_seed

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):  # noqa: ANN001, ANN202
    """PBKDF2 at production strength costs ~0.5 s per user; tests check roles, not hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def ensure_builtin_agents() -> None:
    """Transactional tests flush every table, the data migration's agents too: put them back."""
    from django.apps import apps

    importlib.import_module("agents_app.migrations.0003_builtin_agents").create(apps, None)
    importlib.import_module("agents_app.migrations.0008_run_checks_tool").grant(apps, None)


@pytest.fixture(scope="session", autouse=True)
def _end_stray_connections(django_db_setup, django_db_blocker):  # noqa: ANN001, ANN202
    """Worker and executor threads keep database connections (CONN_MAX_AGE); end them before the
    test database is dropped."""
    yield
    with django_db_blocker.unblock():
        terminate_other_connections()


def terminate_other_connections() -> None:
    from django.db import OperationalError, connections

    connection = connections["default"]
    if connection.vendor != "postgresql":
        return
    sql = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    for _ in range(2):  # this connection itself may have been ended by an earlier sweep
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
            return
        except OperationalError:
            connection.close()


@pytest.fixture
def cast(db):  # noqa: ANN001, ANN201
    from django.contrib.auth import get_user_model

    ensure_builtin_agents()
    demo_seed(password=PASSWORD)
    User = get_user_model()
    users = {u.username: u for u in User.objects.filter(username__in=["member", "lead", "admin", "outsider"])}
    users["guest"] = User.objects.create_user("guest", password=PASSWORD)
    users["member2"] = User.objects.create_user("member2", password=PASSWORD)
    from sessions_app.models import Membership, Organization

    acme = Organization.objects.get(slug="acme")
    Membership.objects.create(organization=acme, user=users["member2"], role="member")
    return users


@pytest.fixture
def acme(cast):  # noqa: ANN001, ANN201
    from sessions_app.models import Organization

    return Organization.objects.get(slug="acme")


@pytest.fixture
def api():  # noqa: ANN201
    """api("member") → an APIClient authenticated with member's token; api(None) → anonymous."""
    clients: dict = {}

    def make(user=None):  # noqa: ANN001, ANN202
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        clients[user] = client
        return client

    return make


@pytest.fixture(scope="session")
def celery_worker_session(django_db_setup, django_db_blocker):  # noqa: ANN001, ANN201
    """One real Celery worker for the test run, on the configured broker (Redis in CI), in threads.

    Started once: Celery's test worker does not start cleanly twice in one process."""
    from config.celery import app

    with django_db_blocker.unblock():
        app.control.purge()
        from django.conf import settings

        with start_worker(
            app,
            pool="threads",
            concurrency=4,
            perform_ping_check=False,
            shutdown_timeout=30,
            queues=settings.HARNESS_WORKER_QUEUES,
        ):
            yield app


_tasks_in_flight: set[str] = set()


@task_prerun.connect(weak=False)
def _task_started(task_id=None, **kwargs) -> None:  # noqa: ANN001, ANN003
    _tasks_in_flight.add(task_id)


@task_postrun.connect(weak=False)
def _task_ended(task_id=None, **kwargs) -> None:  # noqa: ANN001, ANN003
    _tasks_in_flight.discard(task_id)


@pytest.fixture
def worker(celery_worker_session, transactional_db):  # noqa: ANN001, ANN201
    """The shared worker; after the test, wait until it is idle so no task runs while the tables are flushed.
    A worker still busy after the deadline fails the test loudly: the next test would meet its tasks."""
    yield celery_worker_session
    deadline = time.monotonic() + 60
    quiet_since = None
    while True:
        busy = bool(_tasks_in_flight) or _queued(celery_worker_session)
        quiet_since = None if busy else (quiet_since or time.monotonic())
        if quiet_since and time.monotonic() - quiet_since > 0.3:
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"the Celery worker was still busy 60 s after the test: {len(_tasks_in_flight)} task(s) running, "
                f"{_queued(celery_worker_session)} queued — a test left work behind",
                pytrace=False,
            )
        time.sleep(0.05)


def _queued(app) -> int:  # noqa: ANN001
    with app.connection_for_read() as conn:
        try:
            if not hasattr(conn.default_channel, "client"):
                return 0
            return sum(conn.default_channel.client.llen(q) for q in ("celery", "verification"))
        except Exception:  # noqa: BLE001 - an unreachable broker is not a busy one
            return 0


@pytest.fixture
def start(cast):  # noqa: ANN001, ANN201
    """start(user="member", intent=..., **kwargs) → a session created through the engine's entry point."""
    from agents_app.services.start import development_start

    def _start(user: str = "member", intent: str = "build a chat app", **kwargs):  # noqa: ANN003, ANN202
        kwargs.setdefault("organization", "acme")
        return development_start(user=cast[user], intent=intent, **kwargs)

    return _start


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_daphne(tmp_path, **extra_env: str):  # noqa: ANN001, ANN201
    """daphne in a subprocess on the test database; returns (process, base URL)."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    from django.conf import settings

    db = settings.DATABASES["default"]
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
        "HARNESS_SSE_KEEPALIVE_SECONDS": "1",
        **extra_env,
    }
    log_path = tmp_path / f"daphne-{port}.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        cwd=Path(__file__).resolve().parents[1], env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):  # noqa: S310
                return server, url
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"daphne did not start:\n{log_path.read_text()}") from None
            time.sleep(0.1)


@pytest.fixture
def live_url(worker, tmp_path):  # noqa: ANN001, ANN201
    """daphne on the test database and Redis; this process runs the Celery worker."""
    server, url = start_daphne(tmp_path)
    yield url
    stop_daphne(server)


def stop_daphne(server) -> None:  # noqa: ANN001
    """SIGTERM; daphne waits for open sockets (a browser's websocket) to close, so after 10 s it is killed."""
    import subprocess

    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=10)


@pytest.fixture
def calc_project(monkeypatch):  # noqa: ANN001, ANN201
    """The offline backend agent writes a tiny project whose one test is wrong until the checks' feedback
    (which names `test_add`) reaches it; every other agent writes nothing."""
    from agents_app.llm import offline
    from agents_app.offline_templates import OfflineFile

    calc = "def add(a, b):\n    return a + b\n"
    broken = "from app.calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 5\n"
    fixed = "from app.calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n"

    def files(agent: str, *, feedback=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
        if agent != "backend":
            return []
        test = fixed if feedback and any("test_add" in text for text in feedback) else broken
        return [
            OfflineFile("app/__init__.py", "code", "python", ""),
            OfflineFile("app/calc.py", "code", "python", calc),
            OfflineFile("tests/test_calc.py", "tests", "python", test),
            OfflineFile("conftest.py", "code", "python", "# the project root is importable\n"),
        ]

    monkeypatch.setattr(offline, "files_provider", files)
