"""List endpoints cost the same number of queries at 10 rows and at 1,000 (STYLE #13)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents_app.models import AgentDefinition, AgentRun
from artifacts_app.models import Artifact, ArtifactVersion
from sessions_app.models import ApprovalRequest, DevelopmentSession, SessionEvent


def queries(client, url: str) -> int:  # noqa: ANN001
    client.get(url)  # warm process-wide caches (content types, permissions) so both sizes compare alike
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return len(captured)


def fill(session: DevelopmentSession, n: int) -> Artifact:
    agent = AgentDefinition.objects.get(slug="backend")
    now = timezone.now()
    SessionEvent.objects.bulk_create(
        SessionEvent(session=session, seq=i, type="test.x", actor_kind="system", actor_name="Harness", at=now)
        for i in range(1, n + 1)
    )
    DevelopmentSession.objects.filter(pk=session.pk).update(last_event_seq=n)
    runs = AgentRun.objects.bulk_create(AgentRun(session=session, agent=agent, position=i % 100) for i in range(n))
    ApprovalRequest.objects.bulk_create(
        ApprovalRequest(session=session, run=runs[i], action="write_file", summary="s") for i in range(n)
    )
    Artifact.objects.bulk_create(Artifact(session=session, path=f"f{i}.py", latest_version_number=1) for i in range(n))
    artifact = Artifact.objects.get(session=session, path="f0.py")
    ArtifactVersion.objects.bulk_create(
        ArtifactVersion(
            artifact=artifact, number=i, content="x", sha256="0", author_kind="agent", author_run=runs[i % n]
        )
        for i in range(1, n + 1)
    )
    return artifact


@pytest.mark.parametrize(
    "endpoint",
    ["sessions", "events", "approvals", "artifacts", "versions", "detail"],
)
def test_list_queries_do_not_grow_with_rows(cast, acme, api, endpoint):
    client = api(cast["lead"])
    counts = []
    for n in (10, 1000):
        DevelopmentSession.objects.bulk_create(
            DevelopmentSession(organization=acme, created_by=cast["member"], intent=f"s{i}") for i in range(n - 1)
        )
        session = DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="big")
        artifact = fill(session, n)
        url = {
            "sessions": "/api/v1/sessions/?page_size=200",
            "events": f"/api/v1/sessions/{session.public_id}/events/",
            "approvals": f"/api/v1/sessions/{session.public_id}/approvals/",
            "artifacts": f"/api/v1/sessions/{session.public_id}/artifacts/",
            "versions": f"/api/v1/artifacts/{artifact.public_id}/versions/",
            "detail": f"/api/v1/sessions/{session.public_id}/",
        }[endpoint]
        counts.append(queries(client, url))
    assert counts[0] == counts[1], f"{endpoint}: {counts[0]} queries at 10 rows, {counts[1]} at 1,000"
