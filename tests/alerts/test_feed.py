"""The feed socket's `alert.live`: one message to `following.<host>`, shown only to the
followers whose bell and switch are on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from channels.db import database_sync_to_async

from accounts.models import Follow, User
from spaces import services
from tests.factories import UserFactory
from tests.realtime.conftest import Socket, communicator, session_key_for
from tests.realtime.helpers import db

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _quick(settings):
    settings.SPACES_FEED_DEBOUNCE_MS = 10
    settings.SPACES_HOST_MIN_FOLLOWERS = 0


@asynccontextmanager
async def feed(user: User) -> AsyncIterator[Socket]:
    key = await database_sync_to_async(session_key_for)(user)
    sock = Socket(communicator("/ws/feed/", token=key))
    try:
        assert await sock.connect()
        await sock.next()  # the first bubbles
        yield sock
    finally:
        await sock.close()


async def alerts_seen(user: User, host: User) -> list[dict]:
    """Open `user`'s feed; `host` goes live, then a control host the user wants alerts from;
    once the control's alert arrives, return the alerts seen about `host`'s Space. (The two
    alerts leave this process in that order, on one connection.)"""
    control = await db(UserFactory)()
    await db(Follow.objects.create)(follower=user, followee=control)
    async with feed(user) as ws:
        space = await db(services.space_start)(host=host, title="Now")
        other = await db(services.space_start)(host=control, title="Control")
        await ws.until(lambda m: m["type"] == "alert.live" and m["space"]["id"] == other.pk)
    return [m for m in ws.seen if m["type"] == "alert.live" and m["space"]["id"] == space.pk]


async def test_a_follower_with_the_bell_on_hears_the_alert():
    me, host = await db(UserFactory)(), await db(UserFactory)(display_name="Hosting")
    await db(Follow.objects.create)(follower=me, followee=host)

    seen = await alerts_seen(me, host)

    assert len(seen) == 1
    assert seen[0]["host"] == {"id": host.pk, "username": host.username, "name": "Hosting"}
    assert seen[0]["space"]["title"] == "Now"


async def test_the_bell_off_keeps_the_alert_away():
    me, host = await db(UserFactory)(), await db(UserFactory)()
    await db(Follow.objects.create)(follower=me, followee=host, alerts=Follow.Alerts.NONE)

    assert await alerts_seen(me, host) == []


async def test_a_host_you_do_not_follow_sends_you_nothing():
    me, host = await db(UserFactory)(), await db(UserFactory)()

    assert await alerts_seen(me, host) == []


async def test_the_switch_off_keeps_every_alert_away():
    me, host = await db(UserFactory)(live_alerts=False), await db(UserFactory)()
    await db(Follow.objects.create)(follower=me, followee=host)

    async with feed(me) as ws:
        space = await db(services.space_start)(host=host, title="Now")
        await ws.until(lambda m: m["type"] == "bubbles" and m["spaces"])
        # The socket reads the switch with the follows; a fresh read shows the same.
        await ws.act("bubbles")
    assert [m for m in ws.seen if m["type"] == "alert.live"] == []
    assert space.pk
