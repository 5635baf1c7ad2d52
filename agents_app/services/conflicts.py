"""Two running sessions of one organisation writing the same path: detected, recorded, put to a lead.

Each session has its own workspace, so nothing is overwritten; but the two versions will meet when
the work is merged, so a lead decides which should stand. The policy says whether the later writer
waits for that decision (`block`: one approval per held-back write — Approve writes it, Reject drops
it) or goes on while it is pending (`flag`: one approval per pair of sessions, in each of the two
sessions, listing every path they share — Approve records that this session's versions stand).

No conflict approval outlives its session: when a session finishes, its pending ones are closed by the
system with an `approval.decided` event saying what stood (a flagged write stays as written: approved;
a held-back write was never made: rejected). The other session hears of every conflict in its own log,
after this transaction commits, in its own transaction — never two session locks at once.
"""

from __future__ import annotations

import difflib
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from agents_app.models import AgentRun, RunStatus
from agents_app.services.approvals import approval_open
from artifacts_app.models import ArtifactVersion
from sessions_app.access import sessions_visible_to
from sessions_app.events import Actor, event_record, session_lock_row
from sessions_app.models import ApprovalRequest, ApprovalStatus, DevelopmentSession, SessionStatus

ACTION = "cross_session_conflict"
ACTIVE = (SessionStatus.PLANNING, SessionStatus.RUNNING, SessionStatus.PAUSED)
DIFF_LINES = 400
LOCK_CLASS = 0x4C5A  # pg_advisory_xact_lock(class, organisation id): conflict detection


def already_flagged(session: DevelopmentSession, path: str) -> bool:
    """The path is listed in one of this session's conflict approvals (a rejected held-back write does not count:
    writing it again asks again).

    Called by the writer right before it looks for other writers, inside its step transaction: it first takes the
    organisation's conflict lock (PostgreSQL, released at commit), so two sessions writing one path at the same
    moment cannot both miss each other — the second waits, then sees the first's committed write."""
    _lock_organization(session.organization_id)
    listed = ApprovalRequest.objects.filter(session=session, action=ACTION).values_list("details", "status")
    return any(
        path in _paths(details) and (details.get("mode") == "flag" or status != ApprovalStatus.REJECTED)
        for details, status in listed
    )


def _lock_organization(organization_id: int) -> None:
    if connection.vendor == "postgresql":  # SQLite runs one writing transaction at a time anyway
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_CLASS, organization_id])


def conflict_details(session: DevelopmentSession, path: str, others: list[dict[str, Any]]) -> tuple[str, dict]:
    """A held-back write (block policy): one path, the sessions that wrote it too."""
    names = ", ".join(o["session__public_id"] for o in others)
    summary = (
        f"{path} is also being written by running session(s) {names}. Approve writes this session's version of "
        f"{path} (the other session keeps its own); Reject drops this write and the other version stands."
    )
    return summary, {"mode": "block", "path": path, "paths": [path], "sessions": [_brief(o) for o in others]}


def conflict_record(
    *, run: AgentRun, path: str, others: list[dict[str, Any]], actor: Actor, approval: ApprovalRequest | None
) -> ApprovalRequest:
    """Call inside the writer's step transaction. `approval` is the held-back write's (block policy); without
    one (flag policy) the path joins this session's open approval for each other session, or opens one."""
    session = run.session
    if approval is None:
        opened = [_pair_add(session=session, run=run, other=_brief(o), path=path, actor=actor) for o in others]
        approval = opened[0]
    data = {"path": path, "sessions": [_brief(o) for o in others], "approval": approval.public_id}
    data["blocking"] = run.status == RunStatus.AWAITING_APPROVAL
    event_record(session=session, type="conflict.detected", actor=actor, run=run, data=data)
    notify = [o["session_id"] for o in others] + ([session.parent_id] if session.parent_id else [])
    written_by = {"id": session.public_id, "intent": session.intent[:200], "agent": run.agent.slug}
    flag = not data["blocking"]
    transaction.on_commit(lambda: _tell_others(notify, path, written_by, approval.public_id, flag=flag))
    return approval


def _brief(other: dict[str, Any]) -> dict[str, str]:
    return {"id": other["session__public_id"], "intent": other["session__intent"][:200]}


def _paths(details: dict) -> list[str]:
    return list(details.get("paths") or ([details["path"]] if details.get("path") else []))


