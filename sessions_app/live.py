"""Publishing to a session's Channels group.

The Redis layer can be called from any thread. The in-memory layer lives on the server's event
loop, and a `group_send` from another thread (the embedded worker) is not seen until that loop
wakes up for another reason (~9.5 s measured), so when the server has registered its loop we
hand the coroutine to it instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

_server_loop: asyncio.AbstractEventLoop | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    """One event as JSON text, rendered once (at publish, or from the log) and sent as is to every watcher:
    `seq` and `type` ride beside it so the subscriber can order and route without parsing."""

    seq: int | None
    type: str
    text: str

    @classmethod
    def of(cls, payload: dict[str, Any]) -> Rendered:
        return cls(payload.get("seq"), payload["type"], render(payload))

    def payload(self) -> dict[str, Any]:
        """The event as a dict: for the few readers that look inside (a guest's redaction, a terminal status)."""
        return json.loads(self.text)


def render(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"))


def message(rendered: Rendered) -> dict[str, Any]:
    """The group message: plain JSON types only (the Redis layer is msgpack), the text already serialised."""
    return {"type": "session.event", "seq": rendered.seq, "event_type": rendered.type, "text": rendered.text}


def from_message(message: dict[str, Any]) -> Rendered:
    """A group message back into a rendered event; a message carrying a dict `event` is rendered here."""
    if "text" in message:
        return Rendered(message.get("seq"), message["event_type"], message["text"])
    return Rendered.of(message["event"])


def group_name(session_public_id: str) -> str:
    return f"session.{session_public_id}"


def register_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    global _server_loop
    _server_loop = loop


def register_server_loop_if_in_memory(layer: object) -> None:
    """Called from the server's event loop (a consumer or SSE view): remember it for the bridge."""
    if _is_in_memory(layer):
        register_server_loop(asyncio.get_running_loop())


def publish(session_public_id: str, payload: dict[str, Any]) -> None:
    """Best effort: live delivery may drop (clients resync from the log); it never raises.

    The event is serialised here, once: every watcher's socket sends the same text."""
    layer = get_channel_layer()
    if layer is None:
        return
    group = group_name(session_public_id)
    try:
        _send(layer, group, message(Rendered.of(payload)))
    except Exception:  # noqa: BLE001 - the log is the source of truth; a lost publish is resynced
        logger.warning("live publish to %s failed", group, exc_info=True)


def _send(layer: Any, group: str, message: dict[str, Any]) -> None:
    loop = _server_loop
    if loop is not None and loop.is_running() and not _running_in(loop):
        asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
    elif _loop_running_here():
        # Called from sync code under someone else's event loop (e.g. a test driving a browser):
        # async_to_sync refuses to block that loop, so send from a short-lived thread.
        sender = threading.Thread(target=lambda: asyncio.run(layer.group_send(group, message)), daemon=True)
        sender.start()
        sender.join(timeout=5)
    elif _is_in_memory(layer):
        async_to_sync(layer.group_send)(group, message)
    else:
        # A worker's thread: hand it to this process's publisher loop and wait, so one thread's events leave
        # in order, over a connection kept open (async_to_sync here would make a new loop and connection per event).
        asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _publisher_loop()).result(timeout=5)


_publisher: tuple[int, asyncio.AbstractEventLoop] | None = None
_publisher_lock = threading.Lock()


def _publisher_loop() -> asyncio.AbstractEventLoop:
    """An event loop on a daemon thread of this process (a forked worker starts its own)."""
    global _publisher
    with _publisher_lock:
        if _publisher is None or _publisher[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="harness-live-publisher", daemon=True).start()
            _publisher = (os.getpid(), loop)
        return _publisher[1]


def _is_in_memory(layer: object) -> bool:
    from channels.layers import InMemoryChannelLayer

    return isinstance(layer, InMemoryChannelLayer)


def _loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _running_in(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
