"""Starting a development session: check everything, write it in one transaction, plan on commit."""

from __future__ import annotations

from typing import IO, Any

from django.db import transaction

from agents_app import dispatch, scheduler
from agents_app.selectors import agent_availability
from sessions_app.access import organization_for
from sessions_app.errors import Conflict, InvalidInput, NotAllowed
from sessions_app.models import DevelopmentSession, ExecutionStrategy, TaskType
from sessions_app.selectors import session_get
from sessions_app.services.screenshots import screenshots_check
from sessions_app.services.sessions import session_create, session_texts_clean


def development_start(
    *,
    user: Any,
    organization: str,
    intent: str,
    requirements: list[str] | None = None,
    screenshots: list[IO[bytes]] | None = None,
    agents: list[str] | None = None,
    execution_strategy: str = ExecutionStrategy.HYBRID,
    task_type: str = TaskType.FEATURE,
    parent: str | None = None,
) -> DevelopmentSession:
    """Every check runs before the first write, so bad input leaves nothing behind."""
    if task_type not in TaskType.values:
        raise InvalidInput(f"task_type must be one of {TaskType.values}.", errors={"task_type": ["Unknown task type."]})
    if execution_strategy not in ExecutionStrategy.values:
        raise InvalidInput(
            f"execution_strategy must be one of {ExecutionStrategy.values}.",
            errors={"execution_strategy": ["Unknown strategy."]},
        )
    org, role = organization_for(user, organization)
    session_texts_clean(intent=intent, requirements=requirements)  # before any image is decoded
    requested = _checked_agent_choice(org, role, agents or [])
    checked_images = screenshots_check(list(screenshots or []))
    parent_session = session_get(user=user, public_id=parent) if parent else None
    if parent_session is not None and parent_session.is_terminal():
        raise Conflict(f"Epic {parent_session.public_id} is {parent_session.status}; start a new epic instead.")
    if task_type == TaskType.EPIC and requested:
        raise InvalidInput(
            "An epic is split into child sessions that choose their own agents; leave 'agents' empty.",
            errors={"agents": ["Not used for an epic."]},
        )

    with transaction.atomic():
        session = session_create(
            user=user,
            organization=org,
            intent=intent,
            requirements=requirements,
            screenshots=checked_images,
            requested_agents=requested,
            execution_strategy=execution_strategy,
            task_type=task_type,
            parent=parent_session,
        )
        if parent_session is not None and parent_session.is_epic:
            # The epic decides when its children run: now if it is running, on resume if paused.
            dispatch.advance_epic_on_commit(parent_session.pk)
        else:
            scheduler.kickoff_on_commit(session)
    return session


def _checked_agent_choice(org: Any, role: str, agents: list[str]) -> list[str]:
    slugs = list(dict.fromkeys(a.strip() for a in agents if a and a.strip()))
    if not slugs:
        return []
    availability = agent_availability(organization=org, role=role)
    usable = {a.slug for a in availability.usable}
    unknown = [s for s in slugs if s not in usable and s not in availability.refused]
    if unknown:
        raise InvalidInput(
            f"Unknown agents {unknown}; GET /api/v1/agents/?organization={org.slug} lists the ones you may use.",
            errors={"agents": [f"Unknown agent {s!r}." for s in unknown]},
        )
    refused = {s: availability.refused[s] for s in slugs if s in availability.refused}
    if refused:
        reasons = "; ".join(f"{slug}: {why}" for slug, why in refused.items())
        raise NotAllowed(f"You may not choose these agents — {reasons}.", errors={"agents": list(refused)})
    return slugs