def _pair_summary(paths: list[str], other: str, *, effects: bool = True) -> str:
    shown = ", ".join(paths[:8]) + (f" and {len(paths) - 8} more" if len(paths) > 8 else "")
    summary = f"{len(paths)} path(s) also written by {other}: {shown}."
    if effects:  # the stored summary (events, CLI) carries them; the card lists them on their own lines
        summary += (
            " Approve: this session's versions stand (both sessions keep their own files; nothing is rewritten)."
            " Reject: the other session's versions should."
        )
    return summary


def _pair_add(
    *, session: DevelopmentSession, run: AgentRun | None, other: dict[str, str], path: str, actor: Actor
) -> ApprovalRequest:
    """Add `path` to this session's pending approval about `other`, or open it (flag policy)."""
    pending = ApprovalRequest.objects.select_for_update().filter(
        session=session, action=ACTION, status=ApprovalStatus.PENDING, details__mode="flag", details__other=other["id"]
    )
    approval = pending.order_by("id").first()
    if approval is None:
        details = {"mode": "flag", "other": other["id"], "path": path, "paths": [path], "sessions": [other]}
        summary = _pair_summary([path], f"session {other['id']}")
        if run is not None:
            return approval_open(run=run, action=ACTION, summary=summary, details=details, actor=actor)
        approval = ApprovalRequest.objects.create(session=session, action=ACTION, summary=summary, details=details)
        data = {"approval": approval.public_id, "action": ACTION, "summary": approval.summary, "details": details}
        event_record(session=session, type="approval.requested", actor=actor, data={**data, "blocking": False})
        return approval
    paths = _paths(approval.details)
    if path not in paths:
        approval.details = {**approval.details, "paths": [*paths, path]}
        approval.summary = _pair_summary(approval.details["paths"], f"session {other['id']}")
        approval.save(update_fields=["details", "summary"])
    return approval


def _tell_others(session_ids: list[int], path: str, written_by: dict, approval_id: str, *, flag: bool) -> None:
    """Each other session logs the conflict; under the flag policy a running one also lists the path in its own
    approval about the writer, so both sides' leads see every shared path."""
    for session_id in dict.fromkeys(session_ids):
        with transaction.atomic():
            session_lock_row(session_id)
            session = DevelopmentSession.objects.filter(pk=session_id).first()
            if session is None:
                continue
            data = {"path": path, "sessions": [written_by], "approval": approval_id, "elsewhere": True}
            is_party = written_by["id"] != session.public_id and session.task_type != "epic"
            if flag and is_party and session.status in ACTIVE:
                their_run = (
                    ArtifactVersion.objects.filter(artifact__session=session, artifact__path=path)
                    .order_by("-number")
                    .values_list("author_run_id", flat=True)
                    .first()
                )
                run = AgentRun.objects.filter(pk=their_run).select_related("agent", "session").first()
                other = {"id": written_by["id"], "intent": written_by["intent"]}
                own = _pair_add(session=session, run=run, other=other, path=path, actor=Actor.system())
                data["own_approval"] = own.public_id
            event_record(session=session, type="conflict.detected", actor=Actor.system(), data=data)


def conflicts_close(*, session: DevelopmentSession) -> list[ApprovalRequest]:
    """The session has finished: a decision can no longer change what it writes, so its pending conflict
    approvals are closed by the system with an event saying what stood. Call in the transaction that ends it."""
    closed = []
    pending = ApprovalRequest.objects.select_for_update().filter(
        session=session, action=ACTION, status=ApprovalStatus.PENDING
    )
    for approval in pending:
        written = approval.details.get("mode") == "flag"
        approval.status = ApprovalStatus.APPROVED if written else ApprovalStatus.REJECTED
        approval.comment = (
            f"Closed when the session became {session.status}, undecided: this session's versions stand as written."
            if written
            else f"Closed when the session became {session.status}, undecided: the held-back write was never made."
        )
        approval.decided_at = timezone.now()
        approval.save(update_fields=["status", "comment", "decided_at"])
        data = {"approval": approval.public_id, "decision": approval.status, "comment": approval.comment}
        event_record(session=session, type="approval.decided", actor=Actor.system(), run=approval.run, data=data)
        closed.append(approval)
    return closed


def on_session_status_changed(sender, session: DevelopmentSession, previous: str, status: str, **kwargs) -> None:  # noqa: ANN001, ANN003, ARG001
    if status in (SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.CANCELLED):
        with transaction.atomic():
            conflicts_close(session=session)


# -- what a conflict approval's card shows --------------------------------------------------------------------


