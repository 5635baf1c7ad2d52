"""Epics, part two: running the child sessions that `agents_app.epic_breakdown` wrote.

`epic_advance` is to children what
`scheduler.advance` is to agent runs: under the epic's lock it starts every child whose
dependencies completed, mirrors the children's statuses into the epic's log, and ends the epic
when nothing is left. It runs whenever a child changes status (a signal), and safely twice.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.db import transaction

from agents_app import dispatch, scheduler
from sessions_app.events import Actor, event_record
from sessions_app.models import (
    TERMINAL_SESSION_STATUSES,
    DevelopmentSession,
    SessionStatus,
)
from sessions_app.services.sessions import session_finish, session_transition

logger = logging.getLogger(__name__)


def child_key(text: str) -> str:
    """A child's short key in the epic's plan: lower-case words joined by dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "part"


def epic_advance(epic_id: int) -> str:
    """Start ready children, mirror their statuses into the epic's log, finish the epic when they are done."""
    with transaction.atomic():
        epic = DevelopmentSession.objects.select_for_update(no_key=True).filter(pk=epic_id).first()
        if epic is None or not epic.is_epic or not epic.plan.get("children"):
            return "not an epic with children"
        children = list(
            DevelopmentSession.objects.filter(parent=epic).prefetch_related("depends_on").order_by("created_at", "id")
        )
        _mirror_statuses(epic, children)
        if epic.status == SessionStatus.FAILED and any(not c.is_terminal() for c in children):
            session_transition(
                session=epic, to=SessionStatus.RUNNING, actor=Actor.system(), event_type="session.resumed"
            )
        if epic.status != SessionStatus.RUNNING:
            return f"epic is {epic.status}"
        started = _start_ready(epic, children)
        _finish_if_done(epic, children)
    return f"started {started}"


def _mirror_statuses(epic: DevelopmentSession, children: list[DevelopmentSession]) -> None:
    by_id = {c.public_id: c for c in children}
    plan = dict(epic.plan)
    entries = [dict(e) for e in plan["children"]]
    known = {e["session"] for e in entries}
    for child in children:  # children a person added to the epic by hand
        if child.public_id not in known:
            entries.append(
                {
                    "key": child_key(child.intent),
                    "session": child.public_id,
                    "intent": child.intent,
                    "task_type": child.task_type,
                    "depends_on": [],
                    "status": SessionStatus.CREATED,
                    "added_by_hand": True,
                }
            )
    changed = False
    for entry in entries:
        child = by_id.get(entry["session"])
        if child is None or child.status == entry["status"]:
            continue
        event_record(
            session=epic,
            type="epic.child_status",
            actor=Actor.system(),
            data={
                "child": child.public_id,
                "key": entry["key"],
                "intent": child.intent,
                "from": entry["status"],
                "status": child.status,
                "summary": child.completion_summary[:500] if child.is_terminal() else "",
                **({"tokens": child.tokens_used, "cost_usd": str(child.cost_usd)} if child.is_terminal() else {}),
            },
        )
        entry["status"], changed = child.status, True
    if changed or len(entries) != len(plan["children"]):
        plan["children"] = entries
        epic.plan = plan
        epic.save(update_fields=["plan", "updated_at"])


def _start_ready(epic: DevelopmentSession, children: list[DevelopmentSession]) -> int:
    started = 0
    for child in children:
        if child.status != SessionStatus.CREATED:
            continue
        if all(dep.status == SessionStatus.COMPLETED for dep in child.depends_on.all()):
            locked = DevelopmentSession.objects.select_for_update(no_key=True).get(pk=child.pk)
            if locked.status != SessionStatus.CREATED:
                continue
            session_transition(
                session=locked,
                to=SessionStatus.PLANNING,
                actor=Actor.system(),
                event_type="session.planning",
                data={"epic": epic.public_id},
            )
            scheduler.kickoff_on_commit(locked)
            child.status = locked.status
            started += 1
    return started


def _finish_if_done(epic: DevelopmentSession, children: list[DevelopmentSession]) -> None:
    if not children:
        return
    statuses = {c.public_id: c.status for c in children}
    if all(s == SessionStatus.COMPLETED for s in statuses.values()):
        lines = [f"All {len(children)} child sessions completed."]
        lines += [
            f"- {c.intent}: {c.completion_summary.splitlines()[0] if c.completion_summary else ''}" for c in children
        ]
        session_finish(
            session=epic,
            status=SessionStatus.COMPLETED,
            summary="\n".join(lines),
            data={
                "children": list(statuses),
                "tokens": epic.tokens_used + sum(c.tokens_used for c in children),
                "cost_usd": str(epic.cost_usd + sum(c.cost_usd for c in children)),
            },
        )
        return
    active = [pid for pid, s in statuses.items() if s not in TERMINAL_SESSION_STATUSES and s != SessionStatus.CREATED]
    stopped = [pid for pid, s in statuses.items() if s in (SessionStatus.FAILED, SessionStatus.CANCELLED)]
    if stopped and not active:
        session_finish(
            session=epic,
            status=SessionStatus.FAILED,
            summary=f"Stopped: child sessions {', '.join(stopped)} did not complete. Retry them to continue the epic.",
            data={"stopped_children": stopped},
        )


def on_child_status_changed(sender: Any, session: DevelopmentSession, **kwargs: Any) -> None:
    """A child moved: advance its epic once this transaction commits (a task, so never inside the lock)."""
    if session.parent_id is None:
        return
    dispatch.advance_epic_on_commit(session.parent_id)
