"""End to end with real aiortc peers and real Opus over loopback: what each participant hears."""

from __future__ import annotations

import asyncio
import socket
import wave
from pathlib import Path

import numpy as np
import pytest

from media.client import ToneTrack, tone_amplitude, wav_track
from media.worker import MediaWorker
from tests.media.conftest import ClientFactory
from tests.media.mixcheck import (
    MixTap,
    change_of,
    frames_while_mixed,
    median_frequency,
    mixed_whole,
    mostly,
    tick_frames,
    until,
    until_heard,
)

pytestmark = [pytest.mark.media, pytest.mark.asyncio, pytest.mark.timeout(60)]

HEARD = 0.05  # amplitude (fraction of full scale) of a tone that is clearly there; sent at 0.3
ABSENT = 0.01
FRAME_HAS_TONE = 0.03


async def test_listener_hears_the_speakers_440_hz_tone(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    """Judged on a second of frames whose ticks mixed the tone (see mixcheck): a loaded box
    skips ticks, and "the last second" of decoded audio was then partly silence."""
    tap = MixTap(worker, space)
    await join("speaker", "speaker", send=ToneTrack(440), receive="none")
    listener = await join("listener", "listener", sendrecv=False, receive="rtp")
    frames = await frames_while_mixed(listener, worker, space, "listener", tap, {"speaker": 440})

    assert median_frequency(frames) == pytest.approx(440, abs=2)
    assert [f.tick for f in frames if not tone_amplitude(f.pcm, 440) > HEARD] == []
    tap.remove()


async def test_each_speaker_hears_everyone_but_themselves(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    tap = MixTap(worker, space)
    tones = {"one": 440, "two": 660}
    one = await join("one", "speaker", send=ToneTrack(440), receive="rtp")
    two = await join("two", "speaker", send=ToneTrack(660), receive="rtp")
    listener = await join("listener", "listener", sendrecv=False, receive="rtp")

    frames = await frames_while_mixed(listener, worker, space, "listener", tap, tones)
    assert [f.tick for f in frames if not (f.has(440, HEARD) and f.has(660, HEARD))] == []
    for client, other, themselves in ((one, 660, 440), (two, 440, 660)):
        frames = await frames_while_mixed(client, worker, space, client.name, tap, tones)
        assert median_frequency(frames) == pytest.approx(other, abs=2), client.name
        assert [f.tick for f in frames if not f.has(other, HEARD)] == [], client.name
        heard = np.concatenate([f.pcm for f in frames])
        assert tone_amplitude(heard, themselves) < ABSENT, client.name
    tap.remove()


@pytest.mark.parametrize(
    ("action", "change"),
    [("demote", "role=listener"), ("host_mute", "muted=True"), ("kick", "removed")],
)
async def test_a_removed_speaker_leaves_the_mix_within_five_frames(
    join: ClientFactory, worker: MediaWorker, space: str, action: str, change: str
) -> None:
    """Counted in media time: each packet a listener received, before any jitter buffer, placed
    on the mix clock by its sequence number, against the tick the worker applied the change in
    (the listener's own lateness on a busy box moves neither)."""
    await join("one", "speaker", send=ToneTrack(440), receive="none")
    await join("two", "speaker", send=ToneTrack(660), receive="none")
    listener = await join("listener", "listener", sendrecv=False, receive="rtp")
    tap = MixTap(worker, space)
    await until_heard(listener, worker, space, "listener", 440, 660)

    if action == "demote":
        assert await worker.set_role(space, "one", "listener")
    elif action == "host_mute":
        assert await worker.set_muted(space, "one", True)
    else:
        assert await worker.kick(space, "one")
    k = change_of(worker, space, "one", change).index

    def frames_after(n: int) -> bool:
        return sum(f.tick >= k for f in tick_frames(listener, worker, space, "listener")) >= n

    assert await until(lambda: frames_after(50))
    frames = tick_frames(listener, worker, space, "listener")
    before = [f for f in frames if f.tick < k][-25:]
    after = [f for f in frames if f.tick >= k]
    assert mostly(before, 440), f"440 Hz in only {sum(f.has(440) for f in before)} of 25"
    # The worker mixes them in no tick from the change on; the listener hears them in no frame
    # but possibly the change's own tick (Opus's look-ahead carries 6.5 ms of the tick before).
    assert not {t for t in tap.ticks_with("one") if t >= k}, "still mixed after the change"
    with_tone = [f.tick - k for f in after if f.has(440)]
    assert with_tone in ([], [0]), f"440 Hz still in frames {with_tone} after the change"
    # The rest of the stage is still heard: in every tick the worker mixed them in whole (a
    # tick may lack them when their sender, on this busy loop, fell behind), and in most ticks.
    with_two = mixed_whole(after[1:], tap, "two", 660)
    missing = [f.tick - k for f in with_two if not f.has(660, HEARD)]
    assert not missing, f"660 Hz mixed but not heard in frames {missing}"
    assert len(with_two) >= 25, f"660 Hz mixed in only {len(with_two)} of {len(after) - 1} ticks"
    tap.remove()


async def test_a_listener_is_heard_only_once_promoted(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    """Judged in media time (see mixcheck): before the tick the promotion took effect in, the
    worker never mixed the hopeful and no frame the listener got carries them; from it on,
    every frame of a tick that mixed both is heard with both, and the hopeful gets a mix-minus.
    (Until #16 this took "the last second" of decoded audio, which on a loaded box was as much
    the silence of skipped ticks as the stage.)"""
    tap = MixTap(worker, space)
    hopeful = await join("hopeful", "listener", send=ToneTrack(550), receive="rtp")
    await join("speaker", "speaker", send=ToneTrack(660), receive="none")
    listener = await join("listener", "listener", sendrecv=False, receive="rtp")
    before = await frames_while_mixed(listener, worker, space, "listener", tap, {"speaker": 660})

    assert await worker.set_role(space, "hopeful", "speaker")
    k = change_of(worker, space, "hopeful", "role=speaker").index
    assert not {t for t in tap.ticks_with("hopeful") if t < k}, "mixed before the promotion"
    assert all(f.tick < k for f in before)
    assert [f.tick for f in before if not tone_amplitude(f.pcm, 660) > HEARD] == []
    unheard = [f for f in tick_frames(listener, worker, space, "listener") if f.tick < k]
    assert tone_amplitude(np.concatenate([f.pcm for f in unheard]), 550) < ABSENT

    # Levels, not has(): 550 and 660 Hz are too close for its peak test in a 20 ms frame.
    both = {"hopeful": 550, "speaker": 660}
    after = await frames_while_mixed(listener, worker, space, "listener", tap, both, since=k)
    assert [f.tick - k for f in after if not tone_amplitude(f.pcm, 550) > HEARD] == []
    assert [f.tick - k for f in after if not tone_amplitude(f.pcm, 660) > HEARD] == []
    # Now on stage, the promoted listener gets a mix-minus: the others, not themselves.
    own = await frames_while_mixed(hopeful, worker, space, "hopeful", tap, both, since=k)
    assert [f.tick - k for f in own if not tone_amplitude(f.pcm, 660) > HEARD] == []
    assert tone_amplitude(np.concatenate([f.pcm for f in own]), 550) < ABSENT
    tap.remove()


async def test_a_kicked_listeners_connection_is_closed(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    listener = await join("listener", "listener", sendrecv=False, receive="count")
    stays = await join("stays", "listener", sendrecv=False, receive="count")

    assert await worker.kick(space, "listener")

    await asyncio.wait_for(listener.closed.wait(), 5)
    assert listener.state == "closed"
    assert "listener" not in worker.participants(space)
    assert stays.state == "connected"
    stays.counter.reset()
    # Still served: 15 packets (0.3 s of ticks), however busy the box.
    assert await until(lambda: stays.counter.count >= 15)


async def test_a_listener_that_stops_reading_does_not_delay_the_others(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    first = await join("first", "listener", sendrecv=False, receive="count")
    stalled = await join("stalled", "listener", sendrecv=False, receive="count")
    last = await join("last", "listener", sendrecv=False, receive="count")
    await asyncio.sleep(0.3)

    # The stalled peer's socket holds two or three datagrams, then the kernel drops the rest.
    for transceiver in stalled.pc.getTransceivers():
        pair = transceiver.receiver.transport.transport._connection._nominated[1]
        sock = pair.protocol.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    stalled.pause_reading()
    outbounds = {
        name: worker._origins[space].members[name].peer.outbound for name in ("first", "last")
    }
    sent_before = {name: out.packets for name, out in outbounds.items()}  # type: ignore[union-attr]
    dropped_before = {name: out.dropped for name, out in outbounds.items()}  # type: ignore[union-attr]
    for client in (first, stalled, last):
        client.counter.reset()
    worker.reset_stats()
    # 100 ticks of the mix clock (2 s; longer if the box is too busy to keep time).
    assert await until(lambda: worker.stats()["ticks"] >= 100)
    stalled.resume_reading()
    ticks = worker.stats()["ticks"]
    sent = {name: out.packets - sent_before[name] for name, out in outbounds.items()}  # type: ignore[union-attr]

    for client in (first, last):
        out = outbounds[client.name]
        assert out is not None
        # Every tick of the clock was sent to them (nobody waited for the stalled peer).
        assert sent[client.name] >= ticks, f"{client.name}: {sent[client.name]} in {ticks} ticks"
        assert out.dropped == dropped_before[client.name]
        # Everything the worker sent them arrives (however late this busy loop reads it), and
        # nothing is missing in between: gaps only where the whole worker skipped a tick (a
        # stalled box), never per listener.
        assert await until(lambda c=client: c.counter.expected >= sent[c.name])
        assert client.counter.expected - client.counter.count <= worker.stats()["skipped_ticks"]
    # Once it reads again, the stalled peer sees the gap the kernel made (its next packets).
    assert await until(lambda: stalled.counter.count >= 5)
    assert stalled.counter.expected - stalled.counter.count >= 50, "the stall was not real"


async def test_rejoining_replaces_the_old_connection(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    old = await join("me", "listener", sendrecv=False, receive="count")
    new = await join("me", "listener", sendrecv=False, receive="count")
    await asyncio.wait_for(old.closed.wait(), 5)
    new.counter.reset()
    # Still served: 15 packets (0.3 s of ticks), however busy the box.
    assert await until(lambda: new.counter.count >= 15)
    assert list(worker.participants(space)) == ["me"]


async def test_ending_the_space_closes_every_connection(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    clients = [
        await join("host", "speaker", send=ToneTrack(440), receive="none"),
        await join("a", "listener", sendrecv=False, receive="count"),
        await join("b", "listener", sendrecv=False, receive="count"),
    ]
    await worker.end_space(space)
    await asyncio.wait_for(asyncio.gather(*(c.closed.wait() for c in clients)), 5)
    assert worker.spaces() == []


async def test_a_silent_stage_member_hears_the_others(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    """A stage member who adds nothing to a tick gets the shared mix: everyone else."""
    tap = MixTap(worker, space)
    await join("talker", "speaker", send=ToneTrack(440), receive="none")
    quiet = await join("quiet", "speaker", receive="rtp")
    frames = await frames_while_mixed(quiet, worker, space, "quiet", tap, {"talker": 440})
    assert median_frequency(frames) == pytest.approx(440, abs=2)
    assert [f.tick for f in frames if not tone_amplitude(f.pcm, 440) > HEARD] == []
    tap.remove()


async def test_a_speaker_can_send_a_wav_file(
    join: ClientFactory, worker: MediaWorker, space: str, tmp_path: Path
) -> None:
    path = tmp_path / "tone.wav"
    # Ten seconds: a loaded box may need several to mix one second of it whole.
    t = np.arange(48_000 * 10) / 48_000
    samples = (0.3 * 32767 * np.sin(2 * np.pi * 523 * t)).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(48_000)
        wav.writeframes(samples.tobytes())
    tap = MixTap(worker, space)
    await join("reader", "speaker", send=wav_track(str(path)), receive="none")
    listener = await join("listener", "listener", sendrecv=False, receive="rtp")
    frames = await frames_while_mixed(listener, worker, space, "listener", tap, {"reader": 523})
    assert median_frequency(frames) == pytest.approx(523, abs=2)
    tap.remove()
