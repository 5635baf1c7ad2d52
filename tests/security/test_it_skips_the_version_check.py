"""Issue 14 (9a): a person's edit names the version they opened. A version above the latest used to pass
the "someone wrote since you opened it" check; now it is a 409 naming the latest, and a version below 1 or
not an integer is a 400."""

from __future__ import annotations

import pytest

from artifacts_app.models import Artifact, ArtifactVersion
from sessions_app.models import DevelopmentSession, SessionEvent


@pytest.fixture
def artifact(cast, acme):  # noqa: ANN001, ANN201
    session = DevelopmentSession.objects.create(
        organization=acme, created_by=cast["member"], intent="build a chat app", status="running"
    )
    artifact = Artifact.objects.create(session=session, path="app/api.py", kind="code", latest_version_number=1)
    ArtifactVersion.objects.create(
        artifact=artifact, number=1, content="print(1)\n", sha256="0" * 64, author_kind="agent"
    )
    return artifact


def edit(api, user, artifact, base_version):  # noqa: ANN001, ANN201
    body = {"content": "print(2)\n", "base_version": base_version}
    return api(user).put(f"/api/v1/artifacts/{artifact.public_id}/", body, format="json")


def test_it_skips_the_version_check_with_a_version_from_the_future(cast, api, artifact):
    response = edit(api, cast["member"], artifact, 10**30)

    assert response.status_code == 409, response.content
    body = response.json()
    assert "latest is v1" in body["detail"] and body["errors"]["base_version"] == ["The latest version is 1."]
    assert list(artifact.versions.values_list("number", flat=True)) == [1]
    assert not SessionEvent.objects.filter(session=artifact.session, type__startswith="artifact.").exists()


def test_it_skips_the_version_check_with_the_next_version_number(cast, api, artifact):
    assert edit(api, cast["member"], artifact, 2).status_code == 409
    assert artifact.versions.count() == 1


@pytest.mark.parametrize("base_version", [0, -1, 1e30, 1.5, "one", True, None, ""])
def test_it_sends_a_version_that_is_not_a_version(cast, api, artifact, base_version):
    response = edit(api, cast["member"], artifact, base_version)

    assert response.status_code == 400, response.content
    assert response.json()["detail"] and "base_version" in response.json()["errors"]
    assert artifact.versions.count() == 1


def test_the_latest_version_is_still_editable(cast, api, artifact):
    response = edit(api, cast["member"], artifact, 1)

    assert response.status_code == 201, response.content
    assert response.json()["number"] == 2


def test_an_edit_of_an_older_version_is_still_the_usual_conflict(cast, api, artifact):
    assert edit(api, cast["lead"], artifact, 1).status_code == 201  # the lead writes v2 meanwhile

    response = edit(api, cast["member"], artifact, 1)

    assert response.status_code == 409
    assert "changed since you opened it (now v2, you edited v1)" in response.json()["detail"]
    conflict = SessionEvent.objects.get(session=artifact.session, type="artifact.conflict")
    assert conflict.data["base_version"] == 1 and conflict.data["latest_version"] == 2
