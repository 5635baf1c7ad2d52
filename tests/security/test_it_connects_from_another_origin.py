"""Issue 14.7: the websocket origin check looked only at the Origin's host, so with the session cookie
pages at http://127.0.0.1:9999, http://localhost:3000 and https://localhost connected and could send
feedback, pause, cancel and decide; and a token-header client without an Origin was refused.

Now the Origin must equal scheme, host and port of the origin the request came to, or an entry of
HARNESS_ALLOWED_ORIGINS; without an Origin only a token header gets in. Real daphne, `websockets` client.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework.authtoken.models import Token
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from config.asgi import application
from sessions_app.models import DevelopmentSession
from tests.conftest import start_daphne, stop_daphne

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
CONFIGURED = "https://app.example.com:8443"
JOINED = {"type": "live", "last_seq": 0, "reply": "ack"}  # joined, and a feedback action was acknowledged


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory):  # noqa: ANN001, ANN201
    """One daphne for the module, with one configured extra origin."""
    with django_db_blocker.unblock():
        process, url = start_daphne(tmp_path_factory.mktemp("origins"), HARNESS_ALLOWED_ORIGINS=CONFIGURED)
    yield url
    stop_daphne(process)


@pytest.fixture
def session(cast, acme):  # noqa: ANN001, ANN201
    return DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="build a chat app")


@pytest.fixture
def cookie(cast) -> str:  # noqa: ANN001
    """member's login session, as the browser would send it."""
    client = Client()
    client.force_login(cast["member"])
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture
def token(cast) -> str:  # noqa: ANN001
    return Token.objects.get_or_create(user=cast["member"])[0].key


async def handshake(server: str, session, headers: dict, origin: str | None = None) -> int | dict:  # noqa: ANN001
    """403 when the handshake is refused; otherwise the first message, after a feedback action's reply."""
    url = server.replace("http://", "ws://") + f"/ws/sessions/{session.public_id}/"
    try:
        async with connect(url, additional_headers=headers, origin=origin, open_timeout=5) as socket:
            first = json.loads(await asyncio.wait_for(socket.recv(), 5))
            await socket.send(json.dumps({"action": "feedback", "text": "from " + str(origin)}))
            while True:
                reply = json.loads(await asyncio.wait_for(socket.recv(), 5))
                if reply.get("type") in ("ack", "error"):
                    return {**first, "reply": reply["type"]}
    except InvalidStatus as exc:
        return exc.response.status_code


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",
        "http://localhost:3000",
        "https://localhost",
        "https://{own_host}",  # the right host and port, the wrong scheme
        "http://localhost:{own_port}",  # the right port, another host
        "https://app.example.com",  # a configured host on another port
        "null",
        None,  # a cookie and no Origin at all
    ],
)
async def test_it_connects_from_another_origin_with_the_session_cookie(server, session, cookie, origin):
    own_host = server.removeprefix("http://")
    origin = origin.format(own_host=own_host, own_port=own_host.rsplit(":", 1)[1]) if origin else None

    assert await handshake(server, session, {"Cookie": cookie}, origin) == 403


async def test_it_connects_from_the_servers_own_origin_with_the_session_cookie(server, session, cookie):
    assert await handshake(server, session, {"Cookie": cookie}, server) == JOINED


async def test_it_connects_from_a_configured_origin_with_the_session_cookie(server, session, cookie):
    assert await handshake(server, session, {"Cookie": cookie}, CONFIGURED) == JOINED


async def test_it_connects_with_a_token_header_and_no_origin(server, session, token):
    """The CLI: a page cannot set Authorization on a websocket, so no Origin is needed."""
    assert await handshake(server, session, {"Authorization": f"Token {token}"}) == JOINED


async def test_it_connects_with_a_token_header_and_a_foreign_origin(server, session, token):
    assert await handshake(server, session, {"Authorization": f"Token {token}"}, "http://localhost:3000") == 403


async def test_it_connects_with_a_host_outside_allowed_hosts(session, token):
    """DNS rebinding: evil.example resolving to the server, its page's own origin matches its Host."""
    key = f"Token {token}".encode()
    headers = [(b"host", b"evil.example"), (b"origin", b"http://evil.example"), (b"authorization", key)]
    communicator = WebsocketCommunicator(application, f"/ws/sessions/{session.public_id}/", headers=headers)
    connected, _ = await communicator.connect()
    assert not connected


@pytest.mark.parametrize(
    ("forwarded_proto", "origin", "joins"),
    [
        ("https", "https://testserver", True),  # the proxy says the page came over TLS: its https origin is ours
        ("https", "http://testserver", False),
        ("http", "https://testserver", False),
        (None, "https://testserver", False),  # no proxy header: the socket came over plain http
    ],
)
async def test_it_connects_from_https_behind_a_tls_proxy(settings, session, cookie, forwarded_proto, origin, joins):
    """The scheme is decided as Django's request.is_secure() decides it (SECURE_PROXY_SSL_HEADER, as in
    production settings): daphne puts none in a websocket's scope."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    headers = [(b"host", b"testserver"), (b"origin", origin.encode()), (b"cookie", cookie.encode())]
    if forwarded_proto:
        headers.append((b"x-forwarded-proto", forwarded_proto.encode()))
    communicator = WebsocketCommunicator(application, f"/ws/sessions/{session.public_id}/", headers=headers)

    connected, _ = await communicator.connect()

    assert connected is joins
    if connected:
        assert (await communicator.receive_json_from(timeout=5))["type"] == "live"
        await communicator.disconnect()
