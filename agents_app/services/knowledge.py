"""Writes to the organisation knowledge base: write, upload, save a session, delete — each audited."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import IO, Any

from django.conf import settings
from django.contrib.postgres.search import SearchVector
from django.db import connection, transaction
from django.db.models import Value

from agents_app.models import KnowledgeDocument, KnowledgeSource
from sessions_app import inputs
from sessions_app.access import has_role, organization_for, require_session_access, role_in
from sessions_app.errors import Conflict, InvalidInput, NotAllowed, NotFound, PayloadTooLarge, UnsupportedMediaType
from sessions_app.events import Actor, event_record
from sessions_app.models import ApprovalStatus, DevelopmentSession, Role, SessionStatus
from sessions_app.services.audit import audit_record, model_snapshot

TEXT_EXTENSIONS = {".md": "markdown", ".markdown": "markdown", ".txt": "text"}
MAX_TITLE = inputs.KNOWLEDGE_TITLE.max_length
MAX_TAGS = 20
MAX_TAG = 40
AUDITED_FIELDS = ["title", "tags", "source", "source_name", "source_session"]


def _clean(title: str, body: str, tags: list[str] | None) -> tuple[str, str, list[str]]:
    """Title and body by the input rules (`sessions_app.inputs`); every problem reported at once."""
    errors: dict[str, list[str]] = {}
    try:
        cleaned = inputs.clean_fields({"title": (title, inputs.KNOWLEDGE_TITLE), "body": (body, inputs.KNOWLEDGE_BODY)})
    except InvalidInput as exc:
        errors.update(exc.errors)
        cleaned = {"title": "", "body": ""}
    cleaned_tags = list(dict.fromkeys(t.strip().lower() for t in (tags or []) if isinstance(t, str) and t.strip()))
    tag_problems = [problem for problem in map(inputs.text_problem, cleaned_tags) if problem]
    if len(cleaned_tags) > MAX_TAGS or any(len(t) > MAX_TAG for t in cleaned_tags):
        errors["tags"] = [f"At most {MAX_TAGS} tags of at most {MAX_TAG} characters."]
    elif tag_problems:
        errors["tags"] = [f"'tags' {tag_problems[0]}"]
    inputs.raise_if_errors(errors)
    return cleaned["title"], cleaned["body"], cleaned_tags


def _index(document: KnowledgeDocument) -> None:
    """Title and tags weigh more (A) than the body (B). Only PostgreSQL keeps a search vector."""
    if connection.vendor != "postgresql":
        return
    vector = (
        SearchVector(Value(document.title), weight="A", config="english")
        + SearchVector(Value(" ".join(document.tags)), weight="A", config="english")
        + SearchVector(Value(document.body), weight="B", config="english")
    )
    KnowledgeDocument.objects.filter(pk=document.pk).update(search_vector=vector)


def knowledge_create(
    *,
    user: Any,
    organization: str,
    title: str,
    body: str,
    tags: list[str] | None = None,
    source: str = KnowledgeSource.MANUAL,
    source_name: str = "",
    source_session: DevelopmentSession | None = None,
) -> KnowledgeDocument:
    """Any member may add knowledge; it informs agents as reference text only."""
    org, _ = organization_for(user, organization)
    title, body, tags = _clean(title, body, tags)
    with transaction.atomic():
        document = KnowledgeDocument.objects.create(
            organization=org,
            title=title,
            body=body,
            tags=tags,
            source=source,
            source_name=source_name[:255],
            source_session=source_session,
            created_by=user,
        )
        _index(document)
        audit_record(
            actor=user,
            organization=org,
            action="knowledge.created",
            target=document,
            before=None,
            after=model_snapshot(document, AUDITED_FIELDS),
        )
    return document


def knowledge_upload(
    *, user: Any, organization: str, upload: IO[bytes], title: str = "", tags: list[str] | None = None
) -> KnowledgeDocument:
    """A .md or .txt file: UTF-8 text checked by content, not only by its name."""
    name = PurePath(getattr(upload, "name", "") or "upload.txt").name
    suffix = PurePath(name).suffix.lower()
    if suffix not in TEXT_EXTENSIONS:
        raise UnsupportedMediaType(
            f"{name!r} is not a Markdown or text file; upload .md or .txt.",
            errors={"file": ["Use a .md, .markdown or .txt file."]},
        )
    limit = settings.HARNESS_MAX_KNOWLEDGE_BYTES
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            f"{name!r} is over the {limit // 1024} KB limit for a knowledge document; split it.",
            errors={"file": [f"At most {limit} bytes."]},
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsupportedMediaType(
            f"{name!r} is not UTF-8 text (byte {exc.start} is not); save it as UTF-8 and upload again.",
            errors={"file": ["Not UTF-8 text."]},
        ) from exc
    if "\x00" in text:
        raise UnsupportedMediaType(f"{name!r} looks binary, not text.", errors={"file": ["Binary content."]})
    heading = re.search(r"^#{1,3}\s+(.+)$", text, flags=re.MULTILINE)
    title = title.strip() or (heading.group(1).strip() if heading else PurePath(name).stem.replace("-", " "))
    return knowledge_create(
        user=user,
        organization=organization,
        title=title[:MAX_TITLE],
        body=text,
        tags=tags,
        source=KnowledgeSource.UPLOAD,
        source_name=name,
    )


def knowledge_from_session(
    *, user: Any, session: DevelopmentSession, tags: list[str] | None = None
) -> KnowledgeDocument:
    """A completed session's intent, plan, decisions and summary, kept for the next sessions to learn from."""
    require_session_access(user, session, "collaborate", doing="save this session as knowledge")
    if role_in(user, session.organization_id) is None:
        raise NotAllowed("Only members of the organisation may add to its knowledge base.")
    if session.status != SessionStatus.COMPLETED:
        raise Conflict(f"Session {session.public_id} is {session.status}; only a completed session can be saved.")
    existing = KnowledgeDocument.objects.filter(source_session=session).values_list("public_id", flat=True).first()
    if existing:
        raise Conflict(f"Session {session.public_id} is already saved as knowledge {existing}.")
    return knowledge_create(
        user=user,
        organization=session.organization.slug,
        title=f"Session: {session.intent[:180]}",
        body=_session_record(session),
        tags=[session.task_type, "session", *(tags or [])],
        source=KnowledgeSource.SESSION,
        source_session=session,
    )


