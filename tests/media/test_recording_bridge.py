"""A recorded Space end to end in the embedded shape: real ASGI sockets, real aiortc peers, the
real services, the media bridge, the recorder writing to the `recordings` storage, and the replay
made by itself when the Space ends. A speaker who keeps their voice out is still heard live and
is not in the replay from the tick the worker applied their choice."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Hashable
from typing import Any

import av
import pytest

from media import hls
from media.client import MediaClient, ToneTrack
from media.dsp import FRAME_SAMPLES, frame_to_mono
from media.worker import MediaWorker
from replays.services import REPLAY_PLAYLIST
from spaces import events, services
from spaces.audio.bridge import MediaBridge
from spaces.models import Recording, Space, recording_prefix
from spaces_project import storage
from tests.factories import UserFactory, make_followers, make_speaker
from tests.media.mixcheck import MixTap, TickFrame, change_of, frames_while_mixed, until
from tests.media.test_bridge import close_all, media, socket_exchange, unmute
from tests.realtime import conftest as realtime_fixtures
from tests.realtime.conftest import space_path
from tests.realtime.helpers import db

pytestmark = [
    pytest.mark.media,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]

open_socket = realtime_fixtures.open_socket
_close_database_pools_last = realtime_fixtures._close_database_pools_last
__all__ = ["media"]  # the fixture, re-used

HOST_HZ = 440
SPEAKER_HZ = 880
# Two segments' worth of ticks on each side of the opt-out: the replay must hold audio of both.
TICKS_EACH_SIDE = 200
READY_WITHIN = 30.0
"""Seconds for the writer to store the last segment and the replay to be made: a bound on how
long a broken run waits, nothing more."""
# Opus carries 6.5 ms of the tick before into a frame: the change's own tick may still hold it.
CARRY_TICKS = 1


def start_recorded_space(*, recording: bool) -> Space:
    host = UserFactory()
    make_followers(host, 1)
    return services.space_start(host=host, title="Recorded on purpose", recording_enabled=recording)


def latest_tick(client: MediaClient, worker: MediaWorker, space: Hashable, user: Hashable) -> int:
    seq0 = worker.rtp_sequence(space, user, 0)
    if seq0 is None or not client.packets:
        return -1
    return max((p.sequence_number - seq0) & 0xFFFF for p in client.packets)


def replay_ticks(space_id: int) -> tuple[dict[int, TickFrame], list[hls.Part]]:
    """The stored replay decoded by FFmpeg: each 20 ms frame by its tick in its part (init and
    segments of a part concatenated, as a player appends them)."""
    store = storage.recordings()
    prefix = recording_prefix(space_id)
    parts, ended = hls.parse_media_playlist(
        storage.get(store, f"{prefix}/{REPLAY_PLAYLIST}").decode()
    )
    assert ended, "the replay's playlist is not final"
    assert len(parts) == 1, f"one origin mixed the Space, yet {len(parts)} parts"
    part = parts[0]
    data = storage.get(store, f"{prefix}/{part.map_uri}") + b"".join(
        storage.get(store, f"{prefix}/{s.uri}") for s in part.segments
    )
    frames: dict[int, TickFrame] = {}
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(container.streams.audio[0]):
            assert frame.pts is not None
            if frame.pts % FRAME_SAMPLES == 0:  # the first frame is cut by the pre-skip
                tick = frame.pts // FRAME_SAMPLES
                frames[tick] = TickFrame(tick, frame_to_mono(frame))
    return frames, parts


async def replay_ready(space_id: int) -> bool:
    """Poll the database (from its own thread) until the Space's replay is ready; False at
    the deadline."""
    ready = db(Recording.objects.filter(space_id=space_id, status=Recording.Status.READY).exists)
    deadline = time.monotonic() + READY_WITHIN
    while not await ready():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


def clean_pairs(tap: MixTap, user: Hashable, frequency: float) -> set[int]:
    """Ticks that mixed ``user``'s tone whole, and the tick before too (Opus's carry)."""
    clean = tap.ticks_clean(user, frequency)
    return {t for t in clean if t - 1 in clean}


async def test_a_speaker_who_opts_out_is_heard_live_and_left_out_of_the_replay(
    open_socket: Any,
    media: MediaBridge,
    published: list[tuple[str, dict[str, Any]]],
    settings: Any,
) -> None:
    settings.SPACES_HOST_MIN_FOLLOWERS = 1
    space = await db(start_recorded_space)(recording=True)
    host_user = space.host
    await db(unmute)(space.pk, host_user)
    speaker_user = await db(UserFactory)()
    await db(make_speaker)(space, speaker_user, unmuted=True)
    audience = await db(UserFactory)()
    async with (
        open_socket(host_user, space_path(space.pk)) as host_ws,
        open_socket(speaker_user, space_path(space.pk)) as speaker_ws,
        open_socket(audience, space_path(space.pk)) as listener_ws,
    ):
        for ws in (host_ws, speaker_ws, listener_ws):
            await ws.until_type("space.state")
        host = MediaClient(socket_exchange(host_ws, []), send=ToneTrack(HOST_HZ), receive="none")
        speaker = MediaClient(
            socket_exchange(speaker_ws, []), send=ToneTrack(SPEAKER_HZ), receive="none"
        )
        listener = MediaClient(socket_exchange(listener_ws, []), receive="rtp", name="listener")
        try:
            for client in (host, speaker, listener):
                await client.connect(within=10)
            worker = media.worker
            assert worker is not None
            recorder = worker.recorder(space.pk)
            assert recorder is not None, "the first join of a recorded Space starts recording"
            first_index = recorder.first_index
            tap = MixTap(worker, space.pk)
            both: dict[Hashable, float] = {host_user.pk: HOST_HZ, speaker_user.pk: SPEAKER_HZ}
            await frames_while_mixed(listener, worker, space.pk, audience.pk, tap, both)
            assert await until(
                lambda: (
                    latest_tick(listener, worker, space.pk, audience.pk)
                    >= first_index + TICKS_EACH_SIDE
                )
            )

            await db(services.recording_consent_set)(
                actor=speaker_user, space_id=space.pk, recorded=False
            )
            assert await until(
                lambda: any(
                    c.user_id == speaker_user.pk and c.change == "recorded=False"
                    for c in worker.applied_changes(space.pk)
                )
            ), "the consent event never reached the worker"
            k = change_of(worker, space.pk, speaker_user.pk, "recorded=False").index
            assert worker.participants(space.pk)[speaker_user.pk]["recorded"] is False

            # Live, the opted-out speaker is still in the listener's mix.
            heard_live = await frames_while_mixed(
                listener, worker, space.pk, audience.pk, tap, both, since=k + CARRY_TICKS
            )
            with_speaker = sum(f.has(SPEAKER_HZ) for f in heard_live)
            assert with_speaker >= 0.8 * len(heard_live), (
                f"{SPEAKER_HZ} Hz heard live in only {with_speaker} of {len(heard_live)} frames"
            )
            assert await until(
                lambda: latest_tick(listener, worker, space.pk, audience.pk) >= k + TICKS_EACH_SIDE
            )

            await db(services.space_end)(actor=host_user, space_id=space.pk)
            # Nothing else finalizes it: the part's writer closes, the hook makes the replay.
            assert await replay_ready(space.pk), "the replay was not made after the Space ended"
            tap.remove()
        finally:
            await close_all(host, speaker, listener)

    recording = await db(Recording.objects.get)(space_id=space.pk)
    assert recording.left_out == [speaker_user.pk]
    assert recording.dropped_segments == 0
    frames, parts = await db(replay_ticks)(space.pk)
    assert recording.duration_ms == round(parts[0].duration * 1000)

    def recorded(ticks: set[int]) -> list[TickFrame]:
        return [frames[t - first_index] for t in sorted(ticks) if t - first_index in frames]

    mixed_host = clean_pairs(tap, host_user.pk, HOST_HZ)
    mixed_speaker = clean_pairs(tap, speaker_user.pk, SPEAKER_HZ)
    before = recorded({t for t in mixed_speaker if t < k})
    after = recorded({t for t in mixed_speaker if t > k + CARRY_TICKS})
    assert len(before) >= 50, f"only {len(before)} recorded ticks mixed the speaker before"
    assert len(after) >= 50, f"only {len(after)} recorded ticks mixed the speaker after"
    present = sum(f.has(SPEAKER_HZ) for f in before)
    assert present >= 0.8 * len(before), (
        f"{SPEAKER_HZ} Hz recorded in only {present} of {len(before)} ticks before the opt-out"
    )
    leaked = [f.tick + first_index - k for f in after if f.has(SPEAKER_HZ)]
    assert not leaked, (
        f"{SPEAKER_HZ} Hz recorded in {len(leaked)} ticks after the opt-out: {leaked[:10]}..."
    )
    for side, ticks in (
        ("before", {t for t in mixed_host if t < k}),
        ("after", {t for t in mixed_host if t > k + CARRY_TICKS}),
    ):
        host_frames = recorded(ticks)
        assert len(host_frames) >= 50, f"only {len(host_frames)} host ticks recorded {side}"
        with_host = sum(f.has(HOST_HZ) for f in host_frames)
        assert with_host >= 0.8 * len(host_frames), (
            f"{HOST_HZ} Hz recorded {side} the opt-out in only {with_host} of {len(host_frames)}"
        )

    kinds = [event for _, event in published if event.get("space_id") == space.pk]
    started = [e for e in kinds if e["type"] == events.RECORDING_STARTED]
    assert len(started) == 1, started
    consent = [e for e in kinds if e["type"] == events.RECORDING_CONSENT_CHANGED]
    assert [
        (e["participant"]["user"]["id"], e["participant"]["voice_recorded"]) for e in consent
    ] == [(speaker_user.pk, False)]


async def test_a_space_not_recorded_writes_nothing(
    open_socket: Any,
    media: MediaBridge,
    published: list[tuple[str, dict[str, Any]]],
    settings: Any,
) -> None:
    settings.SPACES_HOST_MIN_FOLLOWERS = 1
    space = await db(start_recorded_space)(recording=False)
    await db(unmute)(space.pk, space.host)
    audience = await db(UserFactory)()
    async with (
        open_socket(space.host, space_path(space.pk)) as host_ws,
        open_socket(audience, space_path(space.pk)) as listener_ws,
    ):
        await host_ws.until_type("space.state")
        await listener_ws.until_type("space.state")
        host = MediaClient(socket_exchange(host_ws, []), send=ToneTrack(HOST_HZ), receive="none")
        listener = MediaClient(socket_exchange(listener_ws, []), receive="rtp", name="listener")
        try:
            await host.connect(within=10)
            await listener.connect(within=10)
            worker = media.worker
            assert worker is not None
            # More than a segment of ticks mixed and sent: a recorder would have stored one.
            assert await until(lambda: latest_tick(listener, worker, space.pk, audience.pk) >= 150)
            assert worker.recorder(space.pk) is None
            await db(services.space_end)(actor=space.host, space_id=space.pk)
            assert await until(lambda: space.pk not in worker.spaces())
        finally:
            await close_all(host, listener)

    assert not await db(Recording.objects.filter(space_id=space.pk).exists)()
    assert list(storage.walk(storage.recordings(), recording_prefix(space.pk))) == []
    assert not [
        e
        for _, e in published
        if e["type"] in (events.RECORDING_STARTED, events.RECORDING_CONSENT_CHANGED)
    ]
