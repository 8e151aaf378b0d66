"""A snapshot is not sent twice when nothing changed between two unasked refreshes (#16: a newly
promoted host got two identical `space.state` messages she had not asked for)."""

from __future__ import annotations

from typing import Any

import pytest

from spaces.realtime.consumers import SpaceConsumer

pytestmark = pytest.mark.asyncio


class Recorder(SpaceConsumer):
    """The consumer's snapshot bookkeeping without a socket: what it would send."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.floor = 0
        self.building = 0
        self.held = []
        self.last_state = None

    async def send_json(self, content: dict[str, Any], close: bool = False) -> None:
        self.sent.append(content)


def state(seq: int, **extra: Any) -> dict[str, Any]:
    return {"type": "space.state", "space_id": 1, "seq": seq, **extra}


async def test_an_unasked_snapshot_equal_to_the_last_one_is_not_sent_again():
    socket = Recorder()
    socket.building = 2  # two refreshes coalesced: both read the same state
    await socket.send_state(state(7))
    await socket.send_state(state(7))
    assert socket.sent == [state(7)]
    assert socket.building == 0
    assert socket.floor == 7


async def test_a_changed_or_asked_for_snapshot_is_always_sent():
    socket = Recorder()
    socket.building = 3
    await socket.send_state(state(7))
    await socket.send_state(state(7, title="New"))  # same seq, other content: sent
    await socket.send_state(state(7, title="New"), request_id="r1")  # asked for: answered
    assert socket.sent == [state(7), state(7, title="New"), state(7, title="New", id="r1")]
