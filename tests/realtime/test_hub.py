"""The per-process hub: one group membership per process, events to its sockets in seq order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import pytest_asyncio
from channels.layers import InMemoryChannelLayer

from spaces.realtime.hub import SpaceHub
from spaces_project import bus

pytestmark = pytest.mark.asyncio


class FakeSocket:
    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self.got: list[int | None] = []

    def room_frame(self, message: dict[str, Any], frame: bytes) -> bool:
        return False  # every event through `room_message` (tests/realtime/test_hub_frames.py)

    async def room_message(self, message: dict[str, Any]) -> None:
        self.got.append(message["event"].get("seq"))


def message(space_id: int, seq: int | None) -> dict[str, Any]:
    event = {"type": "captions.toggled", "space_id": space_id}
    if seq is not None:
        event["seq"] = seq
    return bus.layer_message(bus.space_group(space_id), event)


@pytest_asyncio.fixture
async def hub_and_layer(settings):
    settings.SPACES_WS_REORDER_MS = 5000
    layer = InMemoryChannelLayer()
    hub = SpaceHub(layer, asyncio.get_running_loop())
    yield hub, layer
    await hub._stop()


async def test_the_process_joins_a_group_once_however_many_sockets(hub_and_layer):
    hub, layer = hub_and_layer
    sockets = [FakeSocket(n) for n in range(5)]
    for sock in sockets:
        await hub.join(7, sock)
    assert list(layer.groups[bus.space_group(7)]) == [hub.channel]
    await layer.group_send(bus.space_group(7), message(7, 1))
    for _ in range(100):
        if all(s.got for s in sockets):
            break
        await asyncio.sleep(0.01)
    assert [s.got for s in sockets] == [[1]] * 5
    for sock in sockets:
        await hub.leave(7, sock)
    assert bus.space_group(7) not in layer.groups
    assert hub.channel is None  # stopped with its last socket


async def test_events_out_of_order_are_put_back_in_order(hub_and_layer):
    hub, _ = hub_and_layer
    sock = FakeSocket(1)
    await hub.join(3, sock)
    for seq in (10, 12, 13, 11, 14):
        await hub.route(message(3, seq))
    assert sock.got == [10, 11, 12, 13, 14]
    await hub.leave(3, sock)


async def test_a_missing_seq_is_given_up_after_the_hold_and_the_rest_follow(settings):
    settings.SPACES_WS_REORDER_MS = 1
    hub = SpaceHub(InMemoryChannelLayer(), asyncio.get_running_loop())
    sock = FakeSocket(1)
    await hub.join(3, sock)
    await hub.route(message(3, 20))
    await hub.route(message(3, 23))
    await hub.route(message(3, 22))
    for _ in range(200):
        if len(sock.got) == 3:
            break
        await asyncio.sleep(0.01)
    assert sock.got == [20, 22, 23]  # 21 never came: the clients see the gap and resync
    await hub.route(message(3, 24))
    assert sock.got == [20, 22, 23, 24]
    await hub.leave(3, sock)
    await hub._stop()


async def test_one_failing_socket_does_not_stop_the_others(hub_and_layer):
    hub, _ = hub_and_layer

    class Broken(FakeSocket):
        async def room_message(self, message: dict[str, Any]) -> None:
            raise RuntimeError("gone")

    good, bad = FakeSocket(1), Broken(2)
    await hub.join(4, bad)
    await hub.join(4, good)
    await hub.route(message(4, 1))
    assert good.got == [1]
    assert hub.local_users(4) == [1, 2]


async def test_settled_sockets_are_frozen_out_of_full_collections(settings):
    import gc

    hub = SpaceHub(InMemoryChannelLayer(), asyncio.get_running_loop())
    assert hub.gc is not None
    hub.gc._settle = 0.01
    sockets = [FakeSocket(n) for n in range(3)]
    try:
        for sock in sockets:
            await hub.join(4, sock)
        assert hub.gc.live == 3
        for _ in range(200):
            if hub.gc.freezes:
                break
            await asyncio.sleep(0.01)
        assert hub.gc.freezes == 1
        assert gc.get_freeze_count() > 0
        await hub.leave(4, sockets[0])
        assert (hub.gc.live, hub.gc.closed_since_refresh) == (2, 1)
    finally:
        for sock in sockets[1:]:
            await hub.leave(4, sock)
        gc.unfreeze()


async def test_the_freeze_can_be_turned_off(settings):
    settings.SPACES_WS_GC_FREEZE = False
    hub = SpaceHub(InMemoryChannelLayer(), asyncio.get_running_loop())
    sock = FakeSocket(1)
    await hub.join(4, sock)
    assert hub.gc is None
    await hub.leave(4, sock)
