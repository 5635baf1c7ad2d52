"""`/ws/sessions/{id}/?after=N`: replay, `live`, then every event; client actions go through the
same services and permission checks as HTTP.

Events are sent as the text they were rendered to once (`live.Rendered`): no per-watcher JSON encoding. The
socket reads them from its process's hub for the session (`streaming.Subscription`), not from a channel-layer
channel of its own."""

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
from sessions_app.jsonlimits import UnsafeJson, json_loads_limited
from sessions_app.live import Rendered
from sessions_app.presence import presence_update
from sessions_app.selectors import session_get
from sessions_app.streaming import Cursor, Subscription
from sessions_app.watchdog import CLOSE_UNAUTHENTICATED, AccessWatchdog, Grant

logger = logging.getLogger(__name__)
CLOSE_NOT_FOUND = 4404
CLOSE_LAYER_LOST = 1011  # "internal error": the client reconnects and replays
MAX_FRAME_CHARS = 64 * 1024


class SessionConsumer(AsyncJsonWebsocketConsumer):
    session = None
    cursor: Cursor | None = None
    watchdog: AccessWatchdog | None = None
    subscription: Subscription | None = None
    forwarder: asyncio.Task | None = None

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
        self.subscription = Subscription(self.session.public_id)
        await self.subscription.__aenter__()  # join first, then replay
        self.cursor = Cursor(self.session, after=self._after(), viewer_pk=user.pk)
        self.watchdog = AccessWatchdog(self._grant(user), on_revoked=self._revoked)
        self.watchdog.start()  # before the replay, which may be long
        async for page in self.cursor.pages():
            for event in page:
                if self.watchdog.revoked.is_set():
                    return
                await self.send(text_data=event.text)
        await self.send_json({"type": "live", "last_seq": self.cursor.last_seq})
        self.forwarder = asyncio.create_task(self._forward(self.cursor, self.subscription))
        await self._presence(+1, "presence.joined")

    def _grant(self, user) -> Grant:  # noqa: ANN001
        """The token the socket was opened with, or else its login session: the watchdog re-checks it."""
        token = self.scope.get("auth_token")
        login = self.scope.get("session") if token is None else None
        return Grant(
            user_pk=user.pk,
            session_pk=self.session.pk,
            token_key=token,
            login_session_key=login.session_key if login is not None else None,
        )

    def _after(self) -> int:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            return max(0, int(query.get("after", ["0"])[0]))
        except ValueError:
            return 0

    async def _forward(self, cursor: Cursor, subscription: Subscription) -> None:
        """Live events, in order: sent on if new, a gap filled from the log first. A lost channel layer closes
        the socket; the client reconnects with `?after=` and replays from the log."""
        try:
            while True:
                event = await subscription.next()
                for item in await cursor.accept_rendered(event):
                    if self.watchdog.revoked.is_set():
                        return
                    await self.send(text_data=item.text)
        except ConnectionError as exc:
            logger.warning("websocket of %s ended: %s", self.group, exc)
            await self.close(code=CLOSE_LAYER_LOST)

    async def disconnect(self, code: int) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
        await self._leave()

    async def _leave(self) -> None:
        if self.cursor is None:
            return
        self.cursor = None
        if self.forwarder is not None and self.forwarder is not asyncio.current_task():
            self.forwarder.cancel()
        if self.subscription is not None:
            await self.subscription.__aexit__(None, None, None)
        await self._presence(-1, "presence.left")

    async def _revoked(self, code: int) -> None:
        """The watchdog's verdict: leave the group first, so nothing more is sent, then close (whatever leaving
        met: a channel layer error must not keep the socket open)."""
        try:
            await self._leave()
        finally:
            await self.close(code=code)

    # -- presence ----------------------------------------------------------------------------------

    async def _presence(self, delta: int, kind: str) -> None:
        user = self.scope["user"]
        watchers = await presence_update(self.session.public_id, user.get_username(), delta)
        event = {
            "seq": None,
            "type": kind,
            "session": self.session.public_id,
            "run": None,
            "actor": {"kind": "user", "id": user.get_username(), "name": user.get_username()},
            "at": timezone.now().isoformat(),
            "data": {"user": user.get_username(), "watchers": watchers},
        }
        await self.channel_layer.group_send(self.group, live.message(Rendered.of(event)))

    # -- client actions --------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs) -> None:  # noqa: ANN003
        """A frame that is not one small JSON object gets a 400 error message; the socket stays open."""
        if self.cursor is None:
            return
        try:
            content = _decode_frame(text_data, bytes_data)
        except UnsafeJson as exc:
            await self.send_json({"type": "error", "status": 400, "detail": str(exc)})
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict, **kwargs) -> None:  # noqa: ANN003
        action = content.get("action")
        if not isinstance(action, str):
            await self.send_json({"type": "error", "status": 400, "detail": 'Say what to do: {"action": "…"}.'})
            return
        if not await self.watchdog.check():  # a revoked socket does nothing more, even before the next tick
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


def _decode_frame(text_data: str | None, bytes_data: bytes | None) -> dict:
    if text_data is None:
        raise UnsafeJson("Binary frames are not understood; send a text frame holding one JSON object.")
    if len(text_data) > MAX_FRAME_CHARS:
        raise UnsafeJson(f"The frame is longer than {MAX_FRAME_CHARS} characters; send a smaller message.")
    content = json_loads_limited(text_data)
    if not isinstance(content, dict):
        raise UnsafeJson('Send one JSON object, e.g. {"action": "presence"}.')
    return content


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
