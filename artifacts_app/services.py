"""Writing files: every write is a new version with a diff; concurrent writers never overwrite silently."""

from __future__ import annotations

import difflib
import hashlib
import posixpath
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Case, F, FilteredRelation, Q, TextField, Value, When
from django.utils import timezone

from agents_app.models import ArtifactKind
from artifacts_app.models import RESERVED_TOP, Artifact, ArtifactVersion, artifact_path_problem, is_reserved_path
from sessions_app import inputs
from sessions_app.access import require_session_access
from sessions_app.errors import Conflict, InvalidInput
from sessions_app.events import Actor, event_record, open_batch, session_lock_row
from sessions_app.models import DevelopmentSession, SessionStatus

MAX_CONTENT_BYTES = inputs.ARTIFACT_CONTENT.max_bytes
UNFINISHED = (SessionStatus.PLANNING, SessionStatus.RUNNING, SessionStatus.PAUSED)
LANGUAGES = {
    ".py": "python", ".js": "javascript", ".ts": "typescript", ".tsx": "tsx", ".jsx": "jsx", ".html": "html",
    ".css": "css", ".md": "markdown", ".json": "json", ".yml": "yaml", ".yaml": "yaml", ".sql": "sql",
    ".sh": "bash", ".toml": "toml", ".txt": "text", ".go": "go", ".rs": "rust", ".java": "java",
}  # fmt: skip


@dataclass(frozen=True)
class WriteResult:
    artifact: Artifact
    version: ArtifactVersion | None
    #: "created", "updated", "unchanged" or "conflict"
    outcome: str
    latest_number: int


def normalise_path(path: str) -> str:
    """The workspace path a writer means (`\\` read as `/`, a leading `./` dropped), or a 400 saying why not."""
    raw = str(path if path is not None else "").strip(" ").replace("\\", "/")
    clean = raw[2:] if raw.startswith("./") else raw
    problem = artifact_path_problem(clean)
    if problem:
        raise InvalidInput(
            f"Path {path!r} is refused: {problem}. Use a relative path inside the session workspace, "
            "such as app/models.py.",
            errors={"path": [problem]},
        )
    return clean


@dataclass(frozen=True)
class WriteTarget:
    """What a write of `path` meets, read in one query: the file as it is (if it exists), with its latest version."""

    path: str
    artifact_id: int | None = None
    artifact_public_id: str = ""
    kind: str = ""
    language: str = ""
    latest_number: int = 0
    latest_version_id: int | None = None
    latest_content: str = ""
    latest_author_run_id: int | None = None
    latest_author_user_id: int | None = None
    #: Other unfinished sessions of the organisation that wrote this path (asked with `other_writers`).
    other_writers: list[dict[str, Any]] = field(default_factory=list)


def write_target(
    *, session: DevelopmentSession, path: str, actor: Actor, other_writers: bool = False
) -> WriteTarget:
    """The path may be written by this actor and fits the session's tree: no file where a folder is (or the
    reverse), no second spelling of a path on case-insensitive filesystems. Inherited files of an epic's
    siblings count, since the child's workspace holds them too. Raises InvalidInput (errors["path"]) when not.

    One query finds the clashes, the file itself with its latest version and, with `other_writers`, the other
    unfinished sessions of the organisation that wrote the path (`concurrent_writers`; a second query for an
    epic's child)."""
    if is_reserved_path(path) and actor.kind != "system":
        raise InvalidInput(
            f"Path {path!r} is refused: {RESERVED_TOP}/ holds the platform's reports. Write somewhere else.",
            errors={"path": [f"{RESERVED_TOP}/ is reserved for the platform."]},
        )
    query = _clash_query(path)
    wanted = Q(session=session) & (query | Q(path=path))
    if other_writers:
        wanted |= Q(path=path, session__organization_id=session.organization_id, session__status__in=UNFINISHED) & ~Q(
            session=session
        )
    own = Q(session_id=session.pk)
    latest = FilteredRelation("versions", condition=Q(versions__number=F("latest_version_number")))
    rows = list(
        Artifact.objects.filter(wanted)
        .annotate(
            latest=latest,
            # another session's file is named, never read
            latest_content=Case(When(own, then=F("latest__content")), default=Value(""), output_field=TextField()),
        )
        .order_by("session_id")
        .values_list(
            "path", "pk", "public_id", "kind", "language", "latest_version_number", "latest__pk", "latest_content",
            "latest__author_run_id", "latest__author_user_id", "session_id", "session__public_id", "session__intent",
        )  # fmt: skip
    )
    others = [
        {"session_id": row[10], "session__public_id": row[11], "session__intent": row[12]}
        for row in rows
        if row[10] != session.pk
    ][:10]
    rows = [row for row in rows if row[10] == session.pk]
    clashes = [row[0] for row in rows if row[0] != path]
    if session.parent_id is not None:
        clashes += (
            Artifact.objects.filter(
                query, session__parent_id=session.parent_id, session__status=SessionStatus.COMPLETED
            )
            .exclude(session_id=session.pk)
            .exclude(path=path)
            .values_list("path", flat=True)
        )
    if clashes:
        _refuse_clash(path, sorted(set(clashes))[0])
    mine = next((row for row in rows if row[0] == path), None)
    if mine is None:
        return WriteTarget(path=path, other_writers=others)
    artifact_id, public_id, kind, language, number, version_id, content, author_run_id, author_user_id = mine[1:10]
    return WriteTarget(
        path=path,
        artifact_id=artifact_id,
        artifact_public_id=public_id,
        kind=kind,
        language=language,
        latest_number=number if version_id is not None else 0,
        latest_version_id=version_id,
        latest_content=content or "",
        latest_author_run_id=author_run_id,
        latest_author_user_id=author_user_id,
        other_writers=others,
    )