def _session_record(session: DevelopmentSession) -> str:
    lines = [f"# {session.intent}", "", f"Task type: {session.task_type}. Session {session.public_id}.", ""]
    requirements = list(session.requirements.order_by("id").values_list("text", "status"))
    if requirements:
        lines += ["## Requirements", *(f"- {text} ({status})" for text, status in requirements), ""]
    agents = (session.plan or {}).get("agents", [])
    if agents:
        lines += ["## Agents and why", *(f"- {a['name']}: {a.get('reason', '')}" for a in agents), ""]
    decisions = session.approvals.exclude(status=ApprovalStatus.PENDING).select_related("decided_by").order_by("id")
    if decisions:
        lines.append("## Decisions")
        lines += [
            f"- {d.summary} — {d.status} by {d.decided_by.get_username() if d.decided_by else 'system'}"
            + (f": {d.comment}" if d.comment else "")
            for d in decisions
        ]
        lines.append("")
    lines += ["## Outcome", session.completion_summary or "(no summary)"]
    return "\n".join(lines)


def knowledge_delete(*, user: Any, document: KnowledgeDocument) -> None:
    """The author, or a lead or admin of the organisation."""
    role = role_in(user, document.organization_id)
    if role is None:
        raise NotFound("Knowledge document not found.")
    if document.created_by_id != user.pk and not has_role(role, Role.LEAD):
        raise NotAllowed("Only its author or a lead may delete a knowledge document.")
    with transaction.atomic():
        before = model_snapshot(document, AUDITED_FIELDS)
        audit_record(
            actor=user,
            organization=document.organization,
            action="knowledge.deleted",
            target=document,
            before=before,
            after=None,
        )
        document.delete()


def knowledge_consulted(*, session: DevelopmentSession, decision: str, documents: list[dict], run: Any = None) -> None:
    """Record in the session's log which documents informed a decision (call inside its transaction)."""
    if not documents:
        return
    event_record(
        session=session,
        type="knowledge.consulted",
        actor=Actor.system(),
        run=run,
        data={"decision": decision, "documents": [{"id": d["id"], "title": d["title"]} for d in documents]},
    )
