"""Celery tasks: each takes an id, and the body is one call into the engine (STYLE #10, #14).

Only Celery imports this module; the engine sends work by name through `agents_app.dispatch`.
"""

from __future__ import annotations

from celery import shared_task
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections

from agents_app import epics, planning, reaper, runtime, scheduler, verification_phase


@task_prerun.connect
@task_postrun.connect
def _fresh_connections(**kwargs) -> None:  # noqa: ANN003
    """As Django does around a request: drop broken or expired connections (thread pools keep them)."""
    close_old_connections()


@shared_task(name="agents_app.tasks.plan_session", bind=True, acks_late=True)
def plan_session(self, session_id: int) -> str:  # noqa: ANN001
    return planning.plan_session(session_id, task_id=self.request.id)


@shared_task(name="agents_app.tasks.run_agent", bind=True, acks_late=True)
def run_agent(self, run_id: int) -> str:  # noqa: ANN001
    return runtime.execute(run_id, task_id=self.request.id)


@shared_task(name="agents_app.tasks.run_verification", bind=True, acks_late=True)
def run_verification(self, verification_id: int) -> str:  # noqa: ANN001
    return verification_phase.execute(verification_id, task_id=self.request.id)


@shared_task(name="agents_app.tasks.advance_session")
def advance_session(session_id: int) -> None:
    scheduler.advance(session_id)


@shared_task(name="agents_app.tasks.advance_epic")
def advance_epic(epic_id: int) -> str:
    return epics.epic_advance(epic_id)


@shared_task(name="agents_app.tasks.requeue_lost_work")
def requeue_lost_work() -> int:
    return reaper.requeue_lost_work()


@shared_task(name="agents_app.tasks.requeue_stale_runs")
def requeue_stale_runs() -> int:
    """The reaper's earlier name, still accepted from schedules sent before an upgrade."""
    return reaper.requeue_lost_work()


@shared_task(name="agents_app.tasks.ping")
def ping(key: str) -> None:
    """A no-op task that stamps when it ran: the baseline of `make bench`'s enqueue→start latency."""
    import time

    from django.core.cache import cache

    cache.set(key, time.time(), timeout=60)
