"""Every endpoint × every kind of caller → the expected status (STYLE #7).

Read the table below as the contract: 401 without credentials, 404 for what the caller may not
see (another organisation's ids look like missing ones), 403 for what they see but may not do."""

from __future__ import annotations

import pytest

from agents_app.models import RunStatus
from tests.api.conftest import ACTORS

# actor columns:      anonymous member member2 lead admin outsider guest_view guest_collab
VIEW = dict(zip(ACTORS, [401, 200, 200, 200, 200, 404, 200, 200], strict=True))
COLLABORATE = dict(zip(ACTORS, [401, 201, 201, 201, 201, 404, 403, 201], strict=True))
CONTROL = dict(zip(ACTORS, [401, 200, 403, 200, 200, 404, 403, 403], strict=True))
DECIDE = dict(zip(ACTORS, [401, 403, 403, 200, 200, 404, 403, 403], strict=True))
MEMBERS_ONLY = dict(zip(ACTORS, [401, 200, 200, 200, 200, 404, 404, 404], strict=True))
CREATE = dict(zip(ACTORS, [401, 201, 201, 201, 201, 404, 404, 404], strict=True))
AUTHOR_OR_LEAD = dict(zip(ACTORS, [401, 204, 403, 204, 204, 404, 404, 404], strict=True))
ANY_USER = dict(zip(ACTORS, [401, 200, 200, 200, 200, 200, 200, 200], strict=True))
PUBLIC = dict.fromkeys(ACTORS, 200)

S, R, A, F, K = "{session}", "{run}", "{approval}", "{artifact}", "{knowledge}"
MATRIX = [
    # (name, method, path, body, session state, run state, expected by actor)
    ("organizations", "get", "/api/v1/organizations/", None, None, None, ANY_USER),
    ("agents", "get", "/api/v1/agents/?organization=acme", None, None, None, MEMBERS_ONLY),
    ("sessions list", "get", "/api/v1/sessions/", None, None, None, ANY_USER),
    (
        "session create",
        "post",
        "/api/v1/sessions/",
        {"organization": "acme", "intent": "build a todo app"},
        None,
        None,
        CREATE,
    ),
    ("session detail", "get", f"/api/v1/sessions/{S}/", None, None, None, VIEW),
    ("events", "get", f"/api/v1/sessions/{S}/events/?after=0", None, None, None, VIEW),
    ("feedback", "post", f"/api/v1/sessions/{S}/feedback/", {"text": "more tests please"}, None, None, COLLABORATE),
    ("conversation", "get", f"/api/v1/sessions/{S}/conversation/", None, None, None, VIEW),
    ("conversation post", "post", f"/api/v1/sessions/{S}/conversation/", {"text": "hello"}, None, None, COLLABORATE),
    ("requirements", "post", f"/api/v1/sessions/{S}/requirements/", {"text": "dark mode"}, None, None, COLLABORATE),
    ("share", "post", f"/api/v1/sessions/{S}/share/", {"username": "stranger", "level": "view"}, None, None, CONTROL),
    ("unshare", "post", f"/api/v1/sessions/{S}/unshare/", {"username": "guest"}, None, None, CONTROL),
    ("approvals", "get", f"/api/v1/sessions/{S}/approvals/", None, None, None, VIEW),
    ("decide", "post", f"/api/v1/approvals/{A}/decide/", {"decision": "approve"}, None, None, DECIDE),
    ("session pause", "post", f"/api/v1/sessions/{S}/pause/", None, "running", None, CONTROL),
    ("session resume", "post", f"/api/v1/sessions/{S}/resume/", None, "paused", None, CONTROL),
    ("session cancel", "post", f"/api/v1/sessions/{S}/cancel/", None, "running", None, CONTROL),
    ("session retry", "post", f"/api/v1/sessions/{S}/retry/", None, "failed", None, CONTROL),
    ("run pause", "post", f"/api/v1/sessions/{S}/runs/{R}/pause/", None, None, RunStatus.RUNNING, CONTROL),
    ("run resume", "post", f"/api/v1/sessions/{S}/runs/{R}/resume/", None, None, RunStatus.PAUSED, CONTROL),
    ("run cancel", "post", f"/api/v1/sessions/{S}/runs/{R}/cancel/", None, None, RunStatus.RUNNING, CONTROL),
    ("run retry", "post", f"/api/v1/sessions/{S}/runs/{R}/retry/", None, None, RunStatus.FAILED, CONTROL),
    ("artifacts", "get", f"/api/v1/sessions/{S}/artifacts/", None, None, None, VIEW),
    ("artifact", "get", f"/api/v1/artifacts/{F}/", None, None, None, VIEW),
    (
        "artifact edit",
        "put",
        f"/api/v1/artifacts/{F}/",
        {"content": "print(2)\n", "base_version": 1},
        None,
        None,
        COLLABORATE,
    ),
    ("artifact versions", "get", f"/api/v1/artifacts/{F}/versions/", None, None, None, VIEW),
    ("export zip", "get", f"/api/v1/sessions/{S}/export.zip", None, None, None, VIEW),
    ("analytics", "get", "/api/v1/analytics/?organization=acme", None, None, None, MEMBERS_ONLY),
    ("knowledge search", "get", "/api/v1/knowledge/?organization=acme&q=chat", None, None, None, MEMBERS_ONLY),
    (
        "knowledge create",
        "post",
        "/api/v1/knowledge/",
        {"organization": "acme", "title": "Reviews", "body": "Two approvals per change."},
        None,
        None,
        CREATE,
    ),
    ("knowledge detail", "get", f"/api/v1/knowledge/{K}/", None, None, None, MEMBERS_ONLY),
    ("knowledge delete", "delete", f"/api/v1/knowledge/{K}/", None, None, None, AUTHOR_OR_LEAD),
    ("openapi schema", "get", "/api/schema/", None, None, None, PUBLIC),
    ("api docs", "get", "/api/docs/", None, None, None, PUBLIC),
    ("healthz", "get", "/healthz", None, None, None, PUBLIC),
]
CASES = [
    pytest.param(name, method, path, body, state, run_state, actor, expected[actor], id=f"{name}-{actor}")
    for name, method, path, body, state, run_state, expected in MATRIX
    for actor in ACTORS
]


@pytest.mark.parametrize(("name", "method", "path", "body", "state", "run_state", "actor", "expected"), CASES)
def test_permission_matrix(world, as_actor, name, method, path, body, state, run_state, actor, expected):
    session = world["session"]
    if state:
        session.status = state
        session.save(update_fields=["status"])
    url = path.format(
        session=session.public_id,
        run=world["runs"][run_state or RunStatus.RUNNING].public_id,
        approval=world["approval"].public_id,
        artifact=world["artifact"].public_id,
        knowledge=world["knowledge"].public_id,
    )
    response = (
        getattr(as_actor(actor), method)(url, body, format="json") if body else getattr(as_actor(actor), method)(url)
    )

    assert response.status_code == expected, (name, actor, getattr(response, "data", response.content[:300]))
    if expected >= 400:
        assert response.json()["detail"], "every refusal says why"


def test_another_organisations_ids_look_missing(world, as_actor):
    outsider = as_actor("outsider")
    missing = outsider.get("/api/v1/sessions/dev_doesnotexist00000000/")
    foreign = outsider.get(f"/api/v1/sessions/{world['session'].public_id}/")
    assert missing.status_code == foreign.status_code == 404
    assert outsider.get("/api/v1/sessions/").json()["results"] == []
