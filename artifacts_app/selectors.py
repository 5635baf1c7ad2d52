"""Reads of a session's files."""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet

from artifacts_app.models import Artifact, ArtifactVersion
from sessions_app.access import sessions_visible_to
from sessions_app.errors import NotFound
from sessions_app.models import DevelopmentSession, SessionStatus


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


def inherited_contents(*, session: DevelopmentSession) -> dict[str, tuple[int, str, str]]:
    """An epic child's view of its completed siblings' files: path → (version, content, sibling id).

    Later finishers win a path; the child's own files (`latest_contents`) win over all of these."""
    if session.parent_id is None:
        return {}
    rows = (
        ArtifactVersion.objects.filter(
            artifact__session__parent_id=session.parent_id,
            artifact__session__status=SessionStatus.COMPLETED,
            number=F("artifact__latest_version_number"),
        )
        .exclude(artifact__session_id=session.pk)
        .order_by("artifact__session__finished_at", "artifact__session_id")
        .values_list("artifact__path", "number", "content", "artifact__session__public_id")
    )
    return {path: (number, content, source) for path, number, content, source in rows}


def concurrent_writers(*, session: DevelopmentSession, path: str) -> list[dict[str, Any]]:
    """Other unfinished sessions of the organisation that have written `path` (cross-session conflicts)."""
    return list(
        Artifact.objects.filter(
            path=path,
            session__organization_id=session.organization_id,
            session__status__in=(SessionStatus.PLANNING, SessionStatus.RUNNING, SessionStatus.PAUSED),
        )
        .exclude(session_id=session.pk)
        .order_by("session_id")
        .values("session_id", "session__public_id", "session__intent")[:10]
    )


def session_changes(
    *, session: DevelopmentSession, agent: str | None = None, run: str | None = None
) -> QuerySet[ArtifactVersion]:
    """Every version written in the session (each with its diff against the one before), by file then
    number, optionally only those of one agent (slug) or one run: the Changes view in one query."""
    versions = ArtifactVersion.objects.filter(artifact__session=session)
    if agent:
        versions = versions.filter(author_run__agent__slug=agent)
    if run:
        versions = versions.filter(author_run__public_id=run)
    return versions.select_related("artifact", "author_user", "author_run__agent").order_by("artifact__path", "number")
