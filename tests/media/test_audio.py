"""End to end with real aiortc peers and real Opus over loopback: what each participant hears."""

from __future__ import annotations

import asyncio
import socket
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from media.client import MediaClient, ToneTrack, dominant_frequency, tone_amplitude, wav_track
from media.worker import MediaWorker
from tests.media.conftest import ClientFactory

pytestmark = [pytest.mark.media, pytest.mark.asyncio, pytest.mark.timeout(60)]

HEARD = 0.05  # amplitude (fraction of full scale) of a tone that is clearly there; sent at 0.3
ABSENT = 0.01
FRAME_HAS_TONE = 0.03


async def listen_for(client: MediaClient, seconds: float) -> None:
    """Let audio flow, then keep only what arrived in the last ``seconds``."""
    await asyncio.sleep(seconds + 0.8)  # + aiortc's 80 ms jitter-buffer prefetch and our FIFO


def last_second(client: MediaClient) -> tuple[npt.NDArray[np.float32], float]:
    audio = client.audio()[-48_000:]
    assert len(audio) == 48_000, f"{client.name} decoded only {len(audio)} samples"
    return audio, dominant_frequency(audio)


async def test_listener_hears_the_speakers_440_hz_tone(join: ClientFactory) -> None:
    await join("speaker", "speaker", send=ToneTrack(440), receive="none")
    listener = await join("listener", "listener", sendrecv=False)
    await listen_for(listener, 1.0)

    audio, frequency = last_second(listener)
    assert frequency == pytest.approx(440, abs=2)
    assert tone_amplitude(audio, 440) > HEARD


async def test_each_speaker_hears_everyone_but_themselves(join: ClientFactory) -> None:
    one = await join("one", "speaker", send=ToneTrack(440))
    two = await join("two", "speaker", send=ToneTrack(660))
    listener = await join("listener", "listener", sendrecv=False)
    await listen_for(listener, 1.0)

    def tones(client: MediaClient) -> tuple[float, float, float]:
        audio, frequency = last_second(client)
        return frequency, tone_amplitude(audio, 440), tone_amplitude(audio, 660)

    _, a440, a660 = tones(listener)
    assert a440 > HEARD, a440
    assert a660 > HEARD, a660
    frequency, a440, a660 = tones(one)
    assert frequency == pytest.approx(660, abs=2), (frequency, a440, a660)
    assert a660 > HEARD, (frequency, a440, a660)
    assert a440 < ABSENT, (frequency, a440, a660)
    frequency, a440, a660 = tones(two)
    assert frequency == pytest.approx(440, abs=2), (frequency, a440, a660)
    assert a660 < ABSENT, (frequency, a440, a660)


@pytest.mark.parametrize("action", ["demote", "host_mute", "kick"])
async def test_a_removed_speaker_leaves_the_mix_within_five_frames(
    join: ClientFactory, worker: MediaWorker, space: str, action: str
) -> None:
    """Counted in 20 ms frames as they arrive at a listener, before any jitter buffer."""
    await join("one", "speaker", send=ToneTrack(440), receive="none")
    await join("two", "speaker", send=ToneTrack(660), receive="none")
    listener = await join("listener", "listener", sendrecv=False, receive="rtp")
    await asyncio.sleep(1.5)

    loop = asyncio.get_running_loop()
    called_at = loop.time()
    if action == "demote":
        assert await worker.set_role(space, "one", "listener")
    elif action == "host_mute":
        assert await worker.set_muted(space, "one", True)
    else:
        assert await worker.kick(space, "one")
    await asyncio.sleep(1.0)

    frames = listener.decoded_packets()
    before = [f for f in frames if f.arrival < called_at][-25:]
    after = [f for f in frames if f.arrival >= called_at]
    assert sum(tone_amplitude(f.pcm, 440) > FRAME_HAS_TONE for f in before) >= 20
    assert len(after) >= 40
    with_tone = [i for i, f in enumerate(after) if tone_amplitude(f.pcm, 440) > FRAME_HAS_TONE]
    assert len(with_tone) <= 5, f"440 Hz still in frames {with_tone} after the call"
    # The rest of the stage is still mixed (a frame may miss it when a busy box delays one).
    still = [tone_amplitude(f.pcm, 660) > HEARD for f in after[10:]]
    assert sum(still) >= 0.9 * len(still), f"660 Hz missing in {still.count(False)} frames"


async def test_a_listener_is_heard_only_once_promoted(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    hopeful = await join("hopeful", "listener", send=ToneTrack(550))
    await join("speaker", "speaker", send=ToneTrack(660), receive="none")
    listener = await join("listener", "listener", sendrecv=False)
    await listen_for(listener, 1.0)
    heard, _ = last_second(listener)
    assert tone_amplitude(heard, 550) < ABSENT
    assert tone_amplitude(heard, 660) > HEARD

    assert await worker.set_role(space, "hopeful", "speaker")
    await listen_for(listener, 1.0)
    heard, _ = last_second(listener)
    assert tone_amplitude(heard, 550) > HEARD
    assert tone_amplitude(heard, 660) > HEARD
    # Now on stage, the promoted listener gets a mix-minus: the others, not themselves.
    own, _ = last_second(hopeful)
    assert tone_amplitude(own, 660) > HEARD
    assert tone_amplitude(own, 550) < ABSENT


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
    await asyncio.sleep(0.5)
    assert stays.counter.count >= 15


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
    await asyncio.sleep(2.0)
    stalled.resume_reading()
    await asyncio.sleep(0.3)

    for client in (first, last):
        out = outbounds[client.name]
        assert out is not None
        sent = out.packets - sent_before[client.name]
        assert sent >= 100  # 2.3 s of 20 ms ticks, with slack for a busy box
        assert out.dropped == dropped_before[client.name]
        # Everything the worker sent them arrived, and nothing is missing in between.
        assert abs(client.counter.count - sent) <= 2
        # Gaps only where the whole worker skipped a tick (a stalled box), never per listener.
        assert client.counter.expected - client.counter.count <= worker.stats()["skipped_ticks"]
    assert stalled.counter.expected - stalled.counter.count >= 50, "the stall was not real"


async def test_rejoining_replaces_the_old_connection(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    old = await join("me", "listener", sendrecv=False, receive="count")
    new = await join("me", "listener", sendrecv=False, receive="count")
    await asyncio.wait_for(old.closed.wait(), 5)
    new.counter.reset()
    await asyncio.sleep(0.5)
    assert new.counter.count >= 15
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


async def test_a_silent_stage_member_hears_the_others(join: ClientFactory) -> None:
    """A stage member who adds nothing to a tick gets the shared mix: everyone else."""
    await join("talker", "speaker", send=ToneTrack(440), receive="none")
    quiet = await join("quiet", "speaker")
    await listen_for(quiet, 1.0)
    heard, frequency = last_second(quiet)
    assert frequency == pytest.approx(440, abs=2)
    assert tone_amplitude(heard, 440) > HEARD


async def test_a_speaker_can_send_a_wav_file(join: ClientFactory, tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    t = np.arange(48_000 * 3) / 48_000
    samples = (0.3 * 32767 * np.sin(2 * np.pi * 523 * t)).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(48_000)
        wav.writeframes(samples.tobytes())
    await join("reader", "speaker", send=wav_track(str(path)), receive="none")
    listener = await join("listener", "listener", sendrecv=False)
    await listen_for(listener, 1.0)
    _, frequency = last_second(listener)
    assert frequency == pytest.approx(523, abs=2)
