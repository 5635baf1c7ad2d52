"""Helpers the tests share: wait on a condition with a deadline, check the event log."""

from __future__ import annotations

import time
from collections.abc import Callable

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
