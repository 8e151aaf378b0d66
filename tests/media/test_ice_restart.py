"""ICE restart by replacement (#23): a participant's new offer replaces its connection in place.

aiortc has no ``restartIce`` and aioice cannot restart a connection, so a client whose network
changed or whose path broke offers again from a new peer connection; the worker answers it beside
the old one and swaps it in once connected, keeping role, mute and stage seat. The in-process
tests drive that on loopback; the last one blocks a real path with nftables, in a network
namespace of its own (``bench.network_paths``), and needs root.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from bench.network_paths import missing_tools, nominated_pair, run_in_namespace
from media.client import MediaClient, ToneTrack, tone_amplitude
from media.worker import MediaWorker
from spaces.audio.bridge import MediaBridge
from tests.factories import SpaceFactory, UserFactory, make_speaker
from tests.factories import join as join_space
from tests.media import bridging
from tests.media.conftest import ClientFactory
from tests.media.mixcheck import FRAME_HAS_TONE, until
from tests.media.test_bridge import socket_exchange
from tests.realtime import conftest as realtime_fixtures
from tests.realtime.conftest import space_path
from tests.realtime.helpers import db

media = bridging.media  # the fixture

pytestmark = [pytest.mark.media, pytest.mark.asyncio, pytest.mark.timeout(90)]

open_socket = realtime_fixtures.open_socket
_close_database_pools_last = realtime_fixtures._close_database_pools_last

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def frames_with_tone(client: MediaClient, frequency: float, since: float) -> int:
    return sum(
        1
        for f in client.frames
        if f.arrival >= since and tone_amplitude(f.pcm, frequency) > FRAME_HAS_TONE
    )


async def test_a_second_offer_keeps_the_speakers_role_mute_and_seat_and_their_voice_comes_back(
    worker: MediaWorker, space: str, join: ClientFactory
) -> None:
    standing = {"muted": True}  # what the database would say on each offer (the bridge reads it)

    async def exchange(offer: str) -> str:
        return await worker.join(space, "talker", "speaker", offer, muted=standing["muted"])

    talker = MediaClient(exchange, send=ToneTrack(440), receive="none", name="talker")
    listener = await join("listener", "listener", sendrecv=False, receive="decode")
    try:
        await talker.connect(within=10)
        assert await worker.wait_connected(space, "talker", within=10)
        first_pc = worker.connection(space, "talker")

        await talker.restart(within=10)
        assert await worker.wait_connected(space, "talker", within=10)
        assert worker.connection(space, "talker") is not first_pc
        assert talker.restarts == 1
        place = worker.participants(space)["talker"]
        assert (place["role"], place["muted"], place["connected"]) == ("speaker", True, True)
        assert set(worker.participants(space)) == {"talker", "listener"}

        # Unmuted, the voice on the new connection reaches the mix (and so the listener).
        standing["muted"] = False
        assert await worker.set_muted(space, "talker", False)
        since = asyncio.get_running_loop().time()
        assert await until(lambda: frames_with_tone(listener, 440, since) >= 25), (
            "the listener never heard the restarted speaker"
        )
    finally:
        await talker.close()


async def test_a_restarted_listener_hears_on_its_new_connection(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    await join("talker", "speaker", send=ToneTrack(660), receive="none")
    listener = await join("listener", "listener", receive="rtp")
    assert await until(lambda: len(listener.packets) >= 10)
    await listener.restart(within=10)
    assert await worker.wait_connected(space, "listener", within=10)
    assert await until(lambda: sum(p.connection == 1 for p in listener.packets) >= 50)
    heard = [
        f
        for f in listener.decoded_packets()
        if f.arrival >= next(p.arrival for p in listener.packets if p.connection == 1)
    ]
    assert sum(tone_amplitude(f.pcm, 660) > FRAME_HAS_TONE for f in heard) >= 25
    assert worker.participants(space)["listener"]["role"] == "listener"


async def test_the_old_connection_serves_until_the_new_one_connects_and_a_kick_ends_both(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    listener = await join("listener", "listener", sendrecv=False, receive="count")
    old_pc = worker.connection(space, "listener")
    # A second offer, answered but never connected (its client drops the answer).
    spare = MediaClient(lambda offer: worker.join(space, "listener", "listener", offer))
    spare.pc.addTransceiver("audio", direction="recvonly")
    await spare.pc.setLocalDescription(await spare.pc.createOffer())
    await worker.join(space, "listener", "listener", spare.pc.localDescription.sdp)
    try:
        assert worker.connection(space, "listener") is old_pc
        listener.counter.reset()
        assert await until(lambda: listener.counter.count >= 15), "the old connection stopped"
        assert await worker.kick(space, "listener")
        assert worker.participants(space) == {}
        assert await until(lambda: listener.state == "closed", 10)
    finally:
        await spare.close()


async def test_a_listener_whose_path_goes_silent_restarts_by_itself_and_hears_again(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    """The path cut inside the client (its socket neither sends nor hands anything up): what a
    blocked network looks like from there. The nftables version is the last test (root)."""
    await join("talker", "speaker", send=ToneTrack(440), receive="none")
    listener = await join("listener", "listener", receive="rtp")
    keeping = asyncio.ensure_future(listener.keep_alive(stall=0.4, within=5, max_restarts=1))
    try:
        assert await until(lambda: len(listener.packets) >= 25)
        place = worker.participants(space)["listener"]
        pair = nominated_pair(listener)
        assert pair is not None
        pair.protocol.datagram_received = lambda data, addr: None
        pair.protocol.transport.sendto = lambda data, addr=None: None
        assert await until(lambda: sum(p.connection == 1 for p in listener.packets) >= 50)
        assert listener.restarts == 1
        assert worker.participants(space)["listener"] == place
        first = next(p.arrival for p in listener.packets if p.connection == 1)
        heard = [f for f in listener.decoded_packets() if f.arrival >= first]
        assert sum(tone_amplitude(f.pcm, 440) > FRAME_HAS_TONE for f in heard) >= 25
    finally:
        keeping.cancel()
        await asyncio.gather(keeping, return_exceptions=True)


@pytest.mark.django_db(transaction=True)
async def test_a_speaker_restarting_through_the_socket_stays_on_stage_and_is_heard(
    open_socket: Any, media: MediaBridge
) -> None:
    space = await db(SpaceFactory)()
    speaker_user = await db(UserFactory)()
    await db(join_space)(space, speaker_user)
    await db(make_speaker)(space, speaker_user, unmuted=True)
    audience = await db(UserFactory)()
    async with (
        open_socket(speaker_user, space_path(space.pk)) as speaker_ws,
        open_socket(audience, space_path(space.pk)) as listener_ws,
    ):
        for ws in (speaker_ws, listener_ws):
            await ws.until_type("space.state")
        acks: list[dict[str, Any]] = []
        speaker = MediaClient(socket_exchange(speaker_ws, acks), send=ToneTrack(440))
        listener = MediaClient(socket_exchange(listener_ws, []), sendrecv=False, name="listener")
        try:
            await speaker.connect(within=10)
            await listener.connect(within=10)
            worker = media.worker
            assert worker is not None
            first_pc = worker.connection(space.pk, speaker_user.pk)
            await speaker.restart(within=10)
            assert await worker.wait_connected(space.pk, speaker_user.pk, within=10)
            assert worker.connection(space.pk, speaker_user.pk) is not first_pc
            assert [a["role"] for a in acks] == ["speaker", "speaker"]
            place = worker.participants(space.pk)[speaker_user.pk]
            assert (place["role"], place["muted"], place["connected"]) == ("speaker", False, True)
            since = asyncio.get_running_loop().time()
            assert await until(lambda: frames_with_tone(listener, 440, since) >= 25)
        finally:
            await speaker.close()
            await listener.close()


async def test_a_blocked_path_or_a_moved_address_is_restarted_and_the_place_is_kept() -> None:
    """Real path failures, in a namespace of its own: nftables drops the listener's UDP port
    both ways (the client notices the silence), or its address is deleted and another added
    (the client is told the network changed); either way it hears again on a new connection."""
    missing = missing_tools()
    if missing:
        if IN_CI:
            pytest.fail(f"CI=true and this test {missing}", pytrace=False)
        pytest.skip(f"{missing} (this test makes a network namespace `spi-<pid>`)")
    details = await asyncio.to_thread(run_in_namespace, ("restart", "move"))
    runs = details["restart"]["runs"]
    assert len(runs) == 3
    for run in runs:
        assert run["restarts"] == 1
        assert run["place_after"] == run["place_before"]
        assert run["place_after"]["connected"]
        assert run["tone_amplitude_after"] > FRAME_HAS_TONE
        assert run["speaker_still_connected"]
    # Each move raised unless the path was on the old address and audio came on the new one.
    assert len(details["address_move"]["gaps_s"]) == 3
