"""The session websocket on the real (Redis) channel layer: who may join, replay then live with no
gap and no duplicate, actions through the services, and revocation."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection, transaction
from guardian.shortcuts import assign_perm, remove_perm
from rest_framework.authtoken.models import Token

from config.asgi import application
from sessions_app.events import Actor, event_record
from sessions_app.models import DevelopmentSession, Feedback, Membership

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://testserver")
HOST = (b"host", b"testserver")  # the origin check compares the Origin with the Host the socket came to


@pytest.fixture
def session(cast, acme):  # noqa: ANN001, ANN201
    return DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="build a chat app")


@pytest.fixture
def headers(cast):  # noqa: ANN001, ANN201
    """username → websocket headers with that person's token (built before the event loop runs)."""
    keys = {name: Token.objects.get_or_create(user=user)[0].key for name, user in cast.items()}
    return {name: [ORIGIN, (b"authorization", f"Token {key}".encode())] for name, key in keys.items()}


def socket(session, headers, after: int = 0) -> WebsocketCommunicator:  # noqa: ANN001
    return WebsocketCommunicator(
        application, f"/ws/sessions/{session.public_id}/?after={after}", headers=[HOST, *headers]
    )


def record(session, n: int = 1, kind: str = "test.happened") -> None:  # noqa: ANN001
    for i in range(n):
        with transaction.atomic():
            event_record(session=session, type=kind, actor=Actor.system(), data={"i": i})


async def receive_until_live(communicator: WebsocketCommunicator) -> list[dict]:
    events = []
    while True:
        message = await communicator.receive_json_from(timeout=5)
        if message.get("type") == "live":
            return events
        events.append(message)


async def next_stored(communicator: WebsocketCommunicator, timeout: float = 5) -> dict:
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        if message.get("seq") is not None:
            return message


async def test_anonymous_and_outsiders_are_refused(session, headers):
    for communicator, code in (
        (socket(session, [ORIGIN]), 4401),
        (socket(session, headers["outsider"]), 4404),
    ):
        connected, _ = await communicator.connect()
        assert connected
        assert (await communicator.receive_output(timeout=5)) == {"type": "websocket.close", "code": code}


async def test_a_foreign_origin_is_refused(session, cast):
    key = (await database_sync_to_async(Token.objects.get_or_create)(user=cast["member"]))[0].key
    communicator = socket(
        session, headers=[(b"origin", b"http://evil.example"), (b"authorization", f"Token {key}".encode())]
    )
    connected, _ = await communicator.connect()
    assert not connected


async def test_a_guest_with_a_share_may_watch(session, cast, headers):
    await database_sync_to_async(assign_perm)("sessions_app.view_developmentsession", cast["guest"], session)
    communicator = socket(session, headers["guest"])
    connected, _ = await communicator.connect()
    assert connected
    assert await receive_until_live(communicator) == []
    await communicator.disconnect()


async def test_it_replays_after_n_then_goes_live(session, headers):
    await database_sync_to_async(record)(session, 5)
    communicator = socket(session, headers["lead"], after=2)
    await communicator.connect()

    replayed = await receive_until_live(communicator)
    await database_sync_to_async(record)(session, 1, "test.live")
    live = await next_stored(communicator)

    assert [e["seq"] for e in replayed] == [3, 4, 5]
    assert live["seq"] == 6 and live["type"] == "test.live" and live["session"] == session.public_id
    await communicator.disconnect()


async def test_no_gap_and_no_duplicate_while_1000_events_are_written_and_the_client_reconnects(session, headers):
    total, writers = 1000, 4

    def write(count: int) -> None:
        try:
            record(session, count)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(total // writers,)) for _ in range(writers)]
    for thread in threads:
        thread.start()
    seen: list[int] = []
    rng = random.Random(7)
    while len(seen) < total:
        communicator = socket(session, headers["member"], after=seen[-1] if seen else 0)
        await communicator.connect()
        budget = rng.randint(20, 250)  # drop the connection at a random point
        try:
            while budget > 0 and len(seen) < total:
                message = await communicator.receive_json_from(timeout=10)
                if message.get("seq") is not None:
                    seen.append(message["seq"])
                    budget -= 1
        finally:
            await communicator.disconnect()
    for thread in threads:
        await asyncio.to_thread(thread.join, 60)
    assert not any(thread.is_alive() for thread in threads), "a writer is stuck: it would hang the suite"

    assert seen == list(range(1, total + 1))


async def test_feedback_over_the_socket_goes_through_the_service(session, headers):
    communicator = socket(session, headers["member2"])
    await communicator.connect()
    await receive_until_live(communicator)

    await communicator.send_json_to({"action": "feedback", "text": "Use British spelling"})

    kinds: set[str] = set()
    while not {"ack", "feedback.submitted"} <= kinds:
        kinds.add((await communicator.receive_json_from(timeout=5)).get("type"))
    assert await database_sync_to_async(Feedback.objects.filter(session=session, text="Use British spelling").exists)()
    await communicator.disconnect()


async def test_a_view_only_guest_may_not_pause(session, cast, headers):
    await database_sync_to_async(assign_perm)("sessions_app.view_developmentsession", cast["guest"], session)
    communicator = socket(session, headers["guest"])
    await communicator.connect()
    await receive_until_live(communicator)

    await communicator.send_json_to({"action": "pause"})

    reply = await communicator.receive_json_from(timeout=5)
    while reply.get("type") not in ("ack", "error"):
        reply = await communicator.receive_json_from(timeout=5)
    assert reply["type"] == "error" and reply["status"] == 403
    await communicator.disconnect()


@pytest.mark.parametrize("revoke", ["membership", "share"])
async def test_revoking_access_disconnects_the_watcher_within_5_seconds(session, cast, headers, revoke):
    user = cast["member2"] if revoke == "membership" else cast["guest"]
    if revoke == "share":
        await database_sync_to_async(assign_perm)("sessions_app.view_developmentsession", user, session)
    communicator = socket(session, headers[user.username])
    await communicator.connect()
    await receive_until_live(communicator)

    if revoke == "membership":
        await database_sync_to_async(Membership.objects.filter(user=user).delete)()
    else:
        await database_sync_to_async(remove_perm)("sessions_app.view_developmentsession", user, session)

    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            break
    assert output["code"] == 4403 and loop.time() - started < 5
