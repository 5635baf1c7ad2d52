"""One access watchdog for every live stream: the websocket consumer and the SSE view.

A stream is opened by a person, with a token or a session cookie, on a session they may see; each of
these can be withdrawn while it is open (user deactivated or deleted, token deleted, logout, membership
removed, share withdrawn). The watchdog re-reads all of them from fresh rows on a timer of its own, so
it runs however much traffic flows, and it fails closed: a check that raises or does not answer ends
the stream too (with 4500, so the client reconnects and is checked afresh).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace
from typing import TypeVar

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user, get_user_model

from sessions_app.access import session_access
from sessions_app.models import DevelopmentSession

logger = logging.getLogger(__name__)
T = TypeVar("T")

CLOSE_CHECK_FAILED = 4500  # the check itself failed: reconnecting is fine, a new connection is checked in full
CLOSE_UNAUTHENTICATED = 4401  # the user, their token or their login session is gone
CLOSE_FORBIDDEN = 4403  # the user may no longer see the session
CHECK_TIMEOUT_SECONDS = 10.0  # a check that has not answered by then (a wedged database) ends the stream too


@dataclass(frozen=True)
class Grant:
    """What a stream was opened with: who, on which session, with which token or login session."""

    user_pk: int
    session_pk: int
    token_key: str | None = None
    login_session_key: str | None = None


class AccessRevoked(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _login_session_user_pk(session_key: str) -> int | None:
    """Who the login session authenticates today (None after logout, expiry or a password change)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return get_user(SimpleNamespace(session=store)).pk


def grant_refusal(grant: Grant) -> int | None:
    """None while the grant holds; otherwise the code to close the stream with."""
    from rest_framework.authtoken.models import Token

    user = get_user_model()._default_manager.filter(pk=grant.user_pk, is_active=True).first()
    if user is None:
        return CLOSE_UNAUTHENTICATED
    if grant.token_key is not None and not Token.objects.filter(key=grant.token_key, user_id=user.pk).exists():
        return CLOSE_UNAUTHENTICATED
    if grant.login_session_key is not None and _login_session_user_pk(grant.login_session_key) != user.pk:
        return CLOSE_UNAUTHENTICATED
    session = DevelopmentSession.objects.filter(pk=grant.session_pk).first()
    if session is None or not session_access(user, session).can_view:
        return CLOSE_FORBIDDEN
    return None


class AccessWatchdog:
    """Checks `grant` every HARNESS_ACCESS_CHECK_SECONDS; on the first refusal sets `revoked`, records
    `code` and awaits `on_revoked(code)` (the websocket closes itself there; SSE uses `guard`)."""

    def __init__(self, grant: Grant, on_revoked: Callable[[int], Awaitable[None]] | None = None) -> None:
        self.grant, self.on_revoked = grant, on_revoked
        self.interval = float(getattr(settings, "HARNESS_ACCESS_CHECK_SECONDS", 2.0))
        self.revoked = asyncio.Event()
        self.code: int | None = None
        self._task: asyncio.Task | None = None

    async def check(self) -> bool:
        """Checks now; True while access holds."""
        try:
            check = database_sync_to_async(grant_refusal, thread_sensitive=False)  # not queued behind slow views
            code = await asyncio.wait_for(check(self.grant), CHECK_TIMEOUT_SECONDS)
        except Exception:  # noqa: BLE001 - fail closed on anything: a database error, a timeout, a bug
            logger.exception("access check of user %s on session %s failed", self.grant.user_pk, self.grant.session_pk)
            code = CLOSE_CHECK_FAILED
        if code is not None:
            await self._revoke(code)
        return code is None

    async def _revoke(self, code: int) -> None:
        if self.revoked.is_set():
            return
        self.code = code
        self.revoked.set()
        logger.info("live stream of user %s on session %s ended: %s", self.grant.user_pk, self.grant.session_pk, code)
        if self.on_revoked is not None:
            try:
                await self.on_revoked(code)
            except Exception:  # noqa: BLE001 - the stream may already be gone
                logger.exception("closing a revoked stream failed")

    async def _run(self) -> None:
        try:
            while not self.revoked.is_set():
                await asyncio.sleep(self.interval)
                await self.check()
        except Exception:  # noqa: BLE001 - never die silently with the stream still open
            logger.exception("access watchdog failed")
            await self._revoke(CLOSE_CHECK_FAILED)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        """Cancels the timer, unless it is already ending the stream (then it finishes its close)."""
        if self._task is not None and not self.revoked.is_set() and self._task is not asyncio.current_task():
            self._task.cancel()

    async def guard(self, awaitable: Awaitable[T]) -> T:
        """`await awaitable`, unless access is revoked first: then AccessRevoked, at once."""
        task = asyncio.ensure_future(awaitable)
        waiter = asyncio.ensure_future(self.revoked.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not task.done():
                task.cancel()
        if self.revoked.is_set():
            raise AccessRevoked(self.code or CLOSE_FORBIDDEN)
        return task.result()

    def raise_if_revoked(self) -> None:
        if self.revoked.is_set():
            raise AccessRevoked(self.code or CLOSE_FORBIDDEN)

    async def __aenter__(self) -> AccessWatchdog:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
