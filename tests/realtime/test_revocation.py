"""The end of a sign-in reaches open sockets (issue 16, item 2): a logout closes the sockets of
that session with 4401 (the user's other sessions stay), a ban closes all of the user's sockets
with 4403, and the banned user leaves the Space at once."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_ban
from spaces.models import Participant
from spaces.realtime import presence
from tests.factories import SpaceFactory, UserFactory
from tests.realtime.conftest import ORIGIN, Socket, communicator, session_key_for, space_path
from tests.realtime.helpers import db

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

APP = "/_allauth/app/v1"


def app_logout(token: str) -> int:
    return APIClient().delete(f"{APP}/auth/session", HTTP_X_SESSION_TOKEN=token).status_code


def site_logout(cookie: str) -> int:
    client = Client()
    client.cookies["sessionid"] = cookie
    return client.post(reverse("account_logout")).status_code


async def opened(path: str, **credentials: str | bytes) -> Socket:
    sock = Socket(communicator(path, **credentials))  # type: ignore[arg-type]
    assert await sock.connect()
    return sock


async def closed_with(sock: Socket) -> tuple[str, int | None]:
    """The error code the server gave, and the close code that followed it."""
    error = await sock.until(lambda m: m["type"] in ("error", "closed"))
    if error["type"] == "closed":
        return "", error["code"]
    closed = await sock.next()
    assert closed["type"] == "closed", sock.seen
    return error["code"], closed["code"]


async def test_an_app_logout_closes_that_sessions_socket_with_4401_and_spares_the_other_device():
    space = await db(SpaceFactory)()
    user = await db(UserFactory)()
    phone, tablet = await db(session_key_for)(user), await db(session_key_for)(user)
    on_phone = await opened(space_path(space.pk), token=phone)
    on_tablet = await opened(space_path(space.pk), token=tablet)
    try:
        await on_phone.until_type("space.state")
        await on_tablet.until_type("space.state")

        assert await db(app_logout)(phone) == 401  # allauth: "now signed out"

        assert await closed_with(on_phone) == ("not_authenticated", 4401)
        assert (await on_tablet.act("heartbeat"))["type"] == "ack"
    finally:
        await on_phone.close()
        await on_tablet.close()


async def test_a_site_logout_closes_the_browsers_socket_and_its_feed_with_4401():
    space = await db(SpaceFactory)()
    user = await db(UserFactory)()
    cookie = await db(session_key_for)(user)
    room = await opened(space_path(space.pk), cookie=cookie, origin=ORIGIN)
    feed = await opened("/ws/feed/", cookie=cookie, origin=ORIGIN)
    try:
        await room.until_type("space.state")
        await feed.until_type("bubbles")

        assert await db(site_logout)(cookie) == 302

        assert await closed_with(room) == ("not_authenticated", 4401)
        assert await closed_with(feed) == ("not_authenticated", 4401)
    finally:
        await room.close()
        await feed.close()


async def test_a_ban_closes_every_socket_of_the_user_with_4403_and_they_leave_the_space():
    space = await db(SpaceFactory)()
    user, neighbour = await db(UserFactory)(), await db(UserFactory)()
    phone, tablet = await db(session_key_for)(user), await db(session_key_for)(user)
    on_phone = await opened(space_path(space.pk), token=phone)
    on_tablet = await opened("/ws/feed/", token=tablet)
    watcher = await opened(space_path(space.pk), token=await db(session_key_for)(neighbour))
    try:
        await on_phone.until_type("space.state")
        await on_tablet.until_type("bubbles")
        await watcher.until_type("space.state")

        await db(user_ban)(user=user)

        assert await closed_with(on_phone) == ("account_disabled", 4403)
        assert await closed_with(on_tablet) == ("account_disabled", 4403)
        left = await watcher.until_type("participant.left")
        assert left["user"]["id"] == user.pk
        row = await db(Participant.objects.get)(space=space, user=user)
        assert row.state == Participant.State.LEFT
        assert (await watcher.act("heartbeat"))["type"] == "ack"
    finally:
        for sock in (on_phone, on_tablet, watcher):
            await sock.close()


async def test_a_ban_whose_departure_overtakes_its_event_still_closes_with_4403():
    """Across processes the ban reaches a Space socket twice: `user.banned` on the user's group
    and `participant.left` on the Space's, on separate pub/sub channels, in either order. When
    the departure comes first the socket must still say the account is disabled, not 4410."""
    space = await db(SpaceFactory)()
    user = await db(UserFactory)()
    sock = await opened(space_path(space.pk), token=await db(session_key_for)(user))
    try:
        await sock.until_type("space.state")
        await db(User.objects.filter(pk=user.pk).update)(is_active=False)
        await db(presence.banned_user_let_go)(user.pk)  # the departure, without `user.banned`
        assert await closed_with(sock) == ("account_disabled", 4403)
    finally:
        await sock.close()


async def test_another_users_logout_leaves_my_socket_alone():
    space = await db(SpaceFactory)()
    me, other = await db(UserFactory)(), await db(UserFactory)()
    mine = await opened(space_path(space.pk), token=await db(session_key_for)(me))
    try:
        await mine.until_type("space.state")
        assert await db(app_logout)(await db(session_key_for)(other)) == 401
        assert (await mine.act("heartbeat"))["type"] == "ack"
    finally:
        await mine.close()