def conflict_views(*, approvals: list[ApprovalRequest], viewer: Any) -> dict[int, dict]:
    """For each conflict approval: what Approve and Reject do, the other session (linked only if the viewer may see
    it), and per path both versions and their diff (only if the viewer may see the other session). Reads only."""
    approvals = [a for a in approvals if a.action == ACTION]
    if not approvals:
        return {}
    other_ids = {s["id"] for a in approvals for s in a.details.get("sessions", [])}
    others = {s.public_id: s for s in DevelopmentSession.objects.filter(public_id__in=other_ids)}
    visible = set(sessions_visible_to(viewer).filter(public_id__in=other_ids).values_list("public_id", flat=True))
    session_ids = {a.session_id for a in approvals} | {s.pk for s in others.values()}
    paths = {p for a in approvals for p in _paths(a.details)}
    latest = {
        (session_id, path): (number, content)
        for session_id, path, number, content in ArtifactVersion.objects.filter(
            artifact__session_id__in=session_ids, artifact__path__in=paths, number=F("artifact__latest_version_number")
        ).values_list("artifact__session_id", "artifact__path", "number", "content")
    }
    return {a.pk: _view(a, others, visible, latest) for a in approvals}


def _view(approval: ApprovalRequest, others: dict, visible: set[str], latest: dict) -> dict:
    mode = approval.details.get("mode", "block" if approval.run_id and "content" in approval.details else "flag")
    held_back = mode == "block" and approval.is_pending()
    sessions = []
    for brief in approval.details.get("sessions", []):
        other = others.get(brief["id"])
        seen = other is not None and brief["id"] in visible
        sessions.append(
            {
                "id": brief["id"] if seen else None,
                "intent": other.intent[:200] if seen else None,
                "status": other.status if seen else None,
                "web_url": f"/development/{brief['id']}/" if seen else None,
                "label": f"{brief['id']} ({other.intent[:60]})" if seen else "another session in your organisation",
            }
        )
    first = approval.details.get("sessions", [{}])[0].get("id")
    other = others.get(first)
    can_diff = other is not None and first in visible
    files = []
    for path in _paths(approval.details):
        ours = latest.get((approval.session_id, path))
        if held_back:
            ours = ((ours[0] if ours else 0) + 1, approval.details.get("content", ""))
        theirs = latest.get((other.pk, path)) if other is not None else None
        entry: dict[str, Any] = {
            "path": path,
            "this_version": ours[0] if ours else None,
            "this_version_written": bool(ours) and not held_back,
            "other_version": theirs[0] if theirs and can_diff else None,
        }
        if can_diff and ours and theirs:
            entry["diff"] = _diff(theirs[1], ours[1], f"{first} {path} v{theirs[0]}", f"this session {path} v{ours[0]}")
        files.append(entry)
    label = sessions[0]["label"] if sessions else "another session"
    paths = [f["path"] for f in files]
    summary = (
        _pair_summary(paths, label, effects=False)
        if mode == "flag"
        else f"{paths[0]} is also being written by {label}; this write waits for a decision."
    )
    return {"mode": mode, "summary": summary, "sessions": sessions, "files": files, **_effects(mode, files, sessions)}


def _effects(mode: str, files: list[dict], sessions: list[dict]) -> dict[str, str]:
    other = sessions[0]["label"] if sessions else "the other session"
    if mode == "block":
        f = files[0]
        version = f" as v{f['this_version']}" if f.get("this_version") else ""
        return {
            "approve": f"Approve: this session's agent writes its version of {f['path']}{version} and goes on; "
            f"{other} keeps its own version.",
            "reject": f"Reject: this session does not write {f['path']}; its agent is told to adapt, and the version "
            f"of {other} stands.",
        }
    listed = ", ".join(f"{f['path']}" + (f" v{f['this_version']}" if f["this_version"] else "") for f in files)
    return {
        "approve": f"Approve: this session's versions stand ({listed}); {other} keeps its own. Both sessions went on "
        "writing (flag policy), so nothing is rewritten: the decision is recorded for when the work is merged.",
        "reject": f"Reject: records that the versions of {other} should stand for these paths; this session's files "
        "are not changed.",
        "if_undecided": "If nobody decides, this closes as approved (this session's versions stand as written) when "
        "this session finishes.",
    }


def _diff(theirs: str, ours: str, theirs_name: str, ours_name: str) -> str:
    lines = list(
        difflib.unified_diff(theirs.splitlines(), ours.splitlines(), theirs_name, ours_name, lineterm="", n=2)
    )
    if len(lines) > DIFF_LINES:
        lines = [*lines[:DIFF_LINES], f"… {len(lines) - DIFF_LINES} more diff lines"]
    return "\n".join(lines) or "(identical)"
