"""Co-host handover over real sockets: the host drops, leaves or comes back, and every client in
the room follows one host, never two (issue 9).

A dropped socket runs nothing on the server (presence is a heartbeat timestamp): the test
closes the host's socket without the `leave` action, then moves their `last_seen_at` past the
grace, which is what a dead connection leaves behind, and runs the sweep as beat would.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from accounts.models import User
from spaces.models import Participant, Space
from spaces.realtime import presence
from tests.factories import (
    SpaceFactory,
    UserFactory,
    age,
    fresh,
    join,
    make_cohost,
    participant,
    past_grace,
)
from tests.realtime.conftest import Socket, space_path
from tests.realtime.helpers import HostBelief, db

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

HOST = Participant.Role.HOST


class RoomView(HostBelief):
    """A client's belief about the host (`HostBelief`), read from a `Socket`."""

    async def read(self, ws: Socket) -> dict[str, Any]:
        message = await ws.next()
        assert message["type"] != "closed", ws.seen
        if message["type"] == "space.state":
            self.reset(message)
        elif "seq" in message:
            self.apply(message)
        return message

    async def follow(self, ws: Socket, until: str) -> dict[str, Any]:
        """Read until a message of type `until` (returned)."""
        while (message := await self.read(ws))["type"] != until:
            pass
        return message

    async def until_host(self, ws: Socket, expected: int) -> None:
        """Read until this client believes `expected` is the one host."""
        while not (self.host == expected and self.hosts == {expected}):
            await self.read(ws)

    async def until_state(self, ws: Socket, wanted: Callable[[dict[str, Any]], bool]) -> None:
        """Read until the latest snapshot this client got satisfies `wanted`."""
        while not wanted(self.states[-1]):
            await self.read(ws)


async def open_room(
    open_socket, stack, space: Space, people: list[User]
) -> list[tuple[Socket, RoomView]]:
    opened = []
    for who in people:
        ws = await stack.enter_async_context(open_socket(who, space_path(space.pk)))
        opened.append((ws, RoomView(await ws.next())))
    return opened


def make_cast() -> tuple[Space, User, User, User, User]:
    """A live Space with two co-hosts (`first` co-host longest) and two listeners."""
    space = SpaceFactory()
    first, second, a, b = (UserFactory() for _ in range(4))
    for who in (first, second, a, b):
        join(space, who)
    make_cohost(space, first)
    make_cohost(space, second)
    return space, first, second, a, b


async def test_a_host_dropped_without_leaving_is_replaced_after_the_grace(open_socket):
    space, first, second, a, b = await db(make_cast)()
    host = space.host
    async with AsyncExitStack() as stack:
        host_ws = await stack.enter_async_context(open_socket(host, space_path(space.pk)))
        await host_ws.next()
        room = await open_room(open_socket, stack, space, [a, b, first, second])
        await host_ws.close()  # no `leave`: the connection is simply gone
        await db(age)(space, host, past_grace())

        assert await db(presence.host_sweep)() == 1

        for ws, view in room:
            await view.until_host(ws, first.pk)
            assert view.max_hosts == 1
        for _, view in room[:2]:  # listeners: no snapshot since, so the event itself
            (changed,) = view.changes
            assert changed["reason"] == "timeout"
            assert changed["previous_host"]["id"] == host.pk
            assert changed["new_host"]["id"] == first.pk
        # The new host's own view is refreshed with the host's powers.
        first_ws, first_view = room[2]
        await first_view.until_state(first_ws, lambda st: st["me"]["role"] == HOST)
        mine = first_view.states[-1]
        assert mine["can"]["end"] is True
        assert mine["space"]["host"]["id"] == first.pk
    assert (await db(fresh)(space)).host_id == first.pk


async def test_the_host_leaving_through_the_socket_hands_over_at_once(open_socket):
    space, _first, second, a, b = await db(make_cast)()
    host = space.host
    async with AsyncExitStack() as stack:
        host_ws = await stack.enter_async_context(open_socket(host, space_path(space.pk)))
        state = await host_ws.next()
        assert state["can"]["leave"] is True
        room = await open_room(open_socket, stack, space, [a, b])

        wrong = await host_ws.act("leave", successor_id=a.pk)
        assert (wrong["type"], wrong["code"]) == ("error", "successor_not_cohost")
        bad = await host_ws.act("leave", successor_id="x")
        assert (bad["type"], bad["code"]) == ("error", "invalid")
        ack = await host_ws.act("leave", successor_id=second.pk)
        assert ack["type"] == "ack"
        assert (await host_ws.until_type("closed"))["code"] == 1000

        for ws, view in room:
            await view.until_host(ws, second.pk)
            (changed,) = view.changes
            assert (changed["reason"], changed["new_host"]["id"]) == ("left", second.pk)
            assert view.max_hosts == 1
    assert (await db(fresh)(space)).host_id == second.pk


async def test_a_host_back_inside_the_grace_changes_nothing(open_socket):
    space, _first, _second, a, _b = await db(make_cast)()
    host = space.host
    async with AsyncExitStack() as stack:
        ((ws, view),) = await open_room(open_socket, stack, space, [a])
        async with open_socket(host, space_path(space.pk)) as host_ws:
            await host_ws.next()
        await db(age)(space, host, past_grace())
        # The host's app reconnects before the sweep runs: joining again marks them seen.
        host_ws = await stack.enter_async_context(open_socket(host, space_path(space.pk)))
        assert (await host_ws.next())["me"]["role"] == HOST

        assert await db(presence.host_sweep)() == 0

        await host_ws.act("captions", enabled=True)
        await view.follow(ws, "captions.toggled")
        assert view.changes == []
        assert view.hosts == {host.pk}
    assert (await db(fresh)(space)).host_id == host.pk


async def test_with_no_cohost_the_space_ends_for_everyone_after_the_grace(open_socket):
    space = await db(SpaceFactory)()
    a, b = await db(UserFactory)(), await db(UserFactory)()
    async with AsyncExitStack() as stack:
        room = await open_room(open_socket, stack, space, [a, b])
        await db(age)(space, space.host, past_grace())

        assert await db(presence.host_sweep)() == 1

        for ws, _ in room:
            await ws.until_type("space.ended")
            assert (await ws.until_type("closed"))["code"] == 4409
    assert (await db(fresh)(space)).state == Space.State.ENDED


async def test_the_original_host_returning_later_is_host_again(open_socket):
    space, first, _second, a, _b = await db(make_cast)()
    host = space.host
    await db(age)(space, host, past_grace())
    assert await db(presence.host_sweep)() == 1
    assert (await db(fresh)(space)).host_id == first.pk
    async with AsyncExitStack() as stack:
        room = await open_room(open_socket, stack, space, [a, first])
        assert room[0][1].host == first.pk

        host_ws = await stack.enter_async_context(open_socket(host, space_path(space.pk)))
        state = await host_ws.next()
        assert state["me"]["role"] == HOST
        assert state["space"]["host"]["id"] == host.pk
        assert state["can"]["manage_cohosts"] is True

        for ws, view in room:
            await view.until_host(ws, host.pk)
            assert view.max_hosts == 1
        (changed,) = room[0][1].changes
        assert (changed["reason"], changed["new_host"]["id"]) == ("returned", host.pk)
        interim_ws, interim_view = room[1]
        await interim_view.until_state(
            interim_ws, lambda st: st["me"]["role"] == Participant.Role.COHOST
        )
    assert (await db(participant)(space, first)).role == Participant.Role.COHOST
