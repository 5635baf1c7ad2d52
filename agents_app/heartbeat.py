"""Liveness while slow work (a model call) is in flight: a thread touches the row every TTL/4."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection


@contextmanager
def beating(touch: Callable[[], object], *, name: str) -> Iterator[None]:
    """Call `touch` (a conditional UPDATE of a heartbeat column) until the block ends."""
    stop = threading.Event()
    interval = max(0.5, settings.HARNESS_HEARTBEAT_STALE_SECONDS / 4)

    def beat() -> None:
        try:
            while not stop.wait(interval):
                touch()
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"heartbeat-{name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
