"""Two running sessions of one organisation writing the same path: detected, recorded, put to a lead.

Each session has its own workspace, so nothing is overwritten; but the two versions will meet when
the work is merged, so a lead decides which should stand. The policy says whether the later writer
waits for that decision (`block`: one approval per held-back write — Approve writes it, Reject drops
it) or goes on while it is pending (`flag`: one approval per conflicting path, in each of the two
sessions that wrote it — Approve records that this session's version stands).

Undecided conflicts expire, closed by the system with status `expired`, an `approval.decided` event with
decision "expired" and the reason: a flagged path when BOTH sessions have finished (while one still runs a
lead can still decide), a held-back write when its own session ends (the write never happened). A lead can
dismiss the flagged ones in bulk (`conflicts_dismiss`: "no decision needed"). Expiry runs after the ending
transaction commits, one session's transaction at a time — never two session locks at once. The other
session hears of every conflict in its own log the same way.
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
from sessions_app import inputs
from sessions_app.access import require_session_access, sessions_visible_to
from sessions_app.errors import Conflict, InvalidInput
from sessions_app.events import Actor, event_record, session_lock_row
from sessions_app.models import (
    TERMINAL_SESSION_STATUSES,
    ApprovalRequest,
    ApprovalStatus,
    DevelopmentSession,
    SessionStatus,
)
from sessions_app.services.audit import audit_record, model_snapshot

ACTION = "cross_session_conflict"
ACTIVE = (SessionStatus.PLANNING, SessionStatus.RUNNING, SessionStatus.PAUSED)
DIFF_LINES = 400
EXPIRED_BOTH = "both sessions finished before anyone decided; both versions stand in their own sessions"
LOCK_CLASS = 0x4C5A  # pg_advisory_xact_lock(class, organisation id): conflict detection


def already_flagged(session: DevelopmentSession, path: str) -> bool:
    """The path is listed in one of this session's conflict approvals (a rejected held-back write does not count:
    writing it again asks again). Asked only once another writer was found (under `lock_organization`)."""
    listed = ApprovalRequest.objects.filter(session=session, action=ACTION).values_list("details", "status")
    return any(
        path in _paths(details) and (details.get("mode") == "flag" or status != ApprovalStatus.REJECTED)
        for details, status in listed
    )


def lock_organization(organization_id: int) -> None:
    """The organisation's conflict lock (PostgreSQL, released at commit): taken by a writer before it looks for
    other writers, so two sessions writing one path at the same moment cannot both miss each other — the second
    waits, then sees the first's committed write."""
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
    one (flag policy) this session gets one approval for `path` per other session that wrote it."""
    session = run.session
    if approval is None:
        opened = [_path_open(session=session, run=run, other=_brief(o), path=path, actor=actor) for o in others]
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


def _path_summary(path: str, other: str, *, effects: bool = True) -> str:
    summary = f"{path} is also written by {other}."
    if effects:  # the stored summary (events, CLI) carries them; the card shows them on their own lines
        summary += (
            " Approve: this session's version stands (both sessions keep their own file; nothing is rewritten)."
            " Reject: the other session's version should."
        )
    return summary


def _path_open(
    *, session: DevelopmentSession, run: AgentRun | None, other: dict[str, str], path: str, actor: Actor
) -> ApprovalRequest:
    """This session's approval about `path` and `other`, opened unless it exists (flag policy)."""
    existing = ApprovalRequest.objects.filter(
        session=session, action=ACTION, details__mode="flag", details__other=other["id"], details__path=path
    )
    approval = existing.order_by("id").first()
    if approval is not None:
        return approval
    details = {"mode": "flag", "other": other["id"], "path": path, "paths": [path], "sessions": [other]}
    summary = _path_summary(path, f"session {other['id']}")
    if run is not None:
        return approval_open(run=run, action=ACTION, summary=summary, details=details, actor=actor)
    approval = ApprovalRequest.objects.create(session=session, action=ACTION, summary=summary, details=details)
    data = {"approval": approval.public_id, "action": ACTION, "summary": approval.summary, "details": details}
    event_record(session=session, type="approval.requested", actor=actor, data={**data, "blocking": False})
    return approval


def _tell_others(session_ids: list[int], path: str, written_by: dict, approval_id: str, *, flag: bool) -> None:
    """Each other session logs the conflict; under the flag policy a running one also gets its own approval for the
    path about the writer, so both sides' leads see every shared path."""
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
                own = _path_open(session=session, run=run, other=other, path=path, actor=Actor.system())
                data["own_approval"] = own.public_id
            event_record(session=session, type="conflict.detected", actor=Actor.system(), data=data)


def _reason(approval: ApprovalRequest, status: str) -> str:
    if approval.details.get("mode") == "block":
        return (
            f"this session ended ({status}) before anyone decided; the held-back write of "
            f"{approval.details.get('path')} was never made"
        )
    return EXPIRED_BOTH


