"""The reserved `signal` action: validated now, routed to the media worker's handler later."""

from __future__ import annotations

from typing import Any

import pytest
from channels.layers import get_channel_layer

from spaces.realtime import protocol
from spaces_project.errors import Forbidden
from tests.factories import SpaceFactory, UserFactory
from tests.realtime.conftest import space_path
from tests.realtime.helpers import db

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def handler():
    calls: list[tuple[protocol.SignalContext, dict[str, Any]]] = []

    async def handle(context: protocol.SignalContext, message: dict[str, Any]) -> dict[str, Any]:
        calls.append((context, message))
        if message["kind"] == "bye":
            raise Forbidden("Not on this worker.", code="not_on_stage")
        await context.send({"type": "signal", "kind": "answer", "sdp": "v=0 answer"})
        return {"accepted": True}

    protocol.set_signal_handler(handle)
    yield calls
    protocol.set_signal_handler(None)


async def test_without_a_media_handler_signal_is_answered_media_unavailable(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        reply = await ws.act("signal", rid="o1", kind="offer", sdp="v=0 offer")
    assert reply["type"] == "error"
    assert reply["code"] == "media_unavailable"
    assert reply["id"] == "o1"


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"kind": "offer"}, "sdp"),
        ({"kind": "answer", "sdp": ""}, "sdp"),
        ({"kind": "ice"}, "candidate"),
        ({"kind": "ice", "candidate": "a string"}, "candidate"),
        ({"kind": "offer", "sdp": "x" * (protocol.MAX_SDP_LENGTH + 1)}, "sdp"),
    ],
)
async def test_a_signal_of_the_wrong_shape_is_invalid(open_socket, handler, fields, bad):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        reply = await ws.act("signal", **fields)
    assert reply["code"] in ("invalid", "too_large")
    if reply["code"] == "invalid":
        assert bad in reply["fields"]
    assert handler == []


async def test_a_signal_reaches_the_handler_with_the_socket_context(open_socket, handler):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        await ws.send({"action": "signal", "id": "o", "kind": "offer", "sdp": "v=0 offer"})
        answer = await ws.until_type("signal")
        ack = await ws.reply("o")
        end = await ws.act("signal", kind="ice", candidate=None)
        refused = await ws.act("signal", kind="bye")
    context, message = handler[0]
    assert (context.user_id, context.space_id) == (listener.pk, space.pk)
    assert context.channel_name
    assert message == {"kind": "offer", "sdp": "v=0 offer"}
    assert answer == {"type": "signal", "kind": "answer", "sdp": "v=0 answer"}
    assert ack == {"type": "ack", "id": "o", "action": "signal", "accepted": True}
    assert handler[1][1] == {"kind": "ice", "candidate": None}
    assert end["type"] == "ack"
    assert refused["code"] == "not_on_stage"


async def test_a_media_worker_answers_through_the_sockets_channel(open_socket, handler):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        await ws.act("signal", kind="offer", sdp="v=0 offer")
        channel = handler[0][0].channel_name
        await get_channel_layer().send(
            channel, {"type": "signal.relay", "payload": {"kind": "ice", "candidate": {"c": 1}}}
        )
        relayed = await ws.until(lambda m: m["type"] == "signal" and m["kind"] == "ice")
    assert relayed == {"type": "signal", "kind": "ice", "candidate": {"c": 1}}
