"""`/ws/sessions/{id}/?after=N`: replay, `live`, then every event; client actions go through the
same services and permission checks as HTTP."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from sessions_app import live
from sessions_app.access import session_access
from sessions_app.errors import DomainError, InvalidInput, NotAllowed, NotFound
from sessions_app.presence import presence_update
from sessions_app.selectors import session_get
from sessions_app.streaming import Cursor

logger = logging.getLogger(__name__)
ACCESS_CHECK_SECONDS = 2.0
CLOSE_UNAUTHENTICATED, CLOSE_FORBIDDEN, CLOSE_NOT_FOUND = 4401, 4403, 4404


class SessionConsumer(AsyncJsonWebsocketConsumer):
    session = None
    cursor: Cursor | None = None
    watchdog: asyncio.Task | None = None

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            self.session = await database_sync_to_async(session_get)(
                user=user, public_id=self.scope["url_route"]["kwargs"]["session_id"]
            )
        except NotFound:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = live.group_name(self.session.public_id)
        live.register_server_loop_if_in_memory(self.channel_layer)
        await self.channel_layer.group_add(self.group, self.channel_name)  # join first, then replay
        self.cursor = Cursor(self.session, after=self._after())
        async for event in self.cursor.replay():
            await self.send_json(event)
        await self.send_json({"type": "live", "last_seq": self.cursor.last_seq})
        await self._presence(+1, "presence.joined")
        self.watchdog = asyncio.create_task(self._watch_access())

    def _after(self) -> int:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            return max(0, int(query.get("after", ["0"])[0]))
        except ValueError:
            return 0

    async def session_event(self, message: dict) -> None:
        """A group message: sent on if it is new; a gap is filled from the log first."""
        if self.cursor is None:
            return
        for event in await self.cursor.accept(message["event"]):
            await self.send_json(event)

    async def disconnect(self, code: int) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
        if self.cursor is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self._presence(-1, "presence.left")

    # -- presence and revocation -------------------------------------------------------------------

    async def _presence(self, delta: int, kind: str) -> None:
        user = self.scope["user"]
        watchers = await presence_update(self.session.public_id, user.get_username(), delta)
        await self.channel_layer.group_send(
            self.group,
            {
                "type": "session.event",
                "event": {
                    "seq": None,
                    "type": kind,
                    "session": self.session.public_id,
                    "run": None,
                    "actor": {"kind": "user", "id": user.get_username(), "name": user.get_username()},
                    "at": timezone.now().isoformat(),
                    "data": {"user": user.get_username(), "watchers": watchers},
                },
            },
        )

    async def _watch_access(self) -> None:
        """A watcher whose membership or share is withdrawn is disconnected within seconds."""
        user = self.scope["user"]
        while True:
            await asyncio.sleep(ACCESS_CHECK_SECONDS)
            access = await database_sync_to_async(_still_allowed)(user, self.session)
            if not access:
                await self.close(code=CLOSE_FORBIDDEN)
                return

    # -- client actions --------------------------------------------------------------------------

    async def receive_json(self, content: dict, **kwargs) -> None:  # noqa: ANN003
        action = str(content.get("action", "")) if isinstance(content, dict) else ""
        if self.session is None:
            return
        try:
            if action == "presence":
                await self._presence(0, "presence.snapshot")
            else:
                await database_sync_to_async(perform)(self.scope["user"], self.session, action, content)
        except DomainError as exc:
            await self.send_json({"type": "error", "action": action, "status": exc.status_code, "detail": exc.detail})
            return
        await self.send_json({"type": "ack", "action": action, "ok": True})


def _still_allowed(user, session) -> bool:  # noqa: ANN001
    user.refresh_from_db(fields=["is_active"])
    return session_access(user, session).can_view


def perform(user, session, action: str, content: dict) -> None:  # noqa: ANN001
    """The HTTP API's services, called from a socket: the same checks, the same events."""
    from agents_app.selectors import run_get
    from agents_app.services import approvals, control
    from sessions_app.selectors import approval_get
    from sessions_app.services.collaboration import feedback_submit

    session = session_get(user=user, public_id=session.public_id)  # fresh, and still visible
    run = run_get(session=session, public_id=str(content["run"])) if content.get("run") else None
    if action == "feedback":
        feedback_submit(user=user, session=session, text=str(content.get("text", "")), run=run)
    elif action in ("pause", "resume", "cancel"):
        if not session_access(user, session).can_control:
            raise NotAllowed(f"You may not {action} agents in this session.")
        if run is not None:
            getattr(control, f"run_{action}")(user=user, run=run)
        else:
            getattr(control, f"session_{action}")(user=user, session=session)
    elif action == "decide":
        approval = approval_get(user=user, public_id=str(content.get("approval", "")))
        if approval.session_id != session.pk:
            raise NotFound("That approval belongs to another session.")
        decision = content.get("decision")
        if decision not in ("approve", "reject"):
            raise InvalidInput("decision must be 'approve' or 'reject'.")
        approvals.approval_decide(
            user=user, approval=approval, decision=decision, comment=str(content.get("comment", ""))
        )
    else:
        raise InvalidInput(f"Unknown action {action!r}; use feedback, pause, resume, cancel, decide or presence.")
