"""A world to try every endpoint in: acme's session (started by member) with runs in each state,
a pending approval, a file, a knowledge note (by member), and two guests it is shared with (view, collaborate)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from guardian.shortcuts import assign_perm

from agents_app.models import AgentDefinition, AgentRun, KnowledgeDocument, RunStatus
from artifacts_app.models import Artifact, ArtifactVersion
from sessions_app.models import ApprovalRequest, DevelopmentSession

ACTORS = ["anonymous", "member", "member2", "lead", "admin", "outsider", "guest_view", "guest_collab"]


@pytest.fixture
def world(cast, acme):  # noqa: ANN001, ANN201
    User = get_user_model()
    collab = User.objects.create_user("collab", password="pw-collab-123")
    User.objects.create_user("stranger", password="pw-stranger-123")
    session = DevelopmentSession.objects.create(
        organization=acme, created_by=cast["member"], intent="build a chat app", status="running", plan={"agents": []}
    )
    agent = AgentDefinition.objects.get(slug="backend")
    runs = {
        status: AgentRun.objects.create(session=session, agent=agent, status=status, position=i)
        for i, status in enumerate([RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.FAILED])
    }
    approval = ApprovalRequest.objects.create(
        session=session, run=runs[RunStatus.RUNNING], action="write_file", summary="x"
    )
    artifact = Artifact.objects.create(session=session, path="app/api.py", kind="code", latest_version_number=1)
    ArtifactVersion.objects.create(
        artifact=artifact, number=1, content="print(1)\n", sha256="0" * 64, author_kind="user"
    )
    note = KnowledgeDocument.objects.create(
        organization=acme, created_by=cast["member"], title="Chat conventions", body="Order messages by seq."
    )
    assign_perm("sessions_app.view_developmentsession", cast["guest"], session)
    for perm in ("view_developmentsession", "collaborate_developmentsession"):
        assign_perm(f"sessions_app.{perm}", collab, session)
    users = {**cast, "guest_view": cast["guest"], "guest_collab": collab}
    return {
        "session": session,
        "runs": runs,
        "approval": approval,
        "artifact": artifact,
        "knowledge": note,
        "users": users,
    }


@pytest.fixture
def as_actor(world, api):  # noqa: ANN001, ANN201
    def client_for(actor: str):  # noqa: ANN202
        return api(None if actor == "anonymous" else world["users"][actor])

    return client_for
