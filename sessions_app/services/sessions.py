"""Creating sessions and moving them through their states."""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from sessions_app import inputs
from sessions_app.errors import Conflict, InvalidInput
from sessions_app.events import Actor, event_record
from sessions_app.models import (
    ActorKind,
    ConversationMessage,
    DevelopmentSession,
    ExecutionStrategy,
    Organization,
    Requirement,
    RequirementSource,
    Screenshot,
    SessionStatus,
    TaskType,
)
from sessions_app.services.screenshots import CheckedImage
from sessions_app.signals import session_status_changed

MAX_REQUIREMENTS = inputs.MAX_REQUIREMENTS


def session_create(
    *,
    user: Any,
    organization: Organization,
    intent: str,
    requirements: list[str] | None = None,
    screenshots: list[CheckedImage] | None = None,
    requested_agents: list[str] | None = None,
    execution_strategy: str = ExecutionStrategy.HYBRID,
    task_type: str = TaskType.FEATURE,
    parent: DevelopmentSession | None = None,
) -> DevelopmentSession:
    """Write the session, its requirements and screenshots, or nothing at all.

    Screenshots must already be checked (`screenshots_check`). Files written here are removed
    again when the transaction fails, so a failure leaves no orphan file; call it as the last
    write of the caller's transaction.
    """
    intent, requirements = session_texts_clean(intent=intent, requirements=requirements)
    if parent is not None and parent.organization_id != organization.pk:
        raise InvalidInput(
            "The epic belongs to another organisation.", errors={"parent": ["Not in this organisation."]}
        )
    if parent is not None and parent.task_type != TaskType.EPIC:
        raise InvalidInput(
            f"{parent.public_id} is not an epic; only epics have child sessions.",
            errors={"parent": ["The parent session must be an epic."]},
        )

    written: list[Any] = []
    try:
        with transaction.atomic():
            session = DevelopmentSession.objects.create(
                organization=organization,
                created_by=user,
                intent=intent,
                task_type=task_type,
                execution_strategy=execution_strategy,
                requested_agents=list(requested_agents or []),
                parent=parent,
            )
            Requirement.objects.bulk_create(
                Requirement(session=session, text=text, source=RequirementSource.PERSON, source_user=user)
                for text in requirements
            )
            stored = _store_screenshots(session, user, screenshots or [], written)
            ConversationMessage.objects.create(
                session=session, author_kind=ActorKind.USER, author_user=user, text=intent
            )
            event_record(
                session=session,
                type="session.created",
                actor=Actor.for_user(user),
                data={
                    "intent": intent,
                    "task_type": task_type,
                    "execution_strategy": execution_strategy,
                    "requirements": requirements,
                    "screenshots": [
                        {"id": s.pk, "name": s.original_name, "width": s.width, "height": s.height} for s in stored
                    ],
                    "requested_agents": session.requested_agents,
                    "parent": parent.public_id if parent else None,
                },
            )
    except BaseException:
        _delete_files(written)
        raise
    return session


def session_texts_clean(*, intent: Any, requirements: list[Any] | None) -> tuple[str, list[str]]:
    """The intent and requirements by the input rules (`sessions_app.inputs`), whichever interface sent them;
    every problem is reported at once."""
    errors: dict[str, list[str]] = {}
    cleaned_intent, cleaned_requirements = "", []
    try:
        cleaned_intent = inputs.clean_text(intent, inputs.INTENT, field="intent")
    except InvalidInput as exc:
        errors.update(exc.errors)
    try:
        cleaned_requirements = inputs.clean_text_list(
            requirements, inputs.REQUIREMENT, field="requirements", max_items=MAX_REQUIREMENTS
        )
    except InvalidInput as exc:
        errors.update(exc.errors)
    inputs.raise_if_errors(errors)
    return cleaned_intent, cleaned_requirements


def _store_screenshots(
    session: DevelopmentSession, user: Any, images: list[CheckedImage], written: list[Any]
) -> list[Screenshot]:
    """Save files and rows; `written` collects the files so the caller can remove them on failure."""
    stored: list[Screenshot] = []
    for image in images:
        screenshot = Screenshot(
            session=session,
            original_name=image.name,
            content_type=image.content_type,
            size_bytes=image.size_bytes,
            width=image.width,
            height=image.height,
            sha256=image.sha256,
            uploaded_by=user,
        )
        screenshot.image.save(f"upload.{screenshot.extension}", ContentFile(image.data), save=False)
        written.append(screenshot.image)
        screenshot.save()
        stored.append(screenshot)
    return stored


def _delete_files(files: list[Any]) -> None:
    for f in files:
        with contextlib.suppress(OSError):
            f.storage.delete(f.name)


def session_transition(
    *,
    session: DevelopmentSession,
    to: str,
    actor: Actor,
    event_type: str,
    data: dict[str, Any] | None = None,
) -> DevelopmentSession:
    """Move a locked session to `to`, enforcing the model's transitions, and record the event."""
    if session.status == to:
        return session
    if not session.can_transition_to(to):
        raise Conflict(f"Session {session.public_id} is {session.status}; it cannot become {to}.")
    now = timezone.now()
    previous = session.status
    session.status = to
    fields = ["status", "updated_at"]
    if to == SessionStatus.RUNNING and session.started_at is None:
        session.started_at = now
        fields.append("started_at")
    if to in (SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.CANCELLED):
        session.finished_at = now
        fields.append("finished_at")
    elif session.finished_at is not None:
        session.finished_at = None
        fields.append("finished_at")
    session.save(update_fields=fields)
    event_record(session=session, type=event_type, actor=actor, data={"status": to, **(data or {})})
    session_status_changed.send(sender=DevelopmentSession, session=session, previous=previous, status=to)
    return session


def session_finish(
    *, session: DevelopmentSession, status: str, summary: str, data: dict[str, Any] | None = None
) -> DevelopmentSession:
    """End a locked session as completed or failed, with the summary people read."""
    session.completion_summary = summary
    session.save(update_fields=["completion_summary", "updated_at"])
    return session_transition(
        session=session,
        to=status,
        actor=Actor.system(),
        event_type=f"session.{status}",
        data={"summary": summary, **(data or {})},
    )


def session_lock(session: DevelopmentSession) -> DevelopmentSession:
    """Re-read the session under a row lock (inside a transaction)."""
    return DevelopmentSession.objects.select_for_update(no_key=True).get(pk=session.pk)
