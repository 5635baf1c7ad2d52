"""Reads of the agent registry, filtered by what the caller's role and organisation policy allow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from agents_app.models import AgentDefinition, AgentPolicy, AgentRun, VerificationRun, VerificationStatus
from sessions_app.access import has_role
from sessions_app.errors import NotFound
from sessions_app.models import DevelopmentSession, Organization, Role


def policy_for(organization: Organization) -> AgentPolicy:
    """The organisation's policy, or an unsaved default one (everything enabled, restricted writes approved)."""
    policy = AgentPolicy.objects.filter(organization=organization).first()
    if policy is None:
        policy = AgentPolicy(organization=organization, approval_triggers=AgentPolicy.default_triggers())
    return policy


def agents_of(organization: Organization) -> QuerySet[AgentDefinition]:
    """Built-in agents plus the organisation's own (an organisation's slug shadows a built-in one)."""
    own_slugs = AgentDefinition.objects.filter(organization=organization).values("slug")
    return AgentDefinition.objects.filter(
        Q(organization=organization) | (Q(organization__isnull=True) & ~Q(slug__in=own_slugs))
    ).order_by("slug")


@dataclass(frozen=True)
class AgentAvailability:
    usable: list[AgentDefinition]
    #: slug → why the caller may not use it (disabled by policy, restricted to leads, switched off)
    refused: dict[str, str]


def agent_availability(*, organization: Organization, role: str | None) -> AgentAvailability:
    policy = policy_for(organization)
    disabled = set(policy.disabled_agents.values_list("pk", flat=True)) if policy.pk else set()
    usable: list[AgentDefinition] = []
    refused: dict[str, str] = {}
    for agent in agents_of(organization):
        if not agent.enabled:
            refused[agent.slug] = "switched off in the registry"
        elif agent.pk in disabled:
            refused[agent.slug] = f"disabled by {organization.slug}'s agent policy"
        elif agent.restricted and not has_role(role, Role.LEAD):
            refused[agent.slug] = "restricted: only leads and admins may choose it"
        else:
            usable.append(agent)
    return AgentAvailability(usable=usable, refused=refused)


def run_get(*, session: DevelopmentSession, public_id: str) -> AgentRun:
    run = AgentRun.objects.select_related("agent", "session").filter(session=session, public_id=public_id).first()
    if run is None:
        raise NotFound(f"Run {public_id!r} is not part of session {session.public_id}.")
    return run


def run_get_visible(*, user, public_id: str) -> AgentRun:  # noqa: ANN001
    from sessions_app.access import sessions_visible_to

    run = (
        AgentRun.objects.select_related("agent", "session__organization")
        .filter(public_id=public_id, session__in=sessions_visible_to(user))
        .first()
    )
    if run is None:
        raise NotFound(f"Run {public_id!r} not found.")
    return run


def verification_latest(*, session: Any) -> VerificationRun | None:
    return VerificationRun.objects.filter(session=session).select_related("requested_by").first()


def verification_report(check: VerificationRun | None) -> dict:
    """The latest check as the API shows it: the session's `verification` summary plus the full report."""
    if check is None:
        return {**verification_summary(None), "requested_by": None, "report": None}
    requested_by = check.requested_by.get_username() if check.requested_by_id else None
    return {**verification_summary(check), "requested_by": requested_by, "report": check.report or None}


def verification_summary(check: VerificationRun | None) -> dict:
    """The session API's `verification` field."""
    if check is None:
        return {"status": "pending", "summary": "", "at": None, "id": None}
    status = {VerificationStatus.QUEUED: "pending"}.get(check.status, check.status)
    return {
        "status": status,
        "summary": check.summary,
        "at": (check.finished_at or check.started_at or check.queued_at).isoformat() if check.queued_at else None,
        "id": check.public_id,
        "round": check.round,
    }
