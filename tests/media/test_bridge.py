"""The media worker behind the Space socket: real ASGI application, real sockets, real aiortc
peers and Opus over loopback, and the real services changing who may be heard."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from media.client import MediaClient, ToneTrack, dominant_frequency, tone_amplitude
from spaces import services
from spaces.audio.bridge import MediaBridge, Update, media_config, update_for
from spaces.models import Participant
from spaces_project import bus
from tests.factories import SpaceFactory, UserFactory, make_speaker
from tests.factories import join as join_space
from tests.media import bridging
from tests.media.mixcheck import (
    MixTap,
    change_of,
    listen_for,
    mixed_whole,
    mostly,
    tick_frames,
    until,
    until_heard,
)
from tests.media.test_peer import with_red
from tests.realtime import conftest as realtime_fixtures
from tests.realtime.conftest import Socket, space_path
from tests.realtime.helpers import db

media = bridging.media  # the fixture

pytestmark = [
    pytest.mark.media,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

# The realtime tests' sockets (real ASGI application, signed-in users), and their teardown of the
# database pools that socket threads use.
open_socket = realtime_fixtures.open_socket
_close_database_pools_last = realtime_fixtures._close_database_pools_last

HEARD = 0.05
ABSENT = 0.01
_ids = itertools.count()


class SignalRefused(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("code"))
        self.error = error


def socket_exchange(ws: Socket, acks: list[dict[str, Any]]) -> Callable[[str], Awaitable[str]]:
    """Offer through the socket; the answer comes back as a `signal` message, then the ack."""

    async def exchange(offer: str) -> str:
        rid = f"offer-{next(_ids)}"
        await ws.send({"action": "signal", "id": rid, "kind": "offer", "sdp": offer})
        first = await ws.until(
            lambda m: (
                (m["type"] == "signal" and m.get("kind") == "answer")
                or (m["type"] == "error" and m.get("id") == rid)
            )
        )
        if first["type"] == "error":
            raise SignalRefused(first)
        acks.append(await ws.reply(rid))
        return str(first["sdp"])

    return exchange


async def close_all(*clients: MediaClient) -> None:
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


def unmute(space_id: int, who: Any) -> None:
    services.participant_unmute(actor=who, space_id=space_id, user_id=who.pk)


async def test_a_listener_hears_the_hosts_440_hz_tone_through_the_socket(
    open_socket: Any, media: MediaBridge
) -> None:
    space = await db(SpaceFactory)()
    await db(unmute)(space.pk, space.host)
    audience = await db(UserFactory)()
    async with (
        open_socket(space.host, space_path(space.pk)) as host_ws,
        open_socket(audience, space_path(space.pk)) as listener_ws,
    ):
        await host_ws.until_type("space.state")
        await listener_ws.until_type("space.state")
        host_acks: list[dict[str, Any]] = []
        listener_acks: list[dict[str, Any]] = []
        host = MediaClient(
            socket_exchange(host_ws, host_acks), send=ToneTrack(440), receive="none", name="host"
        )
        listener = MediaClient(socket_exchange(listener_ws, listener_acks), name="listener")
        try:
            await host.connect(within=10)
            await listener.connect(within=10)
            await listen_for(listener, 1.0)
            audio = listener.audio()[-48_000:]
            assert len(audio) == 48_000, f"decoded only {len(audio)} samples"
            assert dominant_frequency(audio) == pytest.approx(440, abs=2)
            assert tone_amplitude(audio, 440) > HEARD
            assert host_acks[0]["role"] == "speaker"
            assert host_acks[0]["muted"] is False
            assert listener_acks[0]["role"] == "listener"
            assert listener_acks[0]["ice_servers"] == []  # no STUN, no TURN unless configured
            # The host is heard, so the room is told who is speaking.
            speaking = await listener_ws.until(
                lambda m: m["type"] == "active_speakers" and space.host.pk in m["speakers"]
            )
            assert isinstance(speaking["seq"], int)
        finally:
            await close_all(host, listener)


async def test_a_speaker_muted_by_the_host_leaves_the_listeners_mix_within_five_frames(
    open_socket: Any, media: MediaBridge
) -> None:
    space = await db(SpaceFactory)()
    await db(unmute)(space.pk, space.host)
    speaker_user = await db(UserFactory)()
    await db(join_space)(space, speaker_user)
    await db(make_speaker)(space, speaker_user, unmuted=True)
    audience = await db(UserFactory)()
    async with (
        open_socket(space.host, space_path(space.pk)) as host_ws,
        open_socket(speaker_user, space_path(space.pk)) as speaker_ws,
        open_socket(audience, space_path(space.pk)) as listener_ws,
    ):
        for ws in (host_ws, speaker_ws, listener_ws):
            await ws.until_type("space.state")
        host = MediaClient(socket_exchange(host_ws, []), send=ToneTrack(660), receive="none")
        speaker = MediaClient(socket_exchange(speaker_ws, []), send=ToneTrack(440), receive="none")
        listener = MediaClient(socket_exchange(listener_ws, []), receive="rtp", name="listener")
        try:
            for client in (host, speaker, listener):
                await client.connect(within=10)
            worker = media.worker
            assert worker is not None
            tap = MixTap(worker, space.pk)
            await until_heard(listener, worker, space.pk, audience.pk, 440, 660)

            # Counted from the moment the mute is committed and its event delivered (in the
            # service's thread): what the bridge adds, not how long the database took.
            delivered: list[float] = []

            def on_event(group: str, event: dict[str, Any]) -> None:
                if event["type"] == "participant.muted" and not delivered:
                    delivered.append(time.monotonic())  # the clock of loop.time()

            with bus.subscribe(on_event):
                await db(services.participant_mute)(
                    actor=space.host, space_id=space.pk, user_id=speaker_user.pk
                )
            assert delivered
            assert await until(lambda: bool(worker.applied_changes(space.pk)))
            applied = change_of(worker, space.pk, speaker_user.pk, "muted=True")
            # The bridge's part, in the worker's clock: from delivery to the change in force.
            # From there on, media time: the listener's packets by the tick that mixed them.
            latency_ms = (applied.at - delivered[0]) * 1000
            print(f"mute delivered -> applied by the worker: {latency_ms:.1f} ms")
            assert latency_ms <= 100, f"the mute took {latency_ms:.1f} ms to reach the mix"
            k = applied.index

            def frames_after(n: int) -> bool:
                frames = tick_frames(listener, worker, space.pk, audience.pk)
                return sum(f.tick >= k for f in frames) >= n

            assert await until(lambda: frames_after(50))
            frames = tick_frames(listener, worker, space.pk, audience.pk)
            before = [f for f in frames if f.tick < k][-25:]
            after = [f for f in frames if f.tick >= k]
            heard_before = sum(f.has(440) for f in before)
            assert mostly(before, 440), f"440 Hz in only {heard_before} of {len(before)} frames"
            assert not {t for t in tap.ticks_with(speaker_user.pk) if t >= k}, "still mixed"
            # Opus's look-ahead may carry 6.5 ms of the tick before into the change's own tick.
            with_tone = [f.tick - k for f in after if f.has(440)]
            assert with_tone in ([], [0]), f"440 Hz still in frames {with_tone} after the mute"
            # The host is still heard: in every tick the worker mixed them in whole (their
            # sender, on this busy loop, may miss a tick), and that is most ticks.
            with_host = mixed_whole(after[1:], tap, space.host.pk, 660)
            missing = [f.tick - k for f in with_host if not f.has(660, HEARD)]
            assert not missing, f"the host was mixed but not heard in frames {missing}"
            assert len(with_host) >= 25, f"the host mixed in only {len(with_host)} ticks"
            assert worker.participants(space.pk)[speaker_user.pk]["muted"] is True
            tap.remove()
        finally:
            await close_all(host, speaker, listener)


async def test_a_listener_is_heard_once_approved_and_unmuted_and_not_after_stepping_down(
    open_socket: Any, media: MediaBridge
) -> None:
    space = await db(SpaceFactory)()
    hopeful_user = await db(UserFactory)()
    audience = await db(UserFactory)()
    async with (
        open_socket(hopeful_user, space_path(space.pk)) as hopeful_ws,
        open_socket(audience, space_path(space.pk)) as listener_ws,
    ):
        await hopeful_ws.until_type("space.state")
        await listener_ws.until_type("space.state")
        hopeful = MediaClient(socket_exchange(hopeful_ws, []), send=ToneTrack(550), receive="none")
        listener = MediaClient(socket_exchange(listener_ws, []), name="listener")
        try:
            await hopeful.connect(within=10)
            await listener.connect(within=10)
            await listen_for(listener, 0.5)
            assert tone_amplitude(listener.audio()[-48_000:], 550) < ABSENT

            await db(make_speaker)(space, hopeful_user, unmuted=True)
            await listen_for(listener, 1.0)
            assert tone_amplitude(listener.audio()[-48_000:], 550) > HEARD

            await db(services.participant_step_down)(user=hopeful_user, space_id=space.pk)
            await listen_for(listener, 1.0)
            assert tone_amplitude(listener.audio()[-48_000:], 550) < ABSENT
        finally:
            await close_all(hopeful, listener)


async def test_an_offer_from_someone_no_longer_in_the_space_is_refused(
    open_socket: Any, media: MediaBridge
) -> None:
    space = await db(SpaceFactory)()
    gone = await db(UserFactory)()
    async with open_socket(gone, space_path(space.pk)) as ws:
        await ws.until_type("space.state")
        # They left from elsewhere, and the socket has not heard it yet.
        await db(
            lambda: Participant.objects.filter(space=space, user=gone).update(
                state=Participant.State.LEFT
            )
        )()
        client = MediaClient(socket_exchange(ws, []), name="gone")
        try:
            with pytest.raises(SignalRefused) as refused:
                await client.connect(within=10)
        finally:
            await client.close()
    assert refused.value.error["code"] == "not_in_space"
    assert media.worker is not None
    assert gone.pk not in media.worker.participants(space.pk)


async def test_a_removed_listeners_connection_is_closed_and_the_others_stay(
    open_socket: Any, media: MediaBridge
) -> None:
    space = await db(SpaceFactory)()
    removed_user = await db(UserFactory)()
    stays_user = await db(UserFactory)()
    async with (
        open_socket(removed_user, space_path(space.pk)) as removed_ws,
        open_socket(stays_user, space_path(space.pk)) as stays_ws,
    ):
        await removed_ws.until_type("space.state")
        await stays_ws.until_type("space.state")
        removed = MediaClient(socket_exchange(removed_ws, []), receive="count", name="removed")
        stays = MediaClient(socket_exchange(stays_ws, []), receive="count", name="stays")
        try:
            await removed.connect(within=10)
            await stays.connect(within=10)
            await db(services.participant_remove)(
                actor=space.host, space_id=space.pk, user_id=removed_user.pk
            )
            await asyncio.wait_for(removed.closed.wait(), 5)
            assert removed.state == "closed"
            closed = await removed_ws.until(lambda m: m["type"] == "closed")
            assert closed["code"] == 4403
            assert media.worker is not None
            assert removed_user.pk not in media.worker.participants(space.pk)
            assert stays.state == "connected"
            stays.counter.reset()
            # Still served: 15 packets (0.3 s of ticks), however busy the box.
            assert await until(lambda: stays.counter.count >= 15)
        finally:
            await close_all(removed, stays)


async def test_ending_the_space_closes_every_media_connection(
    open_socket: Any, media: MediaBridge
) -> None:
    space = await db(SpaceFactory)()
    audience = await db(UserFactory)()
    async with open_socket(audience, space_path(space.pk)) as ws:
        await ws.until_type("space.state")
        client = MediaClient(socket_exchange(ws, []), receive="count", name="listener")
        try:
            await client.connect(within=10)
            await db(services.space_end)(actor=space.host, space_id=space.pk)
            await asyncio.wait_for(client.closed.wait(), 5)
            assert media.worker is not None
            assert space.pk not in media.worker.spaces()
        finally:
            await client.close()


async def test_turn_credentials_come_before_the_offer_and_bye_closes_the_connection(
    open_socket: Any, media: MediaBridge, settings: Any
) -> None:
    settings.TURN_URL = "turn:turn.example.org:3478?transport=udp"
    settings.TURN_SECRET = "shared-secret"
    space = await db(SpaceFactory)()
    audience = await db(UserFactory)()
    async with open_socket(audience, space_path(space.pk)) as ws:
        await ws.until_type("space.state")
        config = await ws.act("signal", kind="ice", candidate=None)
        [server] = config["ice_servers"]
        assert server["urls"] == ["turn:turn.example.org:3478?transport=udp"]
        assert server["username"].endswith(f":{audience.pk}")
        assert server["credential"]

        client = MediaClient(socket_exchange(ws, []), receive="count", name="listener")
        try:
            await client.connect(within=10)
            assert media.worker is not None
            assert audience.pk in media.worker.participants(space.pk)
            bye = await ws.act("signal", kind="bye")
            assert bye["left"] is True
            await asyncio.wait_for(client.closed.wait(), 5)
            assert audience.pk not in media.worker.participants(space.pk)
        finally:
            await client.close()


def lose_every(client: MediaClient, n: int) -> None:
    """Drop every ``n``-th RTP packet the client sends, after it is counted as sent."""
    transport = client.pc.getTransceivers()[0].sender.transport
    send_rtp = transport._send_rtp
    sent = itertools.count(1)

    async def lossy(data: bytes) -> None:
        if len(data) > 1 and 96 <= data[1] & 0x7F <= 127 and next(sent) % n == 0:
            return
        await send_rtp(data)

    transport._send_rtp = lossy  # type: ignore[method-assign]


def audio_codecs(answer: str) -> list[str]:
    m_line = next(line for line in answer.split("\r\n") if line.startswith("m=audio "))
    return m_line.split()[3:]


async def test_a_speaker_whose_packets_are_lost_is_asked_for_a_new_offer_answered_with_red(
    open_socket: Any, media: MediaBridge
) -> None:
    """The worker answers a speaker with RED after Opus, and asks for RED (a `reoffer`, then
    RED first) once their packets are lost on the way: the socket carries the request, and
    the new connection replaces the old one in place."""
    space = await db(SpaceFactory)()
    await db(unmute)(space.pk, space.host)
    async with open_socket(space.host, space_path(space.pk)) as ws:
        await ws.until_type("space.state")
        acks: list[dict[str, Any]] = []
        exchange = socket_exchange(ws, acks)
        answers: list[str] = []

        async def with_red_offered(offer: str) -> str:
            answers.append(await exchange(with_red(offer)))
            return answers[-1]

        host = MediaClient(with_red_offered, send=ToneTrack(440), receive="none", name="host")
        try:
            await host.connect(within=10)
            assert audio_codecs(answers[0])[:2] == ["96", "63"]  # Opus first: no RED sent
            lose_every(host, 10)
            asked = await asyncio.wait_for(ws.until(lambda m: m["type"] == "signal"), 15)
            assert asked == {"type": "signal", "kind": "reoffer", "reason": "uplink_loss"}
            await host.restart(within=10)
            assert audio_codecs(answers[1])[:2] == ["63", "96"]  # RED first: send RED
            assert "maxaveragebitrate=48000" in answers[1]  # and pay for your FEC
            assert "maxaveragebitrate" not in answers[0]
            assert media.worker is not None
            assert await media.worker.wait_connected(space.pk, space.host.pk, within=10)
            place = media.worker.participants(space.pk)[space.host.pk]
            assert (place["role"], place["muted"]) == ("speaker", False)
            assert len(acks) == 2
        finally:
            await close_all(host)


def role_changed(role: str) -> dict[str, Any]:
    participant = {"user": {"id": 7}, "role": role, "is_muted": True}
    return {"type": "role.changed", "participant": participant}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (role_changed("cohost"), Update(7, role="speaker", muted=True)),
        (role_changed("listener"), Update(7, role="listener", muted=True)),
        (
            {"type": "participant.unmuted", "participant": {"user": {"id": 7}, "is_muted": False}},
            Update(7, muted=False),
        ),
        ({"type": "participant.removed", "user": {"id": 7}}, Update(7, gone="removed")),
        ({"type": "participant.left", "user": {"id": 7}}, Update(7, gone="left")),
        ({"type": "pin.added", "pin": {"author": {"id": 7}}}, None),
    ],
)
async def test_room_events_map_to_worker_updates(
    event: dict[str, Any], expected: Update | None
) -> None:
    assert update_for(event) == expected


async def test_the_encoder_settings_reach_the_worker_and_a_bad_one_stops_the_start(
    settings: Any,
) -> None:
    settings.MEDIA_OPUS_BITRATE = 48_000
    settings.MEDIA_OPUS_COMPLEXITY = 7
    config = media_config()
    assert (config.bitrate, config.opus_complexity) == (48_000, 7)
    settings.MEDIA_OPUS_COMPLEXITY = 11
    with pytest.raises(ValueError, match=r"MEDIA_OPUS_COMPLEXITY must be 0\.\.10, not 11"):
        media_config()
    settings.MEDIA_OPUS_COMPLEXITY = 10
    settings.MEDIA_OPUS_BITRATE = 500
    with pytest.raises(ValueError, match="MEDIA_OPUS_BITRATE"):
        media_config()
    settings.MEDIA_OPUS_BITRATE = 32_000
    settings.MEDIA_RED_DISTANCE = 1
    settings.MEDIA_RED_FROM_SPEAKERS = False
    config = media_config()
    assert (config.red_distance, config.red_from_speakers) == (1, False)
    settings.MEDIA_RED_DISTANCE = 4
    with pytest.raises(ValueError, match=r"MEDIA_RED_DISTANCE must be 0\.\.3, not 4"):
        media_config()
    settings.MEDIA_RED_DISTANCE = 2
    settings.MEDIA_LOSSY_SPEAKER_BITRATE = 0
    assert media_config().lossy_speaker_bitrate == 0
    settings.MEDIA_LOSSY_SPEAKER_BITRATE = 600_000
    with pytest.raises(ValueError, match="MEDIA_LOSSY_SPEAKER_BITRATE must be 0 or 6000"):
        media_config()