def conflicts_expire(*, session_id: int) -> list[ApprovalRequest]:
    """The session has finished: expire every pending conflict approval that can no longer matter — its held-back
    writes, and the flagged paths it shares with sessions that have finished too (in either session). Call after
    the transaction that ended it commits: each session's approvals are closed in that session's own transaction."""
    session = DevelopmentSession.objects.filter(pk=session_id).values_list("public_id", flat=True).first()
    if session is None:
        return []
    pending = ApprovalRequest.objects.filter(action=ACTION, status=ApprovalStatus.PENDING)
    involved = pending.filter(session_id=session_id) | pending.filter(details__mode="flag", details__other=session)
    expired = []
    for owner_id in sorted(set(involved.values_list("session_id", flat=True))):
        with transaction.atomic():
            session_lock_row(owner_id)
            owner = DevelopmentSession.objects.get(pk=owner_id)
            if not owner.is_terminal():
                continue
            for approval in pending.filter(session=owner).select_for_update().order_by("id"):
                if approval.details.get("mode") != "block" and not _other_finished(approval):
                    continue  # the other session still runs: a lead can still decide
                expired.append(_expire(approval, owner))
    return expired


def _other_finished(approval: ApprovalRequest) -> bool:
    statuses = DevelopmentSession.objects.filter(public_id=approval.details.get("other")).values_list(
        "status", flat=True
    )
    return any(s in TERMINAL_SESSION_STATUSES for s in statuses)


def _expire(approval: ApprovalRequest, owner: DevelopmentSession) -> ApprovalRequest:
    reason = _reason(approval, owner.status)
    approval.status, approval.comment, approval.decided_at = (
        ApprovalStatus.EXPIRED,
        f"Expired: {reason}.",
        timezone.now(),
    )
    approval.save(update_fields=["status", "comment", "decided_at"])
    data = {"approval": approval.public_id, "decision": approval.status, "comment": approval.comment, "reason": reason}
    event_record(session=owner, type="approval.decided", actor=Actor.system(), run=approval.run, data=data)
    return approval


def conflicts_dismiss(
    *, user: Any, session: DevelopmentSession, approval_ids: list[str] | None = None, comment: str = ""
) -> list[ApprovalRequest]:
    """A lead closes flagged conflicts without a decision ("no decision needed"): the given ones, or every pending
    one of the session. Held-back writes are not dismissed — an agent waits on them: approve or reject those."""
    comment = inputs.clean_text(comment, inputs.COMMENT, field="comment")
    with transaction.atomic():
        session_lock_row(session.pk)
        require_session_access(user, session, "decide", doing="dismiss conflicts")
        conflicts = ApprovalRequest.objects.select_for_update().filter(session=session, action=ACTION).order_by("id")
        if approval_ids is None:
            chosen = list(conflicts.filter(status=ApprovalStatus.PENDING, details__mode="flag"))
        else:
            chosen = list(conflicts.filter(public_id__in=approval_ids))
            _check_dismissable(approval_ids, chosen)
        reason = f"dismissed by {user.get_username()}: no decision needed" + (f" — {comment}" if comment else "")
        actor = Actor.for_user(user)
        for approval in chosen:
            before = model_snapshot(approval, ["status", "comment"])
            approval.status, approval.decided_by, approval.decided_at = ApprovalStatus.DISMISSED, user, timezone.now()
            approval.comment = comment
            approval.save(update_fields=["status", "decided_by", "decided_at", "comment"])
            data = {"approval": approval.public_id, "decision": approval.status, "comment": comment, "reason": reason}
            event_record(session=session, type="approval.decided", actor=actor, run=approval.run, data=data)
            audit_record(
                actor=user,
                organization=session.organization,
                action="approval.dismissed",
                target=approval,
                before=before,
                after={**model_snapshot(approval, ["status", "comment"]), "session": session.public_id},
            )
    return chosen


def _check_dismissable(asked: list[str], found: list[ApprovalRequest]) -> None:
    by_id = {a.public_id: a for a in found}
    errors = [f"{i} is not a conflict approval of this session." for i in asked if i not in by_id]
    errors += [
        f"{a.public_id} holds back a write an agent waits for: approve or reject it."
        for a in found
        if a.details.get("mode") == "block"
    ]
    if errors:
        raise InvalidInput("Only this session's flagged conflicts can be dismissed.", errors={"approvals": errors})
    decided = [f"{a.public_id} is already {a.status}" for a in found if not a.is_pending()]
    if decided:
        raise Conflict("; ".join(decided) + ".")


def on_session_status_changed(sender, session: DevelopmentSession, previous: str, status: str, **kwargs) -> None:  # noqa: ANN001, ANN003, ARG001
    if status in TERMINAL_SESSION_STATUSES:
        session_id = session.pk
        transaction.on_commit(lambda: conflicts_expire(session_id=session_id), robust=True)


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
        _path_summary(", ".join(paths), label, effects=False)
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
    f = files[0]
    version = f" v{f['this_version']}" if f["this_version"] else ""
    return {
        "approve": f"Approve: this session's version of {f['path']}{version} stands; {other} keeps its own. Both "
        "sessions went on writing (flag policy), so nothing is rewritten: the decision is recorded for when the work "
        "is merged.",
        "reject": f"Reject: records that the version of {f['path']} in {other} should stand; this session's file is "
        "not changed.",
        "if_undecided": "If nobody decides, this expires once both sessions have finished: both versions stand in "
        "their own sessions. A lead can also dismiss it (no decision needed).",
    }


def _diff(theirs: str, ours: str, theirs_name: str, ours_name: str) -> str:
    lines = list(difflib.unified_diff(theirs.splitlines(), ours.splitlines(), theirs_name, ours_name, lineterm="", n=2))
    if len(lines) > DIFF_LINES:
        lines = [*lines[:DIFF_LINES], f"… {len(lines) - DIFF_LINES} more diff lines"]
    return "\n".join(lines) or "(identical)"
