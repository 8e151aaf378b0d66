"""The `noise_suppression` socket action (issue 23), and the switch reaching the media worker
that mixes the Space: through the room event while connected, and read afresh on every join."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from media.client import MediaClient, ToneTrack
from spaces import services
from spaces.audio.bridge import MediaBridge
from tests.conftest import IN_CI
from tests.factories import SpaceFactory, UserFactory, fresh, join
from tests.media import bridging
from tests.realtime.conftest import Socket, space_path
from tests.realtime.helpers import db

media = bridging.media  # the fixture

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

_ids = itertools.count()


async def test_the_host_switches_it_and_everyone_is_told(open_socket):
    space = await db(SpaceFactory)()
    observer = await db(UserFactory)()
    await db(join)(space, observer)
    async with (
        open_socket(observer, space_path(space.pk)) as watching,
        open_socket(space.host, space_path(space.pk)) as host,
    ):
        snapshot = await watching.until_type("space.state")
        assert snapshot["space"]["noise_suppression"] is False
        await host.next()
        ack = await host.act("noise_suppression", rid="n1", enabled=True)
        assert (ack["type"], ack["id"], ack["noise_suppression"]) == ("ack", "n1", True)
        event = await watching.until_type("noise_suppression.changed")
        assert event["noise_suppression"] is True
        assert event["by"]["id"] == space.host.pk
        refused = await watching.act("noise_suppression", rid="n2", enabled=False)
        bad = await host.act("noise_suppression", rid="n3", enabled="yes")
    assert (refused["type"], refused["code"]) == ("error", "not_moderator")
    assert (bad["type"], bad["code"]) == ("error", "invalid")
    assert (await db(fresh)(space)).noise_suppression is True


# --- The media worker follows the switch (real aiortc peers over loopback) -------------------


def socket_exchange(ws: Socket) -> Callable[[str], Awaitable[str]]:
    async def exchange(offer: str) -> str:
        rid = f"offer-{next(_ids)}"
        await ws.send({"action": "signal", "id": rid, "kind": "offer", "sdp": offer})
        first = await ws.until(
            lambda m: (
                (m["type"] == "signal" and m.get("kind") == "answer")
                or (m["type"] == "error" and m.get("id") == rid)
            )
        )
        assert first["type"] == "signal", first
        await ws.reply(rid)
        return str(first["sdp"])

    return exchange


def switch_of(bridge: MediaBridge, space_id: int) -> bool | None:
    """Whether the worker mixing `space_id` runs suppression now (None: not mixed here)."""
    worker = bridge.worker
    per_space = worker.stats()["per_space"] if worker is not None else {}
    space = per_space.get(str(space_id))
    return None if space is None else bool(space["noise_suppression"])


async def until_switch(bridge: MediaBridge, space_id: int, wanted: bool) -> bool | None:
    seen = None
    for _ in range(100):  # at most 5 s
        seen = switch_of(bridge, space_id)
        if seen is wanted:
            break
        await asyncio.sleep(0.05)
    return seen


@pytest.mark.media
@pytest.mark.timeout(90)
async def test_the_worker_mixing_the_space_follows_the_switch(open_socket, media):
    if media.worker_for_loop().denoiser is None:
        missing = "no suppressor library (pip install -r requirements.txt: pyrnnoise)"
        if IN_CI:
            pytest.fail(missing)
        pytest.skip(missing)
    space = await db(SpaceFactory)()
    await db(services.noise_suppression_set)(actor=space.host, space_id=space.pk, enabled=True)
    async with open_socket(space.host, space_path(space.pk)) as host_ws:
        await host_ws.until_type("space.state")
        host = MediaClient(socket_exchange(host_ws), send=ToneTrack(440), receive="none")
        try:
            await host.connect(within=10)
            # The join read the switch from the Space row.
            assert await until_switch(media, space.pk, True) is True
            ack = await host_ws.act("noise_suppression", enabled=False)
            assert ack["type"] == "ack", ack
            assert await until_switch(media, space.pk, False) is False
            await host_ws.act("noise_suppression", enabled=True)
            assert await until_switch(media, space.pk, True) is True
        finally:
            await host.close()


class RecordingWorker:
    """Stands in for the media worker: records the Space-wide switch calls it gets."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, bool]] = []

    async def set_noise_suppression(self, space_id: int, enabled: bool) -> bool:
        self.calls.append((space_id, enabled))
        return enabled


async def test_a_switch_during_a_join_is_replayed_once_the_join_returns():
    # A join reads the Space row, then answers the offer; a change published meanwhile must win
    # over the value that join read, so the bridge keeps it for the join to replay.
    media = MediaBridge()
    worker = RecordingWorker()
    loop = asyncio.get_running_loop()
    media.worker, media.loop = worker, loop  # type: ignore[assignment]
    missed: list[Any] = []
    media._joining[(5, 7)] = [missed]
    media._dispatch(
        loop, {"type": "noise_suppression.changed", "space_id": 5, "noise_suppression": True}
    )
    media._dispatch(
        loop, {"type": "noise_suppression.changed", "space_id": 6, "noise_suppression": False}
    )
    await asyncio.gather(*media._tasks)
    assert worker.calls == [(5, True), (6, False)]
    assert [u.noise_suppression for u in missed] == [True]  # only the joining Space's
    for update in missed:
        await media._apply(worker, 5, update)  # type: ignore[arg-type]
    assert worker.calls[-1] == (5, True)
