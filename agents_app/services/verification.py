"""Running a session's checks again, on a collaborator's request."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from agents_app.models import PARKED_RUN_STATUSES, AgentRun, RunStatus, VerificationRun, VerificationStatus
from agents_app.verification_phase import verification_queue
from sessions_app.access import require_session_access
from sessions_app.errors import Conflict
from sessions_app.events import Actor
from sessions_app.models import DevelopmentSession
from sessions_app.services.sessions import session_lock


def verification_rerun(*, user: Any, session: DevelopmentSession) -> VerificationRun:
    with transaction.atomic():
        session = session_lock(session)
        require_session_access(user, session, "collaborate", doing="run the checks")
        busy = VerificationRun.objects.filter(
            session=session, status__in=(VerificationStatus.QUEUED, VerificationStatus.RUNNING)
        ).first()
        if busy is not None:
            raise Conflict(f"The checks are already {busy.status} ({busy.public_id}); wait for their report.")
        working = AgentRun.objects.filter(
            session=session, status__in=(RunStatus.QUEUED, RunStatus.RUNNING, *PARKED_RUN_STATUSES)
        ).exists()
        if working:
            raise Conflict("Agents are still working on this session; the checks run when they finish.")
        if not session.artifacts.exists():
            raise Conflict("This session has no files yet; there is nothing to check.")
        return verification_queue(session, actor=Actor.for_user(user), requested_by=user)
