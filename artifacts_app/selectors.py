"""Reads of a session's files."""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet

from artifacts_app.models import Artifact, ArtifactVersion
from sessions_app.access import sessions_visible_to
from sessions_app.errors import NotFound
from sessions_app.models import DevelopmentSession


def artifact_list(*, session: DevelopmentSession) -> QuerySet[Artifact]:
    return Artifact.objects.filter(session=session).order_by("path")


def artifact_get(*, user: Any, public_id: str) -> Artifact:
    artifact = (
        Artifact.objects.filter(public_id=public_id, session__in=sessions_visible_to(user))
        .select_related("session__organization")
        .first()
    )
    if artifact is None:
        raise NotFound(f"Artifact {public_id!r} not found.")
    return artifact


def version_list(*, artifact: Artifact) -> QuerySet[ArtifactVersion]:
    return artifact.versions.select_related("author_user", "author_run__agent").order_by("number")


def latest_contents(*, session: DevelopmentSession) -> dict[str, tuple[int, str]]:
    """path → (version number, content) of the latest version of every file, in one query."""
    rows = ArtifactVersion.objects.filter(
        artifact__session=session, number=F("artifact__latest_version_number")
    ).values_list("artifact__path", "number", "content")
    return {path: (number, content) for path, number, content in rows}
