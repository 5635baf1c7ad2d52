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
        if not isinstance(data, dict) or not self.hidden:
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
    """None when `user` sees all of the epic's children (a member of its organisation, or not an epic)."""
    if not epic.is_epic or role_in(user, epic.organization_id) is not None:
        return None
    children = DevelopmentSession.objects.filter(parent=epic)
    visible = sessions_visible_to(user, children).values("pk")
    return ChildrenView(hidden=dict(children.exclude(pk__in=visible).values_list("public_id", "intent")))


def _entry_id(entry: Any) -> Any:
    return entry.get("session") if isinstance(entry, dict) else entry
