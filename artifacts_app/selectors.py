"""Reads of a session's files."""

from __future__ import annotations

from typing import Any

from django.db.models import F, Func, IntegerField, QuerySet

from artifacts_app.models import Artifact, ArtifactVersion
from sessions_app.access import sessions_visible_to
from sessions_app.errors import NotFound
from sessions_app.models import DevelopmentSession, SessionStatus


def artifact_list(*, session: DevelopmentSession) -> QuerySet[Artifact]:
    return Artifact.objects.filter(session=session).order_by("path")


def artifact_tree(*, session: DevelopmentSession) -> dict[str, dict[str, Any]]:
    """Every file of the session for the page's tree, in two queries whatever its size: path → id, latest
    version, kind and who wrote it (`agent:slug` / `person:name`, as the artifact events name them)."""
    files = {
        pk: {"path": path, "id": public_id, "version": version, "kind": kind, "authors": []}
        for pk, path, public_id, version, kind in Artifact.objects.filter(session=session)
        .order_by("path")
        .values_list("pk", "path", "public_id", "latest_version_number", "kind")
    }
    writers = (
        ArtifactVersion.objects.filter(artifact__session=session)
        .values_list("artifact_id", "author_kind", "author_run__agent__slug", "author_user__username")
        .order_by("artifact_id", "author_kind", "author_run__agent__slug", "author_user__username")
        .distinct()
    )
    for artifact_id, kind, slug, username in writers:
        who = f"agent:{slug}" if kind == "agent" and slug else f"person:{username or 'Harness'}"
        authors = files[artifact_id]["authors"] if artifact_id in files else []
        if who not in authors:
            authors.append(who)
    return {entry.pop("path"): entry for entry in files.values()}


def artifact_get(*, user: Any, public_id: str) -> Artifact:
    artifact = (
        Artifact.objects.filter(public_id=public_id, session__in=sessions_visible_to(user))
        .select_related("session__organization")
        .first()
    )
    if artifact is None:
        raise NotFound(f"Artifact {public_id!r} not found.")
    return artifact


class OctetLength(Func):
    """The size of a text in bytes. PostgreSQL reads it from the value's header, without fetching a TOASTed text."""

    function = "OCTET_LENGTH"
    output_field = IntegerField()

    def as_sqlite(self, compiler, connection, **extra_context):  # noqa: ANN001, ANN003, ANN201
        return self.as_sql(compiler, connection, template="LENGTH(CAST(%(expressions)s AS BLOB))", **extra_context)


def version_list(*, artifact: Artifact, with_content: bool = False) -> QuerySet[ArtifactVersion]:
    """The artifact's versions, oldest first, each with its author, its parent's number and its size in bytes;
    the contents only when asked (a file with hundreds of versions is megabytes of text)."""
    versions = (
        artifact.versions.select_related("author_user", "author_run__agent")
        .annotate(parent_number=F("parent__number"), size=OctetLength("content"))
        .order_by("number")
    )
    return versions if with_content else versions.defer("content")


def version_brief_list(*, artifact: Artifact) -> list[dict[str, Any]]:
    """Number, author and time of every version (the code panel's version picker): no contents, no diffs."""
    return list(
        artifact.versions.order_by("number").values(
            "number", "created_at", "author_run_id", "author_run__agent__slug", "author_user__username"
        )
    )


def latest_contents(*, session: DevelopmentSession) -> dict[str, tuple[int, str]]:
    """path → (version number, content) of the latest version of every file, in one query."""
    rows = ArtifactVersion.objects.filter(
        artifact__session=session, number=F("artifact__latest_version_number")
    ).values_list("artifact__path", "number", "content")
    return {path: (number, content) for path, number, content in rows}


def latest_numbers(*, session: DevelopmentSession) -> dict[str, int]:
    """path → latest version number of every file (no contents)."""
    rows = Artifact.objects.filter(session=session, latest_version_number__gt=0)
    return dict(rows.values_list("path", "latest_version_number"))


def latest_content(*, session: DevelopmentSession, path: str) -> tuple[int, str] | None:
    """(version number, content) of one file's latest version, or None."""
    row = (
        ArtifactVersion.objects.filter(
            artifact__session=session, artifact__path=path, number=F("artifact__latest_version_number")
        )
        .values_list("number", "content")
        .first()
    )
    return (row[0], row[1]) if row else None


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
