"""One account cannot flood a Space by opening more sockets (issue 16, item 3): the message limit
is per user across sockets (and processes: it lives in the cache), and a user holds at most
SPACES_MAX_SOCKETS_PER_USER sockets in one Space."""

from __future__ import annotations

import asyncio

import pytest
from django.core.cache import cache

from spaces.realtime import limits
from tests.factories import SpaceFactory, UserFactory
from tests.realtime.conftest import Socket, communicator, session_key_for, space_path
from tests.realtime.helpers import db

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def frozen_window(monkeypatch, settings):
    """One socket may send 20 at once; the user's window never turns over during the test."""
    settings.SPACES_WS_RATE = 10
    settings.SPACES_WS_BURST = 20
    settings.SPACES_WS_USER_RATE = 10
    settings.SPACES_WS_USER_BURST = 20
    monkeypatch.setattr(limits, "clock", lambda: 1_000_000.0)


async def opened(path: str, token: str) -> Socket:
    sock = Socket(communicator(path, token=token))
    assert await sock.connect()
    return sock


async def replies(sock: Socket, ids: list[str]) -> list[dict]:
    return [await sock.reply(rid) for rid in ids]


async def test_five_sockets_of_one_user_together_are_limited_like_one(frozen_window):
    space = await db(SpaceFactory)()
    user, other = await db(UserFactory)(), await db(UserFactory)()
    socks = [await opened(space_path(space.pk), await db(session_key_for)(user)) for _ in range(5)]
    bystander = await opened(space_path(space.pk), await db(session_key_for)(other))
    try:
        for sock in [*socks, bystander]:
            await sock.until_type("space.state")
        # 12 heartbeats on each socket: within one socket's burst, 60 for the user.
        sent: list[list[str]] = []
        for n, sock in enumerate(socks):
            ids = [f"hb-{n}-{i}" for i in range(12)]
            for rid in ids:
                await sock.send({"action": "heartbeat", "id": rid})
            sent.append(ids)
        answers = []
        for sock, ids in zip(socks, sent, strict=True):
            answers += await replies(sock, ids)
        acked = [a for a in answers if a["type"] == "ack"]
        limited = [a for a in answers if a.get("code") == "rate_limited"]
        assert len(acked) == 20
        assert len(limited) == 40
        assert all(a["retry_after"] > 0 for a in limited)
        # Another user has their own allowance.
        assert (await bystander.act("heartbeat"))["type"] == "ack"
    finally:
        for sock in [*socks, bystander]:
            await sock.close()


async def test_the_feed_socket_shares_the_users_allowance(frozen_window):
    space = await db(SpaceFactory)()
    user = await db(UserFactory)()
    room = await opened(space_path(space.pk), await db(session_key_for)(user))
    feed = await opened("/ws/feed/", await db(session_key_for)(user))
    try:
        await room.until_type("space.state")
        await feed.until_type("bubbles")
        ids = [f"hb-{i}" for i in range(20)]
        for rid in ids:
            await room.send({"action": "heartbeat", "id": rid})
        assert all(a["type"] == "ack" for a in await replies(room, ids))
        answer = await feed.act("heartbeat")
        assert answer["code"] == "rate_limited"
    finally:
        await room.close()
        await feed.close()


async def test_a_users_socket_beyond_the_cap_in_one_space_is_refused_with_4429(settings):
    settings.SPACES_MAX_SOCKETS_PER_USER = 2
    space, elsewhere = await db(SpaceFactory)(), await db(SpaceFactory)()
    user, other = await db(UserFactory)(), await db(UserFactory)()
    key = await db(session_key_for)(user)
    first = await opened(space_path(space.pk), key)
    second = await opened(space_path(space.pk), key)
    third = await opened(space_path(space.pk), key)
    others = await opened(space_path(space.pk), await db(session_key_for)(other))
    other_space = await opened(space_path(elsewhere.pk), key)
    try:
        await first.until_type("space.state")
        await second.until_type("space.state")
        error = await third.next()
        assert error["type"] == "error"
        assert error["code"] == "too_many_sockets"
        assert await third.next() == {"type": "closed", "code": 4429}
        # Another user, and the same user in another Space, are not affected.
        assert (await others.next())["type"] == "space.state"
        assert (await other_space.next())["type"] == "space.state"

        # Closing one socket frees its seat.
        await first.close()
        await asyncio.sleep(0)
        again = await opened(space_path(space.pk), key)
        try:
            assert (await again.next())["type"] == "space.state"
        finally:
            await again.close()
    finally:
        for sock in (first, second, third, others, other_space):
            await sock.close()


async def test_an_open_sockets_seat_is_kept_and_a_freed_one_can_be_taken_again(settings):
    settings.SPACES_MAX_SOCKETS_PER_USER = 1
    held = limits.seat_take(7, 9)
    assert held is not None
    assert limits.seat_take(7, 9) is None
    limits.seats_keep([held])
    assert limits.seat_take(7, 9) is None
    limits.seat_release(held)
    assert limits.seat_take(7, 9) is not None


async def test_keeping_seats_takes_back_an_expired_one_but_never_anothers(settings):
    settings.SPACES_MAX_SOCKETS_PER_USER = 2
    mine, lost = limits.seat_take(8, 9), limits.seat_take(8, 9)
    assert mine is not None
    assert lost is not None
    cache.delete(mine[0])  # expired while this process stalled, and still free
    cache.set(lost[0], "another-socket")  # expired, and taken by another socket meanwhile
    limits.seats_keep([mine, lost])
    assert cache.get(mine[0]) == mine[1]
    assert cache.get(lost[0]) == "another-socket"
