"""The one way engine work reaches Celery: by task name, after the transaction that decided it commits.

Nothing but Celery imports `agents_app.tasks`; services and the engine send work through here, so
the engine has no import circle and a task is never sent for a row that was rolled back. A run
(and a session's planning) keeps its task id on its row: a re-send after a lost message reuses it,
so whichever delivery arrives first claims the work and the others find nothing to do.
"""

from __future__ import annotations

import logging
import uuid
from functools import partial

from django.db import transaction

logger = logging.getLogger(__name__)

PLAN_SESSION = "agents_app.tasks.plan_session"
RUN_AGENT = "agents_app.tasks.run_agent"
ADVANCE_EPIC = "agents_app.tasks.advance_epic"
ADVANCE_SESSION = "agents_app.tasks.advance_session"
REQUEUE_LOST_WORK = "agents_app.tasks.requeue_lost_work"
RUN_VERIFICATION = "agents_app.tasks.run_verification"  # routed to its own queue (settings)


def new_task_id() -> str:
    return str(uuid.uuid4())


def send(name: str, *args: int, task_id: str | None = None, countdown: float | None = None) -> None:
    """Send now (callers outside a transaction, e.g. the reaper's clock)."""
    from config.celery import app

    app.send_task(name, args=list(args), task_id=task_id, countdown=countdown or None)


def send_on_commit(name: str, *args: int, task_id: str | None = None, countdown: float | None = None) -> None:
    # A partial, not a lambda: what will be sent stays readable (tests capture on-commit callbacks).
    transaction.on_commit(partial(send, name, *args, task_id=task_id, countdown=countdown))


def run_agent_on_commit(run_id: int, task_id: str, *, countdown: float | None = None) -> None:
    send_on_commit(RUN_AGENT, run_id, task_id=task_id, countdown=countdown)


def plan_session_on_commit(session_id: int, task_id: str, *, countdown: float | None = None) -> None:
    send_on_commit(PLAN_SESSION, session_id, task_id=task_id, countdown=countdown)


def advance_epic_on_commit(epic_id: int) -> None:
    send_on_commit(ADVANCE_EPIC, epic_id)
