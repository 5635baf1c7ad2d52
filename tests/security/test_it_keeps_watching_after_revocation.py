"""Issue 14.2: a live stream outlived the access it was opened with. SSE rechecked only after 2 s of
silence, so with feedback every 0.5 s a removed member got 36 more events over 22 s; deleting a token
never closed a socket opened with it; the websocket's watchdog died silently (socket still subscribed)
when reloading the user raised. Now one watchdog (sessions_app/watchdog.py) re-reads user, token or
login session, membership and share on its own timer: every revocation ends the stream within 5 s while
events keep flowing, and a failing check ends it too. Real daphne, real Redis layer, real clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from channels.db import database_sync_to_async
from django.db import connection, transaction
from django.test import Client
from rest_framework.authtoken.models import Token
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from sessions_app.models import DevelopmentSession, Membership
from sessions_app.services.collaboration import feedback_submit, session_share, session_unshare
from sessions_app.services.governance import membership_remove
from sessions_app.watchdog import CHECK_TIMEOUT_SECONDS
from tests.conftest import start_daphne, stop_daphne

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
WITHIN = 5.0


@pytest.fixture
def daphne(transactional_db, tmp_path):  # noqa: ANN001, ANN201
    """(base URL, log file) of a daphne checking access every 2 s. One per test: a transactional test's flush
    gives the content types new ids, and a longer-lived server would keep the old ones in its cache (guardian
    shares would then never be found)."""
    process, url = start_daphne(tmp_path, HARNESS_ACCESS_CHECK_SECONDS="2")
    yield url, next(tmp_path.glob("daphne-*.log"))
    stop_daphne(process)


@pytest.fixture
def session(cast, acme):  # noqa: ANN001, ANN201
    return DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="build a chat app")


@dataclass
class Watcher:
    headers: dict
    revoke: Callable[[], object]
    ws_code: int


def watcher(kind: str, cast: dict, session: DevelopmentSession) -> Watcher:
    """Someone watching the session, and how their access is withdrawn."""
    member2 = cast["member2"]
    token = {"Authorization": f"Token {Token.objects.get_or_create(user=member2)[0].key}"}
    if kind == "membership removed":
        membership = Membership.objects.get(user=member2)
        return Watcher(token, lambda: membership_remove(actor=cast["admin"], membership=membership), 4403)
    if kind == "share withdrawn":
        session_share(user=cast["member"], session=session, username="guest", level="view")
        guest = {"Authorization": f"Token {Token.objects.get_or_create(user=cast['guest'])[0].key}"}
        return Watcher(guest, lambda: session_unshare(user=cast["member"], session=session, username="guest"), 4403)
    if kind == "token deleted":
        return Watcher(token, lambda: Token.objects.filter(user=member2).delete(), 4401)
    if kind == "user deactivated":

        def deactivate() -> None:
            member2.is_active = False
            member2.save(update_fields=["is_active"])

        return Watcher(token, deactivate, 4401)
    if kind == "user deleted":
        return Watcher(token, lambda: type(member2).objects.filter(pk=member2.pk).delete(), 4401)
    if kind == "logged out":
        browser = Client()
        browser.force_login(member2)
        cookie = {"Cookie": f"sessionid={browser.cookies['sessionid'].value}"}
        return Watcher(cookie, browser.logout, 4401)
    raise AssertionError(kind)


KINDS = ["membership removed", "share withdrawn", "token deleted", "user deactivated", "user deleted", "logged out"]


@contextlib.contextmanager
def feedback_every(session: DevelopmentSession, author, seconds: float = 0.4) -> Iterator[None]:  # noqa: ANN001
    """The lead posts feedback on a timer in another thread: a steady flow of stored events."""
    stop = threading.Event()

    def post() -> None:
        try:
            n = 0
            while not stop.wait(seconds):
                n += 1
                feedback_submit(user=author, session=session, text=f"note {n}")
        finally:
            connection.close()

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


async def _websocket_after(url: str, session, who: Watcher, revoke: Callable[[], object]) -> tuple[int, float, int]:  # noqa: ANN001
    """(close code, seconds from revocation to close, events received after it) under traffic."""
    ws_url = url.replace("http://", "ws://") + f"/ws/sessions/{session.public_id}/"
    async with connect(ws_url, additional_headers=who.headers, origin=url, open_timeout=5) as ws:  # own origin
        stored = 0
        while stored < 2:  # the traffic reaches this socket
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            stored += message.get("seq") is not None
        await database_sync_to_async(revoke)()
        loop = asyncio.get_running_loop()
        revoked_at, after = loop.time(), 0
        try:
            while loop.time() - revoked_at < 20:
                message = json.loads(await asyncio.wait_for(ws.recv(), 20))
                after += message.get("seq") is not None
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else -1, loop.time() - revoked_at, after
    raise AssertionError(f"still open 20 s after revocation, {after} events later")


async def _sse_after(url: str, session, who: Watcher, revoke: Callable[[], object]) -> tuple[str | None, float, int]:  # noqa: ANN001
    """(last `end` data or None, seconds from revocation to the end of the stream, events after it)."""
    loop = asyncio.get_running_loop()
    stored, revoked_at, after, end = 0, None, 0, None
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=20)) as client,
        client.stream("GET", f"{url}/api/v1/sessions/{session.public_id}/stream/", headers=who.headers) as response,
    ):
        assert response.status_code == 200
        kind = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind == "end":
                end = line.removeprefix("data: ")
            elif line.startswith("id: "):
                if revoked_at is None:
                    stored += 1
                    if stored == 2:
                        await database_sync_to_async(revoke)()
                        revoked_at = loop.time()
                else:
                    after += 1
            if revoked_at is not None and loop.time() - revoked_at > 20:
                raise AssertionError(f"still streaming 20 s after revocation, {after} events later")
    assert revoked_at is not None, "the stream ended before any traffic reached it"
    return end, loop.time() - revoked_at, after


@pytest.mark.parametrize("kind", KINDS)
async def test_it_keeps_watching_a_websocket_after_revocation(daphne, cast, session, kind):
    url, _ = daphne
    who = await database_sync_to_async(watcher)(kind, cast, session)

    with feedback_every(session, cast["lead"]):
        code, seconds, after = await _websocket_after(url, session, who, who.revoke)

    assert code == who.ws_code and seconds < WITHIN, (code, seconds, after)


@pytest.mark.parametrize("kind", KINDS)
async def test_it_keeps_watching_an_sse_stream_after_revocation(daphne, cast, session, kind):
    url, _ = daphne
    who = await database_sync_to_async(watcher)(kind, cast, session)

    with feedback_every(session, cast["lead"]):
        end, seconds, after = await _sse_after(url, session, who, who.revoke)

    assert end == '{"status": "access_revoked"}' and seconds < WITHIN, (end, seconds, after)


def _rename_token_table(away: bool) -> None:
    old, new = ("authtoken_token", "authtoken_token_away") if away else ("authtoken_token_away", "authtoken_token")
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {old} RENAME TO {new}")  # noqa: S608 - fixed names


@contextlib.asynccontextmanager
async def _database_fault() -> AsyncIterator[Callable[[], None]]:
    """A real database error for the access check: its token table disappears (and comes back after)."""
    faulty = threading.Event()

    def break_it() -> None:
        _rename_token_table(away=True)
        faulty.set()

    try:
        yield break_it
    finally:
        if faulty.is_set():
            await database_sync_to_async(_rename_token_table)(away=False)


async def test_it_keeps_watching_a_websocket_when_the_access_check_fails(daphne, cast, session):
    url, log = daphne
    who = await database_sync_to_async(watcher)("membership removed", cast, session)

    async with _database_fault() as break_it:
        with feedback_every(session, cast["lead"]):
            code, seconds, _ = await _websocket_after(url, session, who, break_it)

    assert code == 4500 and seconds < WITHIN  # closed, and the client may reconnect to be checked afresh
    assert 'relation "authtoken_token" does not exist' in log.read_text()  # logged, not silent


async def test_it_keeps_watching_an_sse_stream_when_the_access_check_fails(daphne, cast, session):
    url, _ = daphne
    who = await database_sync_to_async(watcher)("membership removed", cast, session)

    async with _database_fault() as break_it:
        with feedback_every(session, cast["lead"]):
            end, seconds, _ = await _sse_after(url, session, who, break_it)

    assert end is None and seconds < WITHIN  # ended without `end`: the client reconnects and is checked afresh


async def test_it_keeps_a_quiet_websocket_open_while_access_holds(daphne, cast, session):
    """No false alarm: a watcher whose access holds keeps a silent socket past several checks (and past the
    channel layer's 5 s blocking read, which redis-py 8's default socket timeout used to turn into a crash)."""
    url, _ = daphne
    who = await database_sync_to_async(watcher)("membership removed", cast, session)
    ws_url = url.replace("http://", "ws://") + f"/ws/sessions/{session.public_id}/"
    async with connect(ws_url, additional_headers=who.headers, origin=url, open_timeout=5) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "live"
        quiet_until = asyncio.get_running_loop().time() + 9
        with contextlib.suppress(TimeoutError):
            while (left := quiet_until - asyncio.get_running_loop().time()) > 0:
                message = json.loads(await asyncio.wait_for(ws.recv(), left))  # quiet: presence at most
                assert message["seq"] is None, message
        await database_sync_to_async(feedback_submit)(user=cast["lead"], session=session, text="after the quiet")
        while (message := json.loads(await asyncio.wait_for(ws.recv(), 5)))["seq"] is None:
            pass
    assert message["type"] == "feedback.submitted"


class TableLock:
    """Another connection holds ACCESS EXCLUSIVE on a table: queries on it wait (a wedged database)."""

    def __init__(self, table: str) -> None:
        self.table, self.locked, self.released = table, threading.Event(), threading.Event()

    def take(self) -> None:
        threading.Thread(target=self._hold, daemon=True).start()
        assert self.locked.wait(10)

    def _hold(self) -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE")
                self.locked.set()
                self.released.wait(60)
        finally:
            connection.close()

    def release(self) -> None:
        self.released.set()


async def test_it_keeps_watching_a_websocket_when_the_access_check_hangs(daphne, cast, session):
    url, _ = daphne
    who = await database_sync_to_async(watcher)("membership removed", cast, session)
    lock = TableLock("sessions_app_membership")

    with feedback_every(session, cast["lead"]):
        try:
            code, seconds, _ = await _websocket_after(url, session, who, lock.take)
        finally:
            lock.release()

    assert code == 4500 and seconds < CHECK_TIMEOUT_SECONDS + 2 * 2 + 1, (code, seconds)


def test_it_keeps_watching_with_the_cli_after_revocation(daphne, cast, session):
    """`harness watch` stops with a clear message instead of reconnecting."""
    url, _ = daphne
    who = watcher("membership removed", cast, session)
    env = {
        **os.environ,
        "HARNESS_URL": url,
        "HARNESS_TOKEN": who.headers["Authorization"].removeprefix("Token "),
        "XDG_CONFIG_HOME": "/nonexistent",
    }
    with feedback_every(session, cast["lead"]):
        cli = subprocess.Popen(
            [sys.executable, "-m", "harness_cli", "watch", session.public_id, "--json"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            while '"feedback.submitted"' not in (cli.stdout.readline() or '"feedback.submitted"'):
                pass
            who.revoke()
            revoked_at = time.monotonic()
            cli.wait(timeout=20)
        finally:
            cli.kill()
        stderr = cli.stderr.read()
    assert cli.returncode == 4 and "withdrawn" in stderr, (cli.returncode, stderr)
    assert time.monotonic() - revoked_at < WITHIN + 3
