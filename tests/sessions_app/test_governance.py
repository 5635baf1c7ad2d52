"""Roles, memberships and the append-only audit trail."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from agents_app.models import AgentDefinition
from agents_app.services.governance import agent_definition_save, policy_update
from sessions_app.access import session_access, sessions_visible_to
from sessions_app.errors import Conflict
from sessions_app.models import AuditEntry, DevelopmentSession, Membership
from sessions_app.services.governance import membership_remove, membership_set_role


def test_it_audits_a_role_change_with_before_and_after(cast, acme):
    membership = Membership.objects.get(user=cast["member"], organization=acme)

    membership_set_role(actor=cast["admin"], membership=membership, role="lead")

    entry = AuditEntry.objects.filter(action="membership.role_changed").get()
    assert entry.actor == cast["admin"] and entry.organization == acme
    assert entry.before["role"] == "member" and entry.after["role"] == "lead"


def test_the_audit_trail_is_append_only(cast, acme):
    membership = Membership.objects.get(user=cast["member"], organization=acme)
    membership_set_role(actor=cast["admin"], membership=membership, role="lead")
    entry = AuditEntry.objects.first()

    entry.action = "tampered"
    with pytest.raises(ValidationError):
        entry.save()
    with pytest.raises(ValidationError):
        entry.delete()
    with pytest.raises(ValidationError):
        AuditEntry.objects.all().update(action="tampered")
    with pytest.raises(ValidationError):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.filter(action="tampered").count() == 0


def test_the_last_admin_cannot_be_removed_or_demoted(cast, acme):
    admin = Membership.objects.get(user=cast["admin"], organization=acme)
    with pytest.raises(Conflict):
        membership_remove(actor=cast["admin"], membership=admin)
    with pytest.raises(Conflict):
        membership_set_role(actor=cast["admin"], membership=admin, role="member")
    assert Membership.objects.filter(pk=admin.pk, role="admin").exists()


def test_policy_and_agent_changes_are_audited(cast, acme):
    policy_update(actor=cast["admin"], organization=acme, max_parallel_agents=2, approval_triggers=["any_write"])
    policy_update(actor=cast["admin"], organization=acme, max_parallel_agents=3)
    agent = AgentDefinition(
        organization=acme, slug="acme-linter", name="Acme linter", description="Lints.", when_to_use="Always.",
        system_prompt="Lint.", tools=["read_file", "finish"],
    )  # fmt: skip
    agent_definition_save(actor=cast["admin"], agent=agent)
    agent.description = "Lints harder."
    agent_definition_save(actor=cast["admin"], agent=agent)

    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions[-4:] == ["policy.created", "policy.changed", "agent.created", "agent.changed"]
    changed = AuditEntry.objects.get(action="policy.changed")
    assert changed.before["max_parallel_agents"] == 2 and changed.after["max_parallel_agents"] == 3
    agent_changed = AuditEntry.objects.get(action="agent.changed")
    assert agent_changed.before["description"] == "Lints." and agent_changed.after["description"] == "Lints harder."


def test_revoking_a_membership_hides_the_organisations_sessions_at_once(cast, acme):
    session = DevelopmentSession.objects.create(organization=acme, created_by=cast["lead"], intent="x")
    assert sessions_visible_to(cast["member2"]).filter(pk=session.pk).exists()

    membership_remove(actor=cast["admin"], membership=Membership.objects.get(user=cast["member2"], organization=acme))

    assert not sessions_visible_to(cast["member2"]).filter(pk=session.pk).exists()
    assert not session_access(cast["member2"], session).can_view
