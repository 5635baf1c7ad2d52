"""A session's hub stays in its channel-layer group for as long as anyone watches, past the layer's group expiry."""

from __future__ import annotations

import asyncio

import pytest
from django.conf import settings as django_settings

from sessions_app import live
from sessions_app.streaming import Subscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def short_group_expiry(settings):  # noqa: ANN001, ANN201
    """The Redis layer as configured, but forgetting group members after 1 s (a day in production)."""
    if "RedisChannelLayer" not in django_settings.CHANNEL_LAYERS["default"]["BACKEND"]:
        pytest.skip("the group expiry that matters is channels-redis's")
    layers = {**settings.CHANNEL_LAYERS}
    default = {**layers["default"], "CONFIG": {**layers["default"]["CONFIG"], "group_expiry": 1}}
    settings.CHANNEL_LAYERS = {**layers, "default": default}


async def test_a_watcher_still_gets_events_after_the_group_expiry(short_group_expiry):
    session_id = "dev_hubexpirytest0000000"
    async with Subscription(session_id) as subscription:
        await asyncio.sleep(2.5)  # more than twice the expiry: without re-joining, the hub is no longer a member

        await asyncio.to_thread(live.publish, session_id, {"seq": 1, "type": "bench.tick", "data": {}})

        event = await subscription.get(timeout=5)
    assert event is not None and event.seq == 1