def _clash_query(path: str) -> Q:
    folders = ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)]
    query = Q(path__iexact=path) | Q(path__istartswith=f"{path}/")
    for folder in folders:
        query |= Q(path__iexact=folder)
    return query & ~Q(path=path)


def _refuse_clash(path: str, other: str) -> None:
    if other.lower() == path.lower():
        problem = f"it differs only in letter case from {other}, and both would be one file on many filesystems"
        advice = f"Write to {other} instead."
    elif other.lower().startswith(path.lower() + "/"):
        problem = f"{path} is a folder here (it holds {other}), so it cannot also be a file"
        advice = "Choose another name for this file."
    else:
        problem = f"{other} is a file here, so it cannot also be a folder"
        advice = f"Put this file in another folder, or write {other} itself."
    raise InvalidInput(f"Path {path!r} is refused: {problem}. {advice}", errors={"path": [problem]})


def kind_for(path: str) -> str:
    name = posixpath.basename(path)
    if path.startswith("tests/") or name.startswith("test_") or ".test." in name or ".spec." in name:
        return ArtifactKind.TESTS
    if path.endswith((".md", ".rst", ".txt")) or path.startswith("docs/"):
        return ArtifactKind.DOCS
    return ArtifactKind.CODE


def language_for(path: str) -> str:
    if posixpath.basename(path) == "Dockerfile":
        return "docker"
    return LANGUAGES.get(posixpath.splitext(path)[1].lower(), "")


def artifact_write(
    *,
    session: DevelopmentSession,
    path: str,
    content: str,
    actor: Actor,
    base_number: int | None,
    kind: str | None = None,
    author_run: Any | None = None,
    author_step: int | None = None,
    target: WriteTarget | None = None,
) -> WriteResult:
    """Write a new version of `path` if the writer has seen the latest one.

    `base_number` is the version the writer last saw (0 or None for "I believe it is new"). When
    someone else has written a newer version since, nothing is overwritten: an `artifact.conflict`
    event is recorded and the outcome is "conflict", so the writer can read, merge and write again.

    Inside an agent's step (an `event_batch` holds the session lock) it adds to the step's transaction: a read
    (none when the caller passes the `target` it read under the same lock) and two writes. Everything it refuses,
    it refuses before writing anything, so a caller may catch the refusal and go on.
    """
    path = normalise_path(path)
    if len(content.encode()) > MAX_CONTENT_BYTES:
        raise InvalidInput(f"{path} is larger than {MAX_CONTENT_BYTES // 1024} KB.", errors={"content": ["Too large."]})
    if kind is not None and kind not in ArtifactKind.values:
        kind = None
    if open_batch(session.pk) is not None:
        return _write_locked(session, path, content, actor, base_number, kind, author_run, author_step, target)
    with transaction.atomic():
        session_lock_row(session.pk)
        return _write_locked(session, path, content, actor, base_number, kind, author_run, author_step, None)


