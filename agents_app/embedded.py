"""The embedded worker: the same Celery tasks on a thread inside the server process.

Used when `REDIS_URL` is unset (broker `memory://`), so a fresh machine runs a whole
session in one process. Never eager mode: tasks go through the broker and are claimed
exactly as in team mode.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings

logger = logging.getLogger(__name__)
_started = threading.Event()
_lock = threading.Lock()


def start_if_configured() -> bool:
    if not settings.HARNESS_EMBEDDED_WORKER:
        return False
    return start()


def start(concurrency: int = 4) -> bool:
    with _lock:
        if _started.is_set():
            return False
        from config.celery import app

        def run() -> None:
            worker = app.Worker(
                pool="threads",
                concurrency=concurrency,
                queues=settings.HARNESS_WORKER_QUEUES,
                without_heartbeat=True,
                without_mingle=True,
                without_gossip=True,
                loglevel="WARNING",
                quiet=True,
            )
            worker.start()

        thread = threading.Thread(target=run, name="harness-embedded-worker", daemon=True)
        thread.start()
        # Celery's embedded beat forks a process that would outlive the server; a thread sends the
        # reaper task on the same schedule instead.
        threading.Thread(target=_reaper_clock, name="harness-embedded-beat", daemon=True).start()
        _started.set()
        logger.info("embedded Celery worker started (memory broker, %s threads)", concurrency)
        return True


def _reaper_clock() -> None:
    from agents_app import dispatch

    interval = settings.CELERY_BEAT_SCHEDULE["requeue-lost-work"]["schedule"]
    while not _stopping.wait(interval):
        dispatch.send(dispatch.REQUEUE_LOST_WORK)


_stopping = threading.Event()
