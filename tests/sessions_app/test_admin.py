"""The governance console: every page renders, changes go through the audited services, the audit
trail cannot be edited, and an organisation's admin sees only their organisation."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from agents_app.models import AgentDefinition, AgentPolicy
from sessions_app.events import Actor, event_record
from sessions_app.models import AuditEntry, DevelopmentSession, Membership, Organization


@pytest.fixture
def root(cast):  # noqa: ANN001, ANN201
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-12345")


@pytest.fixture
def session(cast, acme):  # noqa: ANN001, ANN201
    session = DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="build a chat app")
    event_record(session=session, type="session.created", actor=Actor.system(), data={})
    return session


MODELS = [
    "sessions_app/organization", "sessions_app/membership", "sessions_app/developmentsession",
    "sessions_app/approvalrequest", "sessions_app/auditentry", "agents_app/agentdefinition",
    "agents_app/agentpolicy", "agents_app/agentrun", "agents_app/llmcall", "artifacts_app/artifact",
]  # fmt: skip


def test_every_governance_page_renders(client, root, session):
    client.force_login(root)
    assert client.get("/admin/").status_code == 200
    for model in MODELS:
        assert client.get(f"/admin/{model}/").status_code == 200, model
    assert client.get(f"/admin/sessions_app/developmentsession/{session.pk}/change/").status_code == 200
    agent = AgentDefinition.objects.get(slug="backend")
    assert client.get(f"/admin/agents_app/agentdefinition/{agent.pk}/change/").status_code == 200


def test_changing_a_role_in_the_admin_is_audited(client, cast, acme):
    client.force_login(cast["admin"])
    membership = Membership.objects.get(user=cast["member"], organization=acme)

    response = client.post(f"/admin/sessions_app/membership/{membership.pk}/change/", {"role": "lead"})

    assert response.status_code == 302
    assert Membership.objects.get(pk=membership.pk).role == "lead"
    entry = AuditEntry.objects.get(action="membership.role_changed")
    assert entry.actor == cast["admin"] and entry.before["role"] == "member" and entry.after["role"] == "lead"


def test_adding_a_membership_in_the_admin_is_audited(client, cast, acme):
    client.force_login(cast["admin"])

    client.post(
        "/admin/sessions_app/membership/add/", {"organization": acme.pk, "user": cast["guest"].pk, "role": "member"}
    )

    assert Membership.objects.filter(user=cast["guest"], organization=acme).exists()
    assert AuditEntry.objects.filter(action="membership.added", actor=cast["admin"]).exists()


def test_removing_the_last_admin_is_refused_with_a_message(client, cast, acme):
    client.force_login(cast["admin"])
    own = Membership.objects.get(user=cast["admin"], organization=acme)

    response = client.post(f"/admin/sessions_app/membership/{own.pk}/delete/", {"post": "yes"}, follow=True)

    assert Membership.objects.filter(pk=own.pk).exists()
    assert "last admin" in response.content.decode()


def test_a_policy_change_in_the_admin_is_audited_and_stores_a_list(client, cast, acme):
    client.force_login(cast["admin"])
    devops = AgentDefinition.objects.get(slug="devops")

    client.post(
        "/admin/agents_app/agentpolicy/add/",
        {
            "organization": acme.pk,
            "disabled_agents": [devops.pk],
            "approval_triggers": ["any_write", "restricted_agent_write"],
            "max_parallel_agents": 3,
            "cross_session_conflicts": "block",
            "token_budget_per_session": 100000,
            "verification": "gate",
            "verification_repair_rounds": 1,
        },
    )

    policy = AgentPolicy.objects.get(organization=acme)
    assert policy.approval_triggers == ["any_write", "restricted_agent_write"]
    assert list(policy.disabled_agents.all()) == [devops]
    entry = AuditEntry.objects.get(action="policy.created")
    assert entry.after["max_parallel_agents"] == 3 and entry.after["disabled_agents"] == [devops.pk]
    assert (policy.verification, policy.verification_repair_rounds) == ("gate", 1)
    assert entry.after["verification"] == "gate"
    assert policy.cross_session_conflicts == entry.after["cross_session_conflicts"] == "block"


def test_an_agent_definition_change_is_audited_with_before_and_after(client, root):
    client.force_login(root)
    agent = AgentDefinition.objects.get(slug="docs-writer")
    url = f"/admin/agents_app/agentdefinition/{agent.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    for field in ("capabilities", "default_dependencies", "artifact_kinds", "tools"):
        data[field] = form[field].value()
    data["description"] = "Writes the README, guides and API docs."
    data["enabled"] = "on"

    response = client.post(url, data)

    assert response.status_code == 302, response.content[:2000]
    entry = AuditEntry.objects.get(action="agent.changed")
    assert entry.before["description"] != entry.after["description"] == "Writes the README, guides and API docs."


def test_the_audit_trail_cannot_be_edited_from_the_admin(client, root, cast, acme):
    Membership.objects.get(user=cast["member"], organization=acme)
    from sessions_app.services.governance import membership_set_role

    membership_set_role(actor=root, membership=Membership.objects.get(user=cast["member"]), role="lead")
    entry = AuditEntry.objects.get(action="membership.role_changed")
    client.force_login(root)

    assert client.get("/admin/sessions_app/auditentry/add/").status_code == 403
    client.post(f"/admin/sessions_app/auditentry/{entry.pk}/delete/", {"post": "yes"})
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    assert client.post(f"/admin/sessions_app/auditentry/{entry.pk}/change/", {"action": "x"}).status_code == 403


def test_sessions_have_no_add_page(client, root):
    client.force_login(root)
    assert client.get(reverse("admin:sessions_app_developmentsession_add")).status_code == 403


def test_an_organisation_admin_sees_only_their_organisation(client, cast):
    client.force_login(cast["admin"])
    globex = Organization.objects.get(slug="globex")
    outsider_membership = Membership.objects.get(organization=globex)

    listing = client.get("/admin/sessions_app/membership/").content.decode()

    assert "outsider" not in listing and "member2" in listing
    assert client.get(f"/admin/sessions_app/membership/{outsider_membership.pk}/change/").status_code in (302, 404)
