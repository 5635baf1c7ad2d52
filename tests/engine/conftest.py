"""Engine fixtures: a real Celery worker (threads, real broker) and helpers to wait on conditions."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connections

from agents_app.services.start import development_start
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


@pytest.fixture(scope="session")
def celery_worker_session(django_db_setup, django_db_blocker):  # noqa: ANN001, ANN201
    """One real Celery worker for the test run, on the configured broker (Redis in CI), in threads.

    Started once: Celery's test worker does not start cleanly twice in one process."""
    from config.celery import app

    with django_db_blocker.unblock():
        app.control.purge()
        with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=30):
            yield app
        terminate_other_connections()


@pytest.fixture
def worker(celery_worker_session, transactional_db):  # noqa: ANN001, ANN201
    return celery_worker_session


def terminate_other_connections() -> None:
    """Worker threads keep their own connections; end them so the test database can be flushed and dropped."""
    connection = connections["default"]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture
def start(cast):  # noqa: ANN001, ANN201
    def _start(user: str = "member", intent: str = "build a chat app", **kwargs) -> DevelopmentSession:  # noqa: ANN003
        kwargs.setdefault("organization", "acme")
        return development_start(user=cast[user], intent=intent, **kwargs)

    return _start
