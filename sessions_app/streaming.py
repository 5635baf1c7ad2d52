"""Replay, then live, with no gap and no duplicate — shared by the websocket consumer and SSE.

The subscriber joins the session's group FIRST, so nothing published during the replay is
missed; it then replays the log after the client's last seq; live messages it already replayed
are dropped by seq, and a live message that skips ahead (channels-redis drops silently when a
channel is at capacity) makes it read the missing events from the log before going on.

Events travel as `live.Rendered`: JSON text rendered once (at publish, or by `replay.events_rendered` from the
log) and sent as is; only a guest's events are parsed, to be redacted (`epic_visibility`).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import weakref
from collections.abc import AsyncIterator
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from sessions_app import live
from sessions_app.epic_visibility import ChildrenView, children_view
from sessions_app.live import Rendered
from sessions_app.models import DevelopmentSession
from sessions_app.replay import events_rendered, redacted

PAGE = 500
TERMINAL_EVENTS = frozenset({"session.completed", "session.failed", "session.cancelled"})


@database_sync_to_async
def _events_after(session_pk: int, session_public_id: str, after: int, limit: int) -> list[Rendered]:
    return events_rendered(session_pk=session_pk, session_public_id=session_public_id, after=after, limit=limit)


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

    async def pages(self) -> AsyncIterator[list[Rendered]]:
        """The log after `last_seq`, a keyset page at a time, as this viewer may read it."""
        while True:
            page = await _events_after(self.session_pk, self.public_id, self.last_seq, PAGE)
            if page:
                visible = await self._for_viewer(page)
                self.last_seq = page[-1].seq
                yield visible
            if len(page) < PAGE:
                return

    async def replay(self) -> AsyncIterator[dict]:
        """The same replay as dicts, for callers that read the events rather than send them."""
        async for page in self.pages():
            for event in page:
                yield event.payload()

    async def _for_viewer(self, events: list[Rendered]) -> list[Rendered]:
        """A guest reads the log without the sessions not shared with them: an epic's children, the other side of
        a conflict (`epic_visibility`). Only then is an event parsed and rendered again."""
        if self._sees_all or not events:
            return events
        view = await _children_view(self.viewer_pk, self.session_pk)
        if view is None:  # a member of the organisation: sees every child, for as long as the socket lives
            self._sees_all = True
            return events
        return redacted(events, view)

    async def accept_rendered(self, event: Rendered) -> list[Rendered]:
        """A live event → the events to send: none if already sent, the missing ones from the log first."""
        seq = event.seq
        if seq is None:
            return [event]  # ephemeral: presence, token deltas
        if seq <= self.last_seq:
            return []  # already replayed
        out: list[Rendered] = []
        if seq > self.last_seq + 1:  # a dropped live message: fill from the log
            missing = await _events_after(self.session_pk, self.public_id, self.last_seq, seq - self.last_seq - 1)
            out.extend(e for e in missing if e.seq < seq)
        out.append(event)
        self.last_seq = seq
        return await self._for_viewer(out)

    async def accept(self, event: dict) -> list[dict]:
        """`accept_rendered` for an event given as a dict (tests, tools)."""
        return [item.payload() for item in await self.accept_rendered(Rendered.of(event))]


class _Lost:
    """Put in every subscriber's queue when the hub's channel layer fails."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Hub:
    """One channel-layer channel per session group in this process (per event loop), read by one task that hands
    each event — already rendered — to every local subscriber's queue. A watcher costs a queue put and a
    websocket frame, not a Redis message and a msgpack decode of its own."""

    _hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Hub]] = weakref.WeakKeyDictionary()

    def __init__(self, layer: Any, group: str) -> None:
        self.layer, self.group = layer, group
        self.queues: set[asyncio.Queue] = set()
        self.channel = ""
        self.started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.reader: asyncio.Task | None = None
        self.refresher: asyncio.Task | None = None

    @classmethod
    async def join(cls, layer: Any, group: str, queue: asyncio.Queue) -> _Hub:
        hubs = cls._hubs.setdefault(asyncio.get_running_loop(), {})
        hub = hubs.get(group)
        if hub is None or hub.layer is not layer:
            hub = hubs[group] = cls(layer, group)
            try:
                # A plain channel name, not `new_channel()`'s process-local one: channels-redis receives those behind
                # one lock for the whole process, held across awaits, which a reader left behind by an event loop
                # that closed (the test suite's loops) would hold for ever.
                hub.channel = f"harness.hub.{uuid.uuid4().hex}"
                await layer.group_add(group, hub.channel)
            except BaseException as exc:
                if hubs.get(group) is hub:
                    del hubs[group]
                hub.started.set_exception(exc)
                hub.started.exception()  # retrieved: the subscribers waiting on it get it too
                raise
            hub.reader = asyncio.create_task(hub._read())
            hub.refresher = asyncio.create_task(hub._stay_in_group())
            hub.started.set_result(None)
        hub.queues.add(queue)
        await asyncio.shield(hub.started)  # a hub another subscriber is starting: joined once it has joined
        return hub

    def drop(self, queue: asyncio.Queue) -> bool:
        """Without waiting: forget `queue`; the last one out stops the reader. True if it was the last."""
        self.queues.discard(queue)
        if self.queues:
            return False
        hubs = self._hubs.get(asyncio.get_running_loop(), {})
        if hubs.get(self.group) is self:
            del hubs[self.group]
        if self.reader is not None:
            self.reader.cancel()
        if self.refresher is not None:
            self.refresher.cancel()
        return True

    async def leave(self, queue: asyncio.Queue) -> None:
        if not self.drop(queue):
            return
        if self.reader is not None:  # let the cancelled receive end, but never hang the leaver on it
            await asyncio.wait({self.reader}, timeout=1)  # not `await`: its CancelledError is not ours to swallow
        if self.channel:
            with contextlib.suppress(Exception):  # the layer may be the thing that failed
                await self.layer.group_discard(self.group, self.channel)

    async def _stay_in_group(self) -> None:
        """The channel layer forgets a group member after `group_expiry` (channels-redis: a day); a hub lives as
        long as anyone watches, so it joins again well before that."""
        period = max(0.05, float(getattr(self.layer, "group_expiry", 86400)) / 4)
        while True:
            await asyncio.sleep(period)
            with contextlib.suppress(Exception):  # a failing layer ends the reader, which tells the subscribers
                await self.layer.group_add(self.group, self.channel)

    async def _read(self) -> None:
        try:
            while True:
                message: dict[str, Any] = await self.layer.receive(self.channel)
                if message.get("type") == "session.event":
                    event = live.from_message(message)
                    for queue in self.queues:
                        queue.put_nowait(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. Redis gone: every subscriber ends and its client resyncs
            hubs = self._hubs.get(asyncio.get_running_loop(), {})
            if hubs.get(self.group) is self:
                del hubs[self.group]  # the next subscriber starts afresh
            for queue in self.queues:
                queue.put_nowait(_Lost(exc))


class Subscription:
    """The session's live events in this process's hub (`_Hub`), into a queue of this subscriber's own."""

    def __init__(self, session_public_id: str) -> None:
        self.group = live.group_name(session_public_id)
        self.layer = get_channel_layer()
        self.queue: asyncio.Queue[Rendered | _Lost] = asyncio.Queue()
        self._hub: _Hub | None = None
        self._owner: asyncio.Task | None = None

    async def __aenter__(self) -> Subscription:
        live.register_server_loop_if_in_memory(self.layer)
        self._hub = await _Hub.join(self.layer, self.group, self.queue)
        self._owner = asyncio.current_task()
        if self._owner is not None:  # a subscriber cancelled before it could leave still leaves
            self._owner.add_done_callback(self._owner_done)
        return self

    def _owner_done(self, _task: asyncio.Task) -> None:
        if self._hub is not None:
            hub, self._hub = self._hub, None
            hub.drop(self.queue)

    async def next(self) -> Rendered:
        """The next live event; ConnectionError when the channel layer is gone (the stream then ends and the
        client reconnects and replays from the log)."""
        item = await self.queue.get()
        if isinstance(item, _Lost):
            self.queue.put_nowait(item)  # stays lost
            raise ConnectionError(f"lost the channel layer: {item.error!r}")
        return item

    async def get(self, timeout: float) -> Rendered | None:
        """`next`, or None after `timeout`."""
        try:
            return await asyncio.wait_for(self.next(), timeout)
        except TimeoutError:
            return None

    async def __aexit__(self, *exc: object) -> None:
        if self._owner is not None:
            self._owner.remove_done_callback(self._owner_done)
        if self._hub is not None:
            hub, self._hub = self._hub, None
            await hub.leave(self.queue)
