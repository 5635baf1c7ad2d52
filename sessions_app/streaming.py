"""Replay, then live, with no gap and no duplicate — shared by the websocket consumer and SSE.

The subscriber joins the session's group FIRST, so nothing published during the replay is
missed; it then replays the log after the client's last seq; live messages it already replayed
are dropped by seq, and a live message that skips ahead (channels-redis drops silently when a
channel is at capacity) makes it read the missing events from the log before going on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from sessions_app import live
from sessions_app.epic_visibility import ChildrenView, children_view
from sessions_app.events import event_payload
from sessions_app.models import DevelopmentSession, SessionEvent

PAGE = 500
TERMINAL_EVENTS = frozenset({"session.completed", "session.failed", "session.cancelled"})


@database_sync_to_async
def _events_after(session_pk: int, session_public_id: str, after: int, limit: int) -> list[dict]:
    rows = (
        SessionEvent.objects.filter(session_id=session_pk, seq__gt=after).select_related("run").order_by("seq")[:limit]
    )
    return [
        event_payload(e, session_public_id=session_public_id, run_public_id=e.run.public_id if e.run_id else None)
        for e in rows
    ]


@database_sync_to_async
def _children_view(viewer_pk: int, session_pk: int) -> ChildrenView | None:
    viewer = get_user_model().objects.filter(pk=viewer_pk, is_active=True).first() or AnonymousUser()
    return children_view(viewer, DevelopmentSession.objects.get(pk=session_pk))


class Cursor:
    """Remembers the last seq sent; turns incoming events into exactly the ones to send next."""

    def __init__(self, session: DevelopmentSession, after: int, *, viewer_pk: int) -> None:
        self.session_pk, self.public_id, self.last_seq = session.pk, session.public_id, max(0, after)
        self.viewer_pk = viewer_pk
        self._sees_all = False  # until the first page shows the viewer is a member (guests: `epic_visibility`)

    async def replay(self) -> AsyncIterator[dict]:
        while True:
            page = await _events_after(self.session_pk, self.public_id, self.last_seq, PAGE)
            for event in await self._for_viewer(page):
                self.last_seq = event["seq"]
                yield event
            if len(page) < PAGE:
                return

    async def _for_viewer(self, events: list[dict]) -> list[dict]:
        """A guest reads the log without the sessions not shared with them: an epic's children, the other side of
        a conflict (`epic_visibility`)."""
        if self._sees_all or not events:
            return events
        view = await _children_view(self.viewer_pk, self.session_pk)
        if view is None:  # a member of the organisation: sees every child, for as long as the socket lives
            self._sees_all = True
            return events
        return [view.event(event) for event in events]

    async def accept(self, event: dict) -> list[dict]:
        seq = event.get("seq")
        if seq is None:
            return [event]  # ephemeral: presence, token deltas
        if seq <= self.last_seq:
            return []  # already replayed
        out: list[dict] = []
        if seq > self.last_seq + 1:  # a dropped live message: fill from the log
            missing = await _events_after(self.session_pk, self.public_id, self.last_seq, seq - self.last_seq - 1)
            out.extend(e for e in missing if e["seq"] < seq)
        out.append(event)
        self.last_seq = seq
        return await self._for_viewer(out)


class Subscription:
    """A private channel in the session's group, read by one background task into a queue."""

    def __init__(self, session_public_id: str) -> None:
        self.group = live.group_name(session_public_id)
        self.layer = get_channel_layer()
        self.queue: asyncio.Queue[dict] = asyncio.Queue()
        self.channel = ""
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> Subscription:
        live.register_server_loop_if_in_memory(self.layer)
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        while True:
            message: dict[str, Any] = await self.layer.receive(self.channel)
            if message.get("type") == "session.event":
                await self.queue.put(message["event"])

    async def get(self, timeout: float) -> dict | None:
        """The next live event, None after `timeout`; ConnectionError when the channel layer is gone
        (the stream then ends and the client reconnects and replays from the log)."""
        if self._reader is not None and self._reader.done() and self.queue.empty():
            raise ConnectionError(f"lost the channel layer: {self._reader.exception()!r}")
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
        with contextlib.suppress(Exception):  # the layer may be the thing that failed
            await self.layer.group_discard(self.group, self.channel)
