"""`GET /api/v1/sessions/{id}/stream/`: the session's events as server-sent events.

`Last-Event-ID` (or `?after=N`) replays from the log, then events stream live; a comment line
every 15 s keeps proxies from closing the connection; `event: end` follows a terminal session.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from channels.db import database_sync_to_async
from django.conf import settings
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse

from sessions_app.access import session_access
from sessions_app.auth_middleware import token_from_headers, user_for_token
from sessions_app.errors import NotFound
from sessions_app.models import DevelopmentSession
from sessions_app.selectors import session_get
from sessions_app.streaming import TERMINAL_EVENTS, Cursor, Subscription

ACCESS_CHECK_SECONDS = 2.0
logger = logging.getLogger(__name__)


def _error(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "errors": {}}, status=status)


async def _user(request: HttpRequest):  # noqa: ANN202
    header = request.headers.get("Authorization", "")
    key = token_from_headers([(b"authorization", header.encode("latin-1"))]) if header else None
    return await user_for_token(key) if key else await request.auser()


def _after(request: HttpRequest) -> int:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("after") or "0"
    try:
        return max(0, int(raw))
    except ValueError:
        return 0


def sse(event: dict) -> str:
    head = f"id: {event['seq']}\n" if event.get("seq") is not None else ""
    return f"{head}event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


async def session_stream(request: HttpRequest, session_id: str):  # noqa: ANN201
    if request.method != "GET":
        return _error(405, "Use GET.")
    user = await _user(request)
    if not user.is_authenticated:
        return _error(401, "Authentication required: send 'Authorization: Token <key>' or log in.")
    try:
        session = await database_sync_to_async(session_get)(user=user, public_id=session_id)
    except NotFound as exc:
        return _error(404, exc.detail)
    response = StreamingHttpResponse(_events(user, session, _after(request)), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def _events(user, session: DevelopmentSession, after: int) -> AsyncIterator[str]:  # noqa: ANN001
    """Ends without `end` when the channel layer fails: the client reconnects with its last id."""
    try:
        async for chunk in _follow(user, session, after):
            yield chunk
    except (ConnectionError, OSError) as exc:
        logger.warning("SSE stream of %s ended: %s", session.public_id, exc)
    except Exception as exc:  # noqa: BLE001 - e.g. a Redis error class; the client resyncs from the log
        logger.warning("SSE stream of %s ended: %r", session.public_id, exc)


async def _follow(user, session: DevelopmentSession, after: int) -> AsyncIterator[str]:  # noqa: ANN001
    keepalive = float(getattr(settings, "HARNESS_SSE_KEEPALIVE_SECONDS", 15))
    cursor = Cursor(session, after)
    async with Subscription(session.public_id) as subscription:  # join first, then replay
        async for event in cursor.replay():
            yield sse(event)
        yield f": live after {cursor.last_seq}\n\n"
        if await _is_terminal(session.pk):
            yield _end(await _status(session.pk))
            return
        idle = 0.0
        while True:
            event = await subscription.get(timeout=min(keepalive, ACCESS_CHECK_SECONDS))
            if event is None:
                idle += min(keepalive, ACCESS_CHECK_SECONDS)
                if not await database_sync_to_async(lambda: session_access(user, session).can_view)():
                    return
                if idle >= keepalive:
                    idle = 0.0
                    yield ": keep-alive\n\n"
                continue
            for item in await cursor.accept(event):
                yield sse(item)
                if item["type"] in TERMINAL_EVENTS:
                    yield _end(item["data"].get("status", item["type"].split(".")[1]))
                    return


@database_sync_to_async
def _is_terminal(session_pk: int) -> bool:
    return DevelopmentSession.objects.get(pk=session_pk).is_terminal()


@database_sync_to_async
def _status(session_pk: int) -> str:
    return DevelopmentSession.objects.get(pk=session_pk).status


def _end(status: str) -> str:
    return f"event: end\ndata: {json.dumps({'status': status})}\n\n"
