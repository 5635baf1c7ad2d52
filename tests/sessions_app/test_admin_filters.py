"""The governance console's lists of sessions, runs, approvals and the audit trail: acme's admin filters and
searches them, and neither the rows nor the filters' choices ever name globex or what globex has."""

from __future__ import annotations

import re

import pytest

from agents_app.models import AgentDefinition, AgentRun
from sessions_app.models import ApprovalRequest, AuditEntry, DevelopmentSession, Organization

pytestmark = pytest.mark.django_db

SESSIONS = "/admin/sessions_app/developmentsession/"
RUNS = "/admin/agents_app/agentrun/"
APPROVALS = "/admin/sessions_app/approvalrequest/"
AUDIT = "/admin/sessions_app/auditentry/"


@pytest.fixture
def two_orgs(cast, acme):  # noqa: ANN001, ANN201
    """In each organisation: a running and a completed session, a run, a pending approval and an audit entry.
    Globex's have names acme's admin must never read, and its own private agent."""
    globex = Organization.objects.get(slug="globex")
    secret_agent = AgentDefinition.objects.get(slug="backend")
    secret_agent.pk, secret_agent.slug, secret_agent.name = None, "globex-quantum", "Globex quantum engineer"
    secret_agent.organization = globex
    secret_agent.save()
    rows = {}
    for org, user, word, agent in (
        (acme, cast["member"], "chat", AgentDefinition.objects.get(slug="architect")),
        (globex, cast["outsider"], "globex-secret", secret_agent),
    ):
        running = DevelopmentSession.objects.create(
            organization=org, created_by=user, intent=f"build a {word} app", status="running"
        )
        DevelopmentSession.objects.create(
            organization=org, created_by=user, intent=f"document the {word} api", status="completed"
        )
        run = AgentRun.objects.create(session=running, agent=agent, position=0, status="running")
        approval = ApprovalRequest.objects.create(
            session=running, run=run, action="write_file", summary=f"{agent.slug} writes {word}.py"
        )
        AuditEntry.objects.create(
            organization=org, actor=user, actor_name=user.username, action="policy.updated",
            target_type="policy", target_id=str(org.pk), target_repr=f"{word} policy",
        )  # fmt: skip
        rows[org.slug] = {"running": running, "run": run, "approval": approval}
    return rows


def page(client, path: str, **query) -> str:  # noqa: ANN001, ANN003
    """What the changelist shows: its rows and its filters' choices (not the search box's echo of the query)."""
    response = client.get(path, query)
    assert response.status_code == 200, (path, query, response.status_code)
    html = response.content.decode()
    shown = re.findall(r'<table id="result_list".*?</table>|<nav id="changelist-filter".*?</nav>', html, re.S)
    return re.sub(r'href="[^"]*"', "", " ".join(shown))


def test_it_filters_and_searches_sessions_within_the_admins_organisation(client, cast, two_orgs):
    client.force_login(cast["admin"])
    running = page(client, SESSIONS, status__exact="running")
    assert "build a chat app" in running and "document the chat api" not in running
    assert page(client, SESSIONS, q="member").count("dev_") == 2, "search by the starter's username"
    assert "document the chat api" in page(client, SESSIONS, q="document")
    assert "Acme Corp" in running and "By status" in running
    assert "By organization" not in running, "an admin of one organisation has no other to filter by"
    for html in (running, page(client, SESSIONS, q="globex-secret"), page(client, SESSIONS, q="outsider")):
        assert "globex" not in html.lower(), "no row, filter choice or search hit names globex"
    globex = Organization.objects.get(slug="globex")
    forged = page(client, SESSIONS, organization__id__exact=str(globex.pk))
    assert "globex-secret" not in forged and two_orgs["globex"]["running"].public_id not in forged


def test_it_filters_and_searches_runs_approvals_and_the_audit_trail(client, cast, two_orgs):
    client.force_login(cast["admin"])
    acme_run, globex_run = two_orgs["acme"]["run"], two_orgs["globex"]["run"]
    runs = page(client, RUNS, status__exact="running")
    assert acme_run.public_id in runs and globex_run.public_id not in runs
    assert acme_run.public_id in page(client, RUNS, q="architect")
    assert acme_run.public_id in page(client, RUNS, q="chat app")
    assert "quantum" not in runs.lower(), "the agent filter lists no other organisation's agent"

    approvals = page(client, APPROVALS, status__exact="pending")
    assert two_orgs["acme"]["approval"].public_id in approvals
    assert two_orgs["acme"]["approval"].public_id in page(client, APPROVALS, q="chat.py")
    assert page(client, APPROVALS, q="globex-secret").count("apr_") == 0

    audit = page(client, AUDIT, action__exact="policy.updated")
    assert "chat policy" in audit and "globex-secret policy" not in audit
    assert "chat policy" in page(client, AUDIT, q="policy.updated")
    assert "chat policy" not in page(client, AUDIT, q="role_changed")

    for html in (runs, approvals, audit, page(client, RUNS, q="quantum"), page(client, AUDIT, q="outsider")):
        assert "globex" not in html.lower() and "quantum" not in html.lower()


def test_a_superuser_still_filters_by_every_organisation(client, cast, two_orgs):
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-12345")
    client.force_login(root)
    html = page(client, SESSIONS)
    assert "Acme Corp" in html and "Globex" in html
    assert "globex-secret" in page(client, SESSIONS, q="globex-secret")
