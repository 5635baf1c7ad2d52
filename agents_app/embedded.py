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
                without_heartbeat=True,
                without_mingle=True,
                without_gossip=True,
                loglevel="WARNING",
                quiet=True,
                beat=True,
                schedule_filename=str(settings.BASE_DIR / "var" / "celerybeat-schedule"),
            )
            worker.start()

        (settings.BASE_DIR / "var").mkdir(exist_ok=True)
        thread = threading.Thread(target=run, name="harness-embedded-worker", daemon=True)
        thread.start()
        _started.set()
        logger.info("embedded Celery worker started (memory broker, %s threads)", concurrency)
        return True
