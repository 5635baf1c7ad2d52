"""Restart the channel layer's Redis in the middle of a stream: the client reconnects and loses nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from channels.layers import channel_layers
from django.db import transaction
from rest_framework.authtoken.models import Token

from sessions_app.events import Actor, event_record
from sessions_app.models import DevelopmentSession
from tests.conftest import _free_port, start_daphne, stop_daphne
from tests.support import wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class PrivateRedis:
    """A redis-server of the test's own, so restarting it touches nothing else (the broker, other tests)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        wait_for(
            lambda: (
                subprocess.run(
                    ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
                ).stdout.strip()
                == "PONG"
            ),
            timeout=10,
        )  # noqa: E501

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def private_redis(settings):  # noqa: ANN001, ANN201
    redis = PrivateRedis()
    redis.start()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis.url], "prefix": "restart"},
        }
    }
    channel_layers.backends.clear()
    yield redis
    channel_layers.backends.clear()
    if redis.process.poll() is None:
        redis.stop()


def write(session: DevelopmentSession, n: int) -> None:
    for i in range(n):
        with transaction.atomic():
            event_record(session=session, type="test.tick", actor=Actor.system(), data={"i": i})


def test_a_redis_restart_mid_stream_loses_nothing(private_redis, cast, acme, tmp_path):
    session = DevelopmentSession.objects.create(
        organization=acme, created_by=cast["member"], intent="x", status="running"
    )
    server, url = start_daphne(tmp_path, HARNESS_CHANNEL_REDIS_URL=private_redis.url, HARNESS_CHANNEL_PREFIX="restart")
    key = Token.objects.get_or_create(user=cast["member"])[0].key
    env = {**os.environ, "HARNESS_URL": url, "HARNESS_TOKEN": key, "XDG_CONFIG_HOME": "/nonexistent"}
    watcher = subprocess.Popen(
        [sys.executable, "-m", "harness_cli", "watch", session.public_id, "--json"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: list[int] = []

    def read() -> None:
        for line in watcher.stdout:
            if line.startswith("{") and (seq := json.loads(line).get("seq")):
                seen.append(seq)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        write(session, 30)
        wait_for(lambda: len(seen) >= 30, timeout=30, what="the first 30 events live")
        private_redis.stop()
        write(session, 30)  # published into the void: the log keeps them
        log = next(tmp_path.glob("daphne-*.log"))
        wait_for(lambda: "ended" in log.read_text(), timeout=20, what="the server to notice the outage")
        private_redis.start()
        write(session, 30)
        with transaction.atomic():
            DevelopmentSession.objects.filter(pk=session.pk).update(status="completed")
            event_record(session=session, type="session.completed", actor=Actor.system(), data={"status": "completed"})
        assert watcher.wait(timeout=60) == 0, watcher.stderr.read()
        reader.join(timeout=5)
    finally:
        if watcher.poll() is None:
            watcher.kill()
        stop_daphne(server)

    assert seen == list(range(1, 92)), (
        f"missing {sorted(set(range(1, 92)) - set(seen))}, duplicates {len(seen) - len(set(seen))}"
    )
