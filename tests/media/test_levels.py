"""Active-speaker levels (~4 Hz) and the decoded-audio tap that captions will read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
import pytest
from aiortc import RTCPeerConnection

from media.client import ToneTrack, tone_amplitude
from media.config import MediaConfig
from media.ice import rtc_configuration
from media.origin import LevelsEvent
from media.worker import MediaError, MediaWorker
from tests.media.conftest import ClientFactory
from tests.media.mixcheck import until

pytestmark = [pytest.mark.media, pytest.mark.asyncio, pytest.mark.timeout(60)]


async def collect_levels_until(
    worker: MediaWorker, done: Callable[[list[LevelsEvent]], bool], within: float = 30.0
) -> list[LevelsEvent]:
    """Levels events until ``done(events)`` holds (bounded by ``within`` seconds)."""
    events: list[LevelsEvent] = []

    async def read() -> None:
        async for event in worker.levels():
            events.append(event)

    task = asyncio.ensure_future(read())
    try:
        assert await until(lambda: done(events), within), f"only {len(events)} levels events"
    finally:
        task.cancel()
    return events


async def test_levels_name_the_active_speakers_loudest_first_four_times_a_second(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    await join("loud", "speaker", send=ToneTrack(440, amplitude=0.5), receive="none")
    await join("soft", "speaker", send=ToneTrack(660, amplitude=0.05), receive="none")
    await join("quiet", "speaker", send=ToneTrack(0), receive="none")
    await join("listener", "listener", sendrecv=False, receive="count")
    await asyncio.sleep(0.5)

    # Four a second of the mix clock (200 ticks, 4 s), not of this busy box's wall time: at
    # least four per second of ticks the worker ran, at most four per second of clock (run or
    # skipped: a starved loop skips ticks, and an emission they held back is not made up).
    worker.reset_stats()
    events = await collect_levels_until(worker, lambda e: worker.stats()["ticks"] >= 200)
    stats = worker.stats()
    ran, skipped = stats["ticks"], stats["skipped_ticks"]
    assert len(events) / (ran * 0.02) >= 3.0, f"{len(events)} levels events in {ran} ticks"
    assert len(events) / ((ran + skipped) * 0.02) <= 5.0, f"{len(events)} in {ran + skipped}"
    last = events[-1]
    assert last.space_id == space
    assert last.speaking == ["loud", "soft"]
    assert set(last.levels) == {"loud", "soft", "quiet"}  # listeners have no level
    assert last.levels["loud"] == pytest.approx(-9.0, abs=3.0)  # 0.5 FS sine, less a -3 dB upmix
    assert last.levels["quiet"] == -127

    await worker.set_muted(space, "loud", True)
    events = await collect_levels_until(worker, lambda e: len(e) >= 2)
    assert events[-1].speaking == ["soft"]


async def test_the_audio_tap_gets_each_heard_speakers_20_ms_frames(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    frames: dict[object, list[np.ndarray]] = {}

    def tap(space_id: object, user_id: object, pcm: np.ndarray) -> None:
        assert space_id == space
        frames.setdefault(user_id, []).append(pcm)

    remove = worker.add_audio_tap(tap)
    await join("one", "speaker", send=ToneTrack(440), receive="none")
    await join("two", "speaker", send=ToneTrack(660), receive="none")
    await join("listener", "listener", sendrecv=False, receive="count")
    # 40 ticks with each of them in the mix (longer when the box is too busy to keep time).
    assert await until(lambda: all(len(frames.get(u, ())) >= 40 for u in ("one", "two")))
    remove()

    assert set(frames) == {"one", "two"}
    for user_id, freq, other in (("one", 440, 660), ("two", 660, 440)):
        chunk = frames[user_id][-20:]
        assert all(f.dtype == np.int16 and f.shape == (960,) for f in chunk)
        audio = np.concatenate(chunk).astype(np.float32)
        assert tone_amplitude(audio, freq) > 0.05
        assert tone_amplitude(audio, other) < 0.01  # each speaker's own audio, not the mix


async def test_an_offer_without_audio_or_garbage_is_refused(worker: MediaWorker) -> None:
    pc = RTCPeerConnection(rtc_configuration())
    pc.createDataChannel("chat")
    await pc.setLocalDescription(await pc.createOffer())
    with pytest.raises(MediaError, match="no audio"):
        await worker.join("s", "u", "listener", pc.localDescription.sdp)
    await pc.close()
    with pytest.raises(MediaError):
        await worker.join("s", "u", "listener", "v=0\r\nnot sdp\r\n")
    with pytest.raises(ValueError, match="role"):
        await worker.join("s", "u", "host", "v=0")
    assert worker.spaces() == []


async def test_the_worker_refuses_a_stage_beyond_its_limit_too(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    worker.config = MediaConfig(host_addresses=("127.0.0.1",), max_stage=1)
    await join("host", "speaker", receive="none")
    await join("guest", "listener", sendrecv=True, receive="count")
    with pytest.raises(MediaError, match="at most 1"):
        await worker.set_role(space, "guest", "speaker")
    assert worker.participants(space)["guest"]["role"] == "listener"
