"""What a guest of an epic learns about its children: only the children shared with them.

Members of the organisation see every session of it, children included. Someone the epic is shared with
(a guest) sees, of its children, only those shared with them too: the others' ids and intents are left out
of the detail, the plan, the completion summary and the event log (API, SSE and websocket alike)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sessions_app.access import role_in, sessions_visible_to
from sessions_app.models import DevelopmentSession

HIDDEN = "a child session not shared with you"
OTHER_SESSION = "another session in your organisation"
#: A session id, with the words that name it in conflict summaries ("session dev_…", "session(s) dev_…").
_SESSION_ID = re.compile(r"(?:(?:running )?session(?:\(s\))? )?dev_[0-9a-z]{20}")
#: Epic events whose data name children, and the keys that hold lists of child ids.
_ID_LISTS = ("children", "stopped_children")


@dataclass(frozen=True)
class ChildrenView:
    """The epic's children one viewer may not see: public id → intent."""

    hidden: dict[str, str]

    def keeps(self, child_id: Any) -> bool:
        return child_id not in self.hidden

    def plan(self, plan: Any) -> Any:
        if not isinstance(plan, dict) or not isinstance(plan.get("children"), list):
            return plan
        children = [c for c in plan["children"] if self.keeps(_entry_id(c))]
        keys = {c.get("key") for c in children if isinstance(c, dict)}
        children = [  # a key is named after its child's intent: a hidden one is left out of depends_on too
            {**c, "depends_on": [k for k in c["depends_on"] if k in keys]}
            if isinstance(c, dict) and isinstance(c.get("depends_on"), list)
            else c
            for c in children
        ]
        return {**plan, "children": children}

    def text(self, text: str) -> str:
        if not text or not self.hidden:
            return text
        lines = [
            line for line in text.split("\n") if not any(line.startswith(f"- {i}:") for i in self.hidden.values())
        ]
        pattern = re.compile("|".join(re.escape(pid) for pid in sorted(self.hidden, key=len, reverse=True)))
        return pattern.sub(HIDDEN, "\n".join(lines))

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event as this viewer may read it: a new dict (live events are shared between viewers)."""
        data = event.get("data")
        if not isinstance(data, dict):
            return event
        if str(event.get("type", "")).startswith(("conflict.", "approval.")):
            event, data = _without_other_sessions(event, data)
        if not self.hidden:
            return event
        if event.get("type") == "epic.breakdown_ready":
            return {**event, "data": self.plan(data)}
        if event.get("type") == "epic.child_status" and not self.keeps(data.get("child")):
            hidden = {"hidden": True, "child": None, "key": "", "from": data.get("from"), "status": data.get("status")}
            return {**event, "data": hidden}
        redacted = dict(data)
        for key in _ID_LISTS:
            if isinstance(redacted.get(key), list):
                redacted[key] = [item for item in redacted[key] if self.keeps(_entry_id(item))]
        if isinstance(redacted.get("summary"), str):
            redacted["summary"] = self.text(redacted["summary"])
        return {**event, "data": redacted}


def children_view(user: Any, epic: DevelopmentSession) -> ChildrenView | None:
    """None for a member of the session's organisation (they see all of it). A guest gets a view that leaves out
    the epic's children not shared with them and, in any session, the other sessions a conflict names."""
    if role_in(user, epic.organization_id) is not None:
        return None
    if not epic.is_epic:
        return ChildrenView(hidden={})
    children = DevelopmentSession.objects.filter(parent=epic)
    visible = sessions_visible_to(user, children).values("pk")
    return ChildrenView(hidden=dict(children.exclude(pk__in=visible).values_list("public_id", "intent")))


def _without_other_sessions(event: dict[str, Any], data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A cross-session conflict names the other session (id, intent): a guest of this one learns only that there
    is another session in the organisation (the approvals API links it for those who may see it)."""
    redacted = {key: _redact_sessions(key, value) for key, value in data.items()}
    if isinstance(data.get("details"), dict):
        redacted["details"] = {key: _redact_sessions(key, value) for key, value in data["details"].items()}
    return {**event, "data": redacted}, redacted


def _redact_sessions(key: str, value: Any) -> Any:
    if key == "sessions" and isinstance(value, list):
        return [{"id": None, "intent": OTHER_SESSION} for _ in value]
    if key == "other" and isinstance(value, str):
        return None
    if isinstance(value, str) and key in ("summary", "comment", "detail", "message"):
        return _SESSION_ID.sub(OTHER_SESSION, value)
    return value


def _entry_id(entry: Any) -> Any:
    return entry.get("session") if isinstance(entry, dict) else entry
