"""GET sessions/{id}/changes/: every file changed in the session, each change with its author and diff,
filterable by agent or run, in a constant number of queries, and only for those who see the session."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm

from agents_app.models import AgentDefinition, AgentRun
from artifacts_app.models import Artifact
from artifacts_app.services import artifact_write
from sessions_app.events import Actor
from sessions_app.models import DevelopmentSession

pytestmark = pytest.mark.django_db


def by_agent(session, run, path: str, content: str) -> None:  # noqa: ANN001
    actor = Actor.for_agent(run.agent.slug)
    artifact_write(session=session, path=path, content=content, actor=actor, base_number=None, author_run=run)


@pytest.fixture
def session(cast, acme):  # noqa: ANN001, ANN201
    session = DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="build a chat app")
    backend = AgentRun.objects.create(session=session, agent=AgentDefinition.objects.get(slug="backend"), position=0)
    frontend = AgentRun.objects.create(session=session, agent=AgentDefinition.objects.get(slug="frontend"), position=1)
    by_agent(session, backend, "app/api.py", "a = 1\n")
    by_agent(session, backend, "app/api.py", "a = 2\n")
    by_agent(session, frontend, "web/app.js", "x()\n")
    artifact_write(
        session=session, path="web/app.js", content="y()\n", actor=Actor.for_user(cast["member"]), base_number=1
    )
    session.backend, session.frontend = backend, frontend
    return session


def test_it_lists_every_changed_file_with_its_authors_and_diffs(api, cast, session):
    body = api(cast["member"]).get(f"/api/v1/sessions/{session.public_id}/changes/").json()

    files = {f["path"]: f for f in body["files"]}
    assert list(files) == ["app/api.py", "web/app.js"]
    api_py, app_js = files["app/api.py"], files["web/app.js"]
    assert api_py["artifact"] == Artifact.objects.get(session=session, path="app/api.py").public_id
    assert api_py["version"] == 2 and [c["version"] for c in api_py["changes"]] == [1, 2]
    assert api_py["authors"] == [{"kind": "agent", "name": "backend", "run": session.backend.public_id}]
    assert "-a = 1\n+a = 2" in api_py["changes"][1]["diff"]
    assert (api_py["changes"][1]["added"], api_py["changes"][1]["removed"]) == (1, 1)
    assert [a["name"] for a in app_js["authors"]] == ["frontend", "member"]
    assert {a["name"] for a in body["authors"]} == {"backend", "frontend", "member"}


def test_it_filters_by_agent_and_by_run(api, cast, session):
    client = api(cast["member"])
    by_agent = client.get(f"/api/v1/sessions/{session.public_id}/changes/?agent=frontend").json()
    assert [(f["path"], [c["version"] for c in f["changes"]]) for f in by_agent["files"]] == [("web/app.js", [1])]

    by_run = client.get(f"/api/v1/sessions/{session.public_id}/changes/?run={session.backend.public_id}").json()
    assert [f["path"] for f in by_run["files"]] == ["app/api.py"]
    assert client.get(f"/api/v1/sessions/{session.public_id}/changes/?run=run_nobody").json()["files"] == []


@pytest.mark.parametrize(
    ("who", "status"), [(None, 401), ("outsider", 404), ("guest", 200), ("member2", 200), ("lead", 200)]
)
def test_who_may_read_the_changes(api, cast, session, who, status):
    if who == "guest":
        assign_perm("sessions_app.view_developmentsession", cast["guest"], session)
    response = api(cast[who] if who else None).get(f"/api/v1/sessions/{session.public_id}/changes/")
    assert response.status_code == status, response.content[:200]


def test_its_queries_do_not_grow_with_the_changes(api, cast, session):
    client = api(cast["lead"])
    url = f"/api/v1/sessions/{session.public_id}/changes/"
    counts = []
    for extra in (0, 60):
        for i in range(extra):
            run = session.backend if i % 2 else session.frontend
            by_agent(session, run, f"f{i % 20}.py", f"v{i}\n")
        client.get(url)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("query", ["run=run_x%00", "run=%C3%89%C2%AD%00", "agent=back%00end", "agent=a%20b", "run="])
def test_a_filter_that_is_not_an_id_is_a_400_not_a_500(api, cast, session, query):  # noqa: ANN001
    response = api(cast["member"]).get(f"/api/v1/sessions/{session.public_id}/changes/?{query}")
    assert response.status_code == 400, response.content
    assert response.json()["detail"]
