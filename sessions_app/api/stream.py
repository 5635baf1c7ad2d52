"""`GET /api/v1/sessions/{id}/stream/`: the session's events as server-sent events.

`Last-Event-ID` (or `?after=N`) replays from the log, then events stream live; a comment line
every 15 s keeps proxies from closing the connection; `event: end` follows a terminal session, or
`{"status": "access_revoked"}` when the access watchdog (sessions_app/watchdog.py) ends the stream.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from channels.db import database_sync_to_async
from django.conf import settings
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse

from sessions_app.auth_middleware import token_from_headers, user_for_token
from sessions_app.errors import NotFound
from sessions_app.live import Rendered
from sessions_app.models import DevelopmentSession
from sessions_app.selectors import session_get
from sessions_app.streaming import TERMINAL_EVENTS, Cursor, Subscription
from sessions_app.watchdog import CLOSE_CHECK_FAILED, AccessRevoked, AccessWatchdog, Grant

logger = logging.getLogger(__name__)


def _error(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "errors": {}}, status=status)


async def _user(request: HttpRequest):  # noqa: ANN202
    """(user, token key): the token header if there is one (no cookie fallback), else the login session."""
    header = request.headers.get("Authorization", "")
    key = token_from_headers([(b"authorization", header.encode("latin-1"))]) if header else None
    if key:
        user = await user_for_token(key)
        return user, key if user.is_authenticated else None
    return await request.auser(), None


def _after(request: HttpRequest) -> int:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("after") or "0"
    try:
        return max(0, int(raw))
    except ValueError:
        return 0


def sse(event: Rendered) -> str:
    """The event's text as rendered once (`live.Rendered`), framed; compact JSON holds no newline, but should
    one appear it is continued on another `data:` line, which the client joins back."""
    head = f"id: {event.seq}\n" if event.seq is not None else ""
    text = event.text if "\n" not in event.text else event.text.replace("\n", "\ndata: ")
    return f"{head}event: {event.type}\ndata: {text}\n\n"


async def session_stream(request: HttpRequest, session_id: str):  # noqa: ANN201
    if request.method != "GET":
        return _error(405, "Use GET.")
    user, token_key = await _user(request)
    if not user.is_authenticated:
        return _error(401, "Authentication required: send 'Authorization: Token <key>' or log in.")
    try:
        session = await database_sync_to_async(session_get)(user=user, public_id=session_id)
    except NotFound as exc:
        return _error(404, exc.detail)
    grant = Grant(
        user_pk=user.pk,
        session_pk=session.pk,
        token_key=token_key,
        login_session_key=request.session.session_key if token_key is None else None,
    )
    response = StreamingHttpResponse(_events(grant, session, _after(request)), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def _events(grant: Grant, session: DevelopmentSession, after: int) -> AsyncIterator[str]:
    """Ends without `end` when the channel layer or the access check fails: the client reconnects with its
    last id and is checked afresh. Revoked access ends with `end` / {"status": "access_revoked"}."""
    try:
        async for chunk in _follow(grant, session, after):
            yield chunk
    except AccessRevoked as exc:
        if exc.code != CLOSE_CHECK_FAILED:
            yield _end("access_revoked")
    except (ConnectionError, OSError) as exc:
        logger.warning("SSE stream of %s ended: %s", session.public_id, exc)
    except Exception as exc:  # noqa: BLE001 - e.g. a Redis error class; the client resyncs from the log
        logger.warning("SSE stream of %s ended: %r", session.public_id, exc)


async def _follow(grant: Grant, session: DevelopmentSession, after: int) -> AsyncIterator[str]:
    """Every wait races the access watchdog, so revocation ends the stream however many events flow."""
    keepalive = float(getattr(settings, "HARNESS_SSE_KEEPALIVE_SECONDS", 15))
    cursor = Cursor(session, after, viewer_pk=grant.user_pk)
    async with Subscription(session.public_id) as subscription, AccessWatchdog(grant) as watchdog:
        async for page in cursor.pages():  # join first, then replay; a page is one chunk
            watchdog.raise_if_revoked()
            yield "".join(sse(event) for event in page)
        yield f": live after {cursor.last_seq}\n\n"
        if await _is_terminal(session.pk):
            yield _end(await _status(session.pk))
            return
        while True:
            event = await watchdog.guard(subscription.get(timeout=keepalive))
            if event is None:
                yield ": keep-alive\n\n"
                continue
            for item in await cursor.accept_rendered(event):
                watchdog.raise_if_revoked()
                yield sse(item)
                if item.type in TERMINAL_EVENTS:
                    yield _end(item.payload()["data"].get("status", item.type.split(".")[1]))
                    return


@database_sync_to_async
def _is_terminal(session_pk: int) -> bool:
    return DevelopmentSession.objects.get(pk=session_pk).is_terminal()


@database_sync_to_async
def _status(session_pk: int) -> str:
    return DevelopmentSession.objects.get(pk=session_pk).status


def _end(status: str) -> str:
    return f"event: end\ndata: {json.dumps({'status': status})}\n\n"
