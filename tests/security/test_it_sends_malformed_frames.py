"""Issue 14.8 (websocket): frames that are not one small JSON object used to crash the connection (1011,
a traceback in the log). Each now gets `{"type": "error", "status": 400, "detail": …}` and the socket
stays open: the next valid action is still acknowledged. Real Redis channel layer (REDIS_URL)."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from config.asgi import application
from sessions_app.models import DevelopmentSession, Feedback

pytestmark = pytest.mark.django_db(transaction=True)

MALFORMED = {
    "not JSON": "feedback: hello",
    "a JSON array": '["feedback", "hello"]',
    "a JSON string": '"feedback"',
    "an unclosed deep array": "[" * 2000,
    "a closed deep array": "[" * 2000 + "]" * 2000,
    "an object nested 40 deep": '{"action": "feedback", "text": ' + "[" * 40 + "]" * 40 + "}",
    "a lone surrogate": '{"action": "feedback", "text": "\\ud800"}',
    "a lone surrogate key": '{"action": "feedback", "\\udfff": 1, "text": "x"}',
    "NaN": '{"action": "feedback", "text": NaN}',
    "an action that is not a string": '{"action": ["feedback"], "text": "x"}',
    "no action": '{"text": "hello"}',
    "a huge frame": '{"action": "feedback", "text": "' + "x" * 70_000 + '"}',
}


@pytest.fixture
def session(cast, acme):  # noqa: ANN001, ANN201
    return DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="build a chat app")


@pytest.fixture
def member2_headers(cast):  # noqa: ANN001, ANN201
    key = Token.objects.get_or_create(user=cast["member2"])[0].key
    return [(b"host", b"testserver"), (b"origin", b"http://testserver"), (b"authorization", f"Token {key}".encode())]


async def _joined(session, headers) -> WebsocketCommunicator:  # noqa: ANN001
    communicator = WebsocketCommunicator(application, f"/ws/sessions/{session.public_id}/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    while (await communicator.receive_json_from(timeout=5)).get("type") != "live":
        pass
    return communicator


async def _reply(communicator: WebsocketCommunicator) -> dict:
    """The next ack or error (events and presence messages may come in between)."""
    while True:
        output = await communicator.receive_output(timeout=5)
        assert output["type"] == "websocket.send", f"the socket closed instead of replying: {output}"
        message = json.loads(output["text"])
        if message.get("type") in ("ack", "error"):
            return message


@pytest.mark.parametrize("frame", MALFORMED.values(), ids=MALFORMED.keys())
async def test_it_sends_a_malformed_text_frame(session, member2_headers, frame):
    communicator = await _joined(session, member2_headers)

    await communicator.send_to(text_data=frame)
    error = await _reply(communicator)
    await communicator.send_json_to({"action": "feedback", "text": "still here"})
    ack = await _reply(communicator)

    assert error["type"] == "error" and error["status"] == 400 and error["detail"]
    assert ack == {"type": "ack", "action": "feedback", "ok": True}
    texts = await database_sync_to_async(lambda: list(Feedback.objects.values_list("text", flat=True)))()
    assert texts == ["still here"]  # the malformed frame did nothing
    await communicator.disconnect()


async def test_it_sends_a_binary_frame(session, member2_headers):
    communicator = await _joined(session, member2_headers)

    await communicator.send_to(bytes_data=b'{"action": "feedback", "text": "as bytes"}')
    error = await _reply(communicator)
    await communicator.send_json_to({"action": "feedback", "text": "as text"})
    ack = await _reply(communicator)

    assert error["status"] == 400 and "text frame" in error["detail"]
    assert ack["type"] == "ack"
    await communicator.disconnect()


async def test_it_nests_exactly_to_the_limit_and_is_understood(session, member2_headers):
    """The limit refuses attacks, not ordinary messages: 32 levels still parse."""
    communicator = await _joined(session, member2_headers)

    await communicator.send_to(text_data='{"action": "feedback", "text": "deep", "x": ' + "[" * 31 + "]" * 31 + "}")

    assert (await _reply(communicator))["type"] == "ack"
    await communicator.disconnect()
