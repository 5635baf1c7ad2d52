"""Agent definitions and organisation policies; every change is audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from agents_app.models import AgentDefinition, AgentPolicy
from sessions_app.models import Organization
from sessions_app.services.audit import audit_record, model_snapshot

POLICY_FIELDS = [
    "approval_triggers", "max_parallel_agents", "token_budget_per_session", "verification",
    "verification_repair_rounds", "cross_session_conflicts", "disabled_agents",
]  # fmt: skip


@transaction.atomic
def agent_definition_save(
    *, actor: Any | None, agent: AgentDefinition, before: dict[str, Any] | None = None
) -> AgentDefinition:
    """Validate and save a new or changed agent definition. `before` is the snapshot taken before
    the caller changed the instance (None for a new agent)."""
    agent.full_clean()
    creating = agent.pk is None
    if not creating and before is None:
        before = model_snapshot(AgentDefinition.objects.get(pk=agent.pk))
    agent.save()
    audit_record(
        actor=actor,
        organization=agent.organization,
        action="agent.created" if creating else "agent.changed",
        target=agent,
        before=None if creating else before,
        after=model_snapshot(agent),
    )
    return agent


@transaction.atomic
def agent_definition_delete(*, actor: Any | None, agent: AgentDefinition) -> None:
    audit_record(
        actor=actor,
        organization=agent.organization,
        action="agent.deleted",
        target=agent,
        before=model_snapshot(agent),
        after=None,
    )
    agent.delete()


@transaction.atomic
def policy_update(
    *,
    actor: Any | None,
    organization: Organization,
    disabled_agents: list[AgentDefinition] | None = None,
    **changes: Any,
) -> AgentPolicy:
    """Create or change an organisation's agent policy (admins only — checked by the caller's interface)."""
    policy, created = AgentPolicy.objects.select_for_update().get_or_create(
        organization=organization, defaults={"approval_triggers": AgentPolicy.default_triggers()}
    )
    before = None if created else model_snapshot(policy, POLICY_FIELDS)
    for field, value in changes.items():
        if field not in POLICY_FIELDS:
            raise TypeError(f"Unknown policy field {field}")
        setattr(policy, field, value)
    policy.full_clean(exclude=["organization"])
    policy.save()
    if disabled_agents is not None:
        policy.disabled_agents.set(disabled_agents)
    audit_record(
        actor=actor,
        organization=organization,
        action="policy.created" if created else "policy.changed",
        target=policy,
        before=before,
        after=model_snapshot(policy, POLICY_FIELDS),
    )
    return policy
