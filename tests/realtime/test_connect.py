"""Opening the Space socket: who gets in, with which close code the others are turned away."""

from __future__ import annotations

import pytest

from accounts.models import Block
from spaces import services
from spaces.models import Participant
from tests.factories import SpaceFactory, UserFactory, ended_space, join, participant
from tests.realtime.conftest import ORIGIN, Socket, communicator, session_key_for, space_path
from tests.realtime.helpers import db

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def refused(sock: Socket, code: int, error_code: str) -> None:
    error = await sock.next()
    assert error["type"] == "error"
    assert error["code"] == error_code
    assert error["message"]
    closed = await sock.next()
    assert closed == {"type": "closed", "code": code}


async def test_opening_the_socket_joins_and_sends_the_room_state(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()

    async with open_socket(listener, space_path(space.pk)) as ws:
        state = await ws.next()

    assert state["type"] == "space.state"
    assert state["space_id"] == space.pk
    assert isinstance(state["seq"], int)
    assert state["space"]["id"] == space.pk
    assert state["space"]["state"] == "live"
    assert state["space"]["listener_count"] == 1
    assert state["me"]["role"] == "listener"
    assert state["me"]["state"] == "present"
    assert [p["user"]["id"] for p in state["stage"]] == [space.host_id]
    assert state["can"]["raise_hand"] is True
    assert state["can"]["moderate"] is False
    assert state["requests"] is None  # the raised-hands queue is for moderators
    assert (await db(participant)(space, listener)).state == Participant.State.PRESENT


async def test_the_host_state_includes_the_raised_hands(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    await db(join)(space, listener)
    await db(services.speaker_request_create)(user=listener, space_id=space.pk)

    async with open_socket(space.host, space_path(space.pk)) as ws:
        state = await ws.next()

    assert state["me"]["role"] == "host"
    assert state["can"]["moderate"] is True
    assert [r["user"]["id"] for r in state["requests"]] == [listener.pk]


async def test_without_credentials_where_guests_are_off_the_socket_closes_with_4401():
    """Without any credential the socket is a guest's (tests/realtime/test_guests.py); a Space
    whose host turned guests off wants an account."""
    space = await db(SpaceFactory)(guests_allowed=False)
    sock = Socket(communicator(space_path(space.pk)))
    try:
        assert await sock.connect()
        await refused(sock, 4401, "guests_off")
    finally:
        await sock.close()


async def test_a_bad_token_is_anonymous_and_closes_with_4401():
    space = await db(SpaceFactory)()
    sock = Socket(communicator(space_path(space.pk), token="not-a-session"))
    try:
        assert await sock.connect()
        await refused(sock, 4401, "not_authenticated")
    finally:
        await sock.close()


async def test_an_unknown_space_closes_with_4404(open_socket):
    someone = await db(UserFactory)()
    async with open_socket(someone, space_path(987654)) as ws:
        await refused(ws, 4404, "space_not_found")


async def test_an_unknown_socket_path_closes_with_4404(open_socket):
    someone = await db(UserFactory)()
    async with open_socket(someone, "/ws/nothing-here/") as ws:
        await refused(ws, 4404, "not_found")


async def test_a_user_blocked_by_the_host_is_refused_with_4403(open_socket):
    space = await db(SpaceFactory)()
    blocked = await db(UserFactory)()
    await db(Block.objects.create)(blocker=space.host, blocked=blocked)

    async with open_socket(blocked, space_path(space.pk)) as ws:
        await refused(ws, 4403, "blocked")
    assert not await db(Participant.objects.filter(space=space, user=blocked).exists)()


async def test_a_removed_user_cannot_come_back_4403(open_socket):
    space = await db(SpaceFactory)()
    removed = await db(UserFactory)()
    await db(join)(space, removed)
    await db(services.participant_remove)(actor=space.host, space_id=space.pk, user_id=removed.pk)

    async with open_socket(removed, space_path(space.pk)) as ws:
        await refused(ws, 4403, "removed")


async def test_an_ended_space_closes_with_4409(open_socket):
    space = await db(ended_space)()
    someone = await db(UserFactory)()
    async with open_socket(someone, space_path(space.pk)) as ws:
        await refused(ws, 4409, "space_ended")


async def test_an_app_token_without_origin_authenticates(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk), how="token") as ws:
        state = await ws.next()
    assert state["type"] == "space.state"
    assert state["me"]["user"]["id"] == listener.pk


async def test_a_session_cookie_with_our_origin_authenticates(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk), how="cookie", origin=ORIGIN) as ws:
        state = await ws.next()
    assert state["me"]["user"]["id"] == listener.pk


async def test_a_session_cookie_without_origin_is_ignored_4401(open_socket):
    """A page on another site could omit Origin only by not being a browser; without Origin the
    cookie is dropped and only the app token counts."""
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk), how="cookie") as ws:
        await refused(ws, 4401, "not_authenticated")
    assert not await db(Participant.objects.filter(space=space, user=listener).exists)()


async def test_a_foreign_origin_is_refused_at_the_handshake():
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    key = await db(session_key_for)(listener)
    sock = Socket(communicator(space_path(space.pk), cookie=key, origin=b"https://evil.example"))
    try:
        assert not await sock.connect()
    finally:
        await sock.close()