def _write_locked(
    session: DevelopmentSession,
    path: str,
    content: str,
    actor: Actor,
    base_number: int | None,
    kind: str | None,
    author_run: Any | None,
    author_step: int | None,
    target: WriteTarget | None,
) -> WriteResult:
    if target is None or target.path != path:
        target = write_target(session=session, path=path, actor=actor)
    latest_number = target.latest_number
    if (base_number or 0) > latest_number:
        raise Conflict(
            f"{path} has no version {base_number}: its latest is v{latest_number}. Read v{latest_number} and "
            f"write again with base_version {latest_number}.",
            errors={"base_version": [f"The latest version is {latest_number}."]},
        )
    if latest_number > (base_number or 0) and not _same_writer(target, author_run, actor):
        artifact = Artifact.objects.get(pk=target.artifact_id)
        event_record(
            session=session,
            type="artifact.conflict",
            actor=actor,
            run=author_run,
            data={
                "artifact": artifact.public_id,
                "path": path,
                "base_version": base_number or 0,
                "latest_version": latest_number,
                "latest_author": _author_name(ArtifactVersion.objects.get(pk=target.latest_version_id)),
            },
        )
        return WriteResult(artifact=artifact, version=None, outcome="conflict", latest_number=latest_number)
    if target.latest_version_id is not None and target.latest_content == content:
        latest = ArtifactVersion.objects.select_related("artifact").get(pk=target.latest_version_id)
        return WriteResult(artifact=latest.artifact, version=latest, outcome="unchanged", latest_number=latest_number)

    number = latest_number + 1
    if target.artifact_id is None:  # the session lock keeps anyone else from creating it meanwhile
        artifact = Artifact.objects.create(
            session=session, path=path, kind=kind or kind_for(path), language=language_for(path),
            latest_version_number=number,
        )  # fmt: skip
    else:
        artifact = Artifact(
            pk=target.artifact_id, public_id=target.artifact_public_id, session=session, path=path, kind=target.kind,
            language=target.language, latest_version_number=number,
        )  # fmt: skip
        Artifact.objects.filter(pk=target.artifact_id).update(latest_version_number=number, updated_at=timezone.now())
    diff = _diff(path, target.latest_content, content)
    version = ArtifactVersion.objects.create(
        artifact=artifact,
        number=number,
        content=content,
        sha256=hashlib.sha256(content.encode()).hexdigest(),
        author_kind=actor.kind,
        author_user=actor.user,
        author_run=author_run,
        author_step=author_step,
        parent_id=target.latest_version_id,
        diff=diff,
    )
    outcome = "created" if target.artifact_id is None else "updated"
    event_record(
        session=session,
        type=f"artifact.{outcome}",
        actor=actor,
        run=author_run,
        data={
            "artifact": artifact.public_id,
            "path": path,
            "kind": artifact.kind,
            "language": artifact.language,
            "version": version.number,
            "lines": content.count("\n") + 1,
            **dict(zip(("added", "removed"), diff_line_counts(diff), strict=True)),
        },
    )
    return WriteResult(artifact=artifact, version=version, outcome=outcome, latest_number=version.number)


def artifact_edit(*, user: Any, artifact: Artifact, content: str, base_number: int) -> ArtifactVersion:
    """A person edits a file: a new version by them, refused (409) if an agent wrote since they opened it."""
    session = artifact.session
    require_session_access(user, session, "collaborate", doing="edit files")
    content = inputs.clean_text(content, inputs.ARTIFACT_CONTENT, field="content")
    result = artifact_write(
        session=session, path=artifact.path, content=content, actor=Actor.for_user(user), base_number=base_number
    )
    if result.outcome == "conflict":
        raise Conflict(
            f"{artifact.path} changed since you opened it (now v{result.latest_number}, you edited "
            f"v{base_number}); reload and apply your edit again."
        )
    return result.version


def _same_writer(target: WriteTarget, run: Any | None, actor: Actor) -> bool:
    """A run rewriting its own latest version is not a conflict."""
    if target.latest_version_id is None:
        return True
    if run is not None:
        return target.latest_author_run_id == run.pk
    return actor.user is not None and target.latest_author_user_id == actor.user.pk


def _author_name(version: ArtifactVersion | None) -> str:
    if version is None:
        return ""
    if version.author_run_id:
        return version.author_run.agent.slug
    return version.author_user.username if version.author_user_id else version.author_kind


def diff_line_counts(diff: str) -> tuple[int, int]:
    """(lines added, lines removed) by a unified diff, its file headers left out."""
    lines = diff.splitlines()
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return added, removed


def _diff(path: str, before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )
