"""Guests on the Space socket (issue 20): listen-only without an account, refused everything
else with `sign_in_required`, limited per address, closed when the host turns guests off,
counted among listeners."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from channels.testing import WebsocketCommunicator

from spaces import services
from spaces.models import Participant, Space
from spaces_project.asgi import application
from tests.factories import SpaceFactory, ended_space, fresh, join
from tests.realtime.conftest import ORIGIN, Socket, space_path
from tests.realtime.helpers import db

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def guest_communicator(
    path: str, *, forwarded: str | None = None, peer: str = "198.51.100.7"
) -> WebsocketCommunicator:
    """A browser without an account: Origin, no cookie, no token."""
    headers = [(b"host", b"localhost"), (b"origin", ORIGIN)]
    if forwarded is not None:
        headers.append((b"x-forwarded-for", forwarded.encode()))
    comm = WebsocketCommunicator(application, path, headers=headers)
    comm.scope["client"] = [peer, 50000]
    return comm


@asynccontextmanager
async def guest_socket(path: str, **kwargs: str) -> AsyncIterator[Socket]:
    sock = Socket(guest_communicator(path, **kwargs))
    try:
        assert await sock.connect()
        yield sock
    finally:
        await sock.close()


async def refused(sock: Socket, code: int, error_code: str) -> None:
    error = await sock.next()
    assert (error["type"], error["code"]) == ("error", error_code), error
    assert await sock.next() == {"type": "closed", "code": code}


async def test_a_guest_gets_the_room_as_anyone_sees_it_and_the_live_playlist():
    space = await db(SpaceFactory)()
    listener = await db(join)(space)

    async with guest_socket(space_path(space.pk)) as ws:
        state = await ws.next()

    assert state["type"] == "space.state"
    assert state["guest"] is True
    assert state["me"] is None
    assert set(state["can"].values()) == {False}
    assert state["listen_mode"] == "hls"
    assert state["hls"]["url"].endswith("/index.m3u8")
    assert [p["user"]["id"] for p in state["stage"]] == [space.host_id]
    assert [p["user"]["id"] for p in state["listeners_sample"]] == [listener.pk]
    assert state["requests"] is None
    assert state["invitations"] == []
    assert state["seat_actions"] == {str(space.host_id): [], str(listener.pk): []}
    # A guest is no participant: nothing is written for them.
    assert await db(Participant.objects.filter(space=space).count)() == 2


async def test_every_action_but_heartbeat_and_snapshot_wants_an_account(open_socket):
    space = await db(SpaceFactory)()
    async with guest_socket(space_path(space.pk)) as ws:
        await ws.next()
        for action, fields in [
            ("react", {"emoji": "clap"}),
            ("raise_hand", {}),
            ("comment", {"text": "hi"}),
            ("leave", {}),
            ("end", {}),
            ("signal", {"kind": "offer", "sdp": "v=0"}),
            ("listen_mode", {"mode": "webrtc"}),
        ]:
            answer = await ws.act(action, **fields)
            assert (answer["type"], answer["code"]) == ("error", "sign_in_required"), action
        assert (await ws.act("heartbeat"))["type"] == "ack"
        # A bad message is still a bad message, not a sign-in question.
        assert (await ws.act("react", emoji=5))["code"] == "invalid"
        snap = await ws.act("snapshot", rid="s1")
        assert snap["type"] == "ack"
        assert next(m for m in ws.seen if m.get("id") == "s1")["guest"] is True
        assert ws.closed_with is None

    assert await db(Participant.objects.filter(space=space).count)() == 1


async def test_a_guest_hears_the_room_events(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(join)(space)
    async with guest_socket(space_path(space.pk)) as ws:
        await ws.next()
        async with open_socket(listener, space_path(space.pk)) as other:
            await other.next()
            assert (await other.act("comment", text="hello guests"))["type"] == "ack"
            added = await ws.until_type("comment.added")
            assert added["comment"]["text"] == "hello guests"
            await db(services.stage_lock_set)(actor=space.host, space_id=space.pk, locked=True)
            assert (await ws.until_type("stage.lock_changed"))["locked"] is True


@pytest.mark.parametrize(
    ("make", "code", "error_code"),
    [
        (lambda: SpaceFactory(is_ticketed=True), 4401, "sign_in_required"),
        (lambda: SpaceFactory(guests_allowed=False), 4401, "guests_off"),
        (lambda: ended_space(), 4409, "space_ended"),
        (lambda: SpaceFactory(state=Space.State.SCHEDULED, started_at=None), 4409, None),
    ],
    ids=["ticketed", "guests-off", "ended", "scheduled"],
)
async def test_a_space_that_takes_no_guests_refuses_the_socket(make, code, error_code):
    space = await db(make)()
    sock = Socket(guest_communicator(space_path(space.pk)))
    try:
        assert await sock.connect()
        error = await sock.next()
        assert error["type"] == "error"
        if error_code:
            assert error["code"] == error_code
        assert await sock.next() == {"type": "closed", "code": code}
    finally:
        await sock.close()


async def test_an_unknown_space_is_4404():
    sock = Socket(guest_communicator(space_path(999_999)))
    try:
        assert await sock.connect()
        await refused(sock, 4404, "space_not_found")
    finally:
        await sock.close()


async def test_turning_guests_off_closes_open_guest_sockets_and_keeps_the_others(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(join)(space)
    async with (
        guest_socket(space_path(space.pk)) as ws,
        open_socket(listener, space_path(space.pk)) as member,
    ):
        await ws.next()
        await member.next()
        async with open_socket(space.host, space_path(space.pk)) as host:
            await host.next()
            ack = await host.act("guests", allowed=False)
            assert ack == {**ack, "type": "ack", "guests_allowed": False}
            changed = await ws.until_type("guests.changed")
            assert changed["guests_allowed"] is False
            await refused(ws, 4401, "guests_off")
            assert (await member.until_type("guests.changed"))["guests_allowed"] is False
            assert (await member.act("heartbeat"))["type"] == "ack"
            # A listener may not turn it back on.
            assert (await member.act("guests", allowed=True))["code"] == "not_moderator"

    assert not (await db(fresh)(space)).guests_allowed


async def test_too_many_guest_sockets_from_one_address_are_refused(settings):
    settings.SPACES_GUEST_SOCKETS_PER_ADDRESS = 2
    space = await db(SpaceFactory)()
    async with guest_socket(space_path(space.pk)) as a, guest_socket(space_path(space.pk)) as b:
        await a.next()
        await b.next()
        third = Socket(guest_communicator(space_path(space.pk)))
        try:
            assert await third.connect()
            await refused(third, 4429, "too_many_sockets")
        finally:
            await third.close()
        # Another address is not held back by this one.
        async with guest_socket(space_path(space.pk), peer="203.0.113.9") as other:
            assert (await other.next())["type"] == "space.state"
    # A closed socket frees its place.
    async with guest_socket(space_path(space.pk)) as again:
        assert (await again.next())["type"] == "space.state"


async def test_guest_connects_per_address_are_rate_limited(settings):
    settings.SPACES_GUEST_CONNECTS_PER_MINUTE = 2
    space = await db(SpaceFactory)()
    for _ in range(2):
        async with guest_socket(space_path(space.pk)) as ws:
            assert (await ws.next())["type"] == "space.state"
    sock = Socket(guest_communicator(space_path(space.pk)))
    try:
        assert await sock.connect()
        error = await sock.next()
        assert (error["code"], error["retry_after"] > 0) == ("rate_limited", True)
        assert await sock.next() == {"type": "closed", "code": 4429}
    finally:
        await sock.close()


async def test_behind_a_trusted_proxy_the_limit_keys_on_the_address_the_proxy_saw(settings):
    """The client writes X-Forwarded-For's left part itself: changing it buys nothing."""
    settings.SPACES_TRUSTED_PROXIES = 1
    settings.SPACES_GUEST_SOCKETS_PER_ADDRESS = 1
    space = await db(SpaceFactory)()
    path = space_path(space.pk)
    async with guest_socket(path, forwarded="1.1.1.1, 198.51.100.20", peer="10.0.0.2") as ws:
        await ws.next()
        spoofed = Socket(
            guest_communicator(path, forwarded="2.2.2.2, 198.51.100.20", peer="10.0.0.2")
        )
        try:
            assert await spoofed.connect()
            await refused(spoofed, 4429, "too_many_sockets")
        finally:
            await spoofed.close()
        async with guest_socket(path, forwarded="198.51.100.21", peer="10.0.0.2") as other:
            assert (await other.next())["type"] == "space.state"


async def test_a_bad_token_is_still_refused_not_taken_for_a_guest():
    space = await db(SpaceFactory)()
    comm = WebsocketCommunicator(
        application,
        space_path(space.pk),
        headers=[(b"host", b"localhost"), (b"x-session-token", b"not-a-session")],
    )
    sock = Socket(comm)
    try:
        assert await sock.connect()
        await refused(sock, 4401, "not_authenticated")
    finally:
        await sock.close()


async def test_guests_are_counted_among_listeners_and_the_room_is_told(settings, open_socket):
    settings.SPACES_GUEST_COUNT_SECONDS = 0.2
    space = await db(SpaceFactory)()
    async with open_socket(space.host, space_path(space.pk)) as host:
        await host.next()
        async with (
            guest_socket(space_path(space.pk)) as a,
            guest_socket(space_path(space.pk), peer="203.0.113.5") as b,
        ):
            await a.next()
            await b.next()
            counted = await host.until(
                lambda m: m["type"] == "guests.counted" and m["counts"]["guests"] == 2
            )
            assert counted["counts"]["listeners"] == 2
            row = await db(fresh)(space)
            assert (row.guest_count, row.listener_count, row.peak_listener_count) == (2, 2, 2)
            # A guest sees themselves counted in what they are sent too.
            snap = await a.act("snapshot", rid="s")
            assert snap["type"] == "ack"
            state = next(m for m in a.seen if m.get("id") == "s")
            assert state["space"]["listener_count"] == 2
            assert state["space"]["guest_count"] == 2
