"""What a listener heard, in media time: each received packet placed on the worker's mix clock.

On a loaded machine the test's own clients (on the same event loop as the worker, or in a busy
process) read late, so "frames that arrived after the call" mixes packets mixed before and after
it. Here each RTP packet is mapped back to the tick that mixed it (the worker derives sequence
numbers from the tick index), and a change is located by the tick the worker applied it in
(``MediaWorker.applied_changes``). What was in the mix of each tick comes from an audio tap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt

from media.client import MediaClient, opus_decoder, tone_amplitude
from media.dsp import SAMPLE_RATE, frame_to_mono
from media.worker import AppliedChange, MediaWorker

FRAME_HAS_TONE = 0.03
CLEAN = 0.2
"""A tone sent at 0.3 of full scale that reached the mix whole (no phase jump in the frame)."""
DECODER_SETTLES = 10
"""Packets a listener's decoder needs after starting mid-stream: SILK codes each frame's gain
relative to the previous one, so a decoder that joins cold climbs to the level over ~80 ms."""
STEADY_WITHIN = 30.0
"""Seconds to reach a steady state: generous, it only bounds how long a broken run waits."""


@dataclass
class TickFrame:
    tick: int
    pcm: npt.NDArray[np.float32]

    def has(self, frequency: float, threshold: float = FRAME_HAS_TONE) -> bool:
        """The tone is there: above ``threshold`` and a peak of the spectrum around it.

        A frame where another tone starts or stops (its sender fell behind for a tick) spreads
        that tone's energy over every frequency; that spread is not a peak 100 Hz either side.
        """
        level = tone_amplitude(self.pcm, frequency)
        if level <= threshold:
            return False
        side = max(tone_amplitude(self.pcm, frequency + d) for d in (-100.0, 100.0))
        return level > 2.0 * side

    def frequency(self) -> float:
        """The strongest frequency in the frame, to 1 Hz (the 20 ms frame zero-padded to 1 s)."""
        spectrum = np.abs(np.fft.rfft(self.pcm * np.hanning(len(self.pcm)), n=SAMPLE_RATE))
        spectrum[0] = 0.0
        return float(np.argmax(spectrum))


def tick_frames(
    client: MediaClient,
    worker: MediaWorker,
    space: Hashable,
    user: Hashable,
    last: int | None = None,
) -> list[TickFrame]:
    """The client's recorded RTP ("rtp" mode), decoded in order, each with its mix tick.

    With ``last``, only about the latest ``last`` packets (and two to settle the decoder)."""
    seq0 = worker.rtp_sequence(space, user, 0)
    assert seq0 is not None, f"{user} has no media connection"
    decoder = opus_decoder()
    by_tick = {(p.sequence_number - seq0) & 0xFFFF: p for p in client.packets}
    ticks = sorted(by_tick)
    if last is not None:
        ticks = ticks[-(last + 2) :]
    out: list[TickFrame] = []
    for tick in ticks:
        pcm = [frame_to_mono(f) for f in decoder.decode(av.Packet(by_tick[tick].payload))]
        if pcm:
            out.append(TickFrame(tick, np.concatenate(pcm)))
    return out


class MixTap:
    """An audio tap: which stage members the worker actually mixed in each tick."""

    def __init__(self, worker: MediaWorker, space: Hashable) -> None:
        self.worker = worker
        self.space = space
        self.mixed: dict[int, set[Hashable]] = {}
        self.pcm: dict[tuple[int, Hashable], npt.NDArray[np.int16]] = {}
        self.remove = worker.add_audio_tap(self._tap)

    def _tap(self, space: Hashable, user: Hashable, pcm: npt.NDArray[np.int16]) -> None:
        if space == self.space:
            origin = self.worker._origins[space]  # the tap runs inside the tick: its index
            self.mixed.setdefault(origin.index, set()).add(user)
            self.pcm[origin.index, user] = pcm

    def ticks_with(self, user: Hashable) -> set[int]:
        return {tick for tick, users in self.mixed.items() if user in users}

    def ticks_clean(self, user: Hashable, frequency: float) -> set[int]:
        """Ticks that mixed ``user``'s tone whole and in phase with the tick before.

        Whole: a frame where their FIFO dropped samples (a burst after a stall) carries a phase
        jump that can cancel the tone in a 20 ms frame. In phase: when the worker's jitter
        buffer conceals a late packet and plays it a tick later, or drops a frame to bring its
        depth back down, each frame is a clean tone but the two ticks meet with a jump, and the
        Opus frame of the second carries that edge (its overlap reaches into the first). Judged
        on the two ticks' samples together, where a jump cancels part of the tone.
        """
        pcm = self.pcm
        return {
            tick
            for (tick, who), samples in pcm.items()
            if who == user
            and tone_amplitude(samples.astype(np.float32), frequency) > CLEAN
            and (tick - 1, who) in pcm
            and tone_amplitude(
                np.concatenate([pcm[tick - 1, who], samples]).astype(np.float32), frequency
            )
            > CLEAN
        }


async def until(condition: Callable[[], bool], within: float = STEADY_WITHIN) -> bool:
    """Poll ``condition`` every 50 ms until it holds; False at the deadline."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def listen_for(client: MediaClient, seconds: float) -> None:
    """Let ``seconds`` of audio (+ 0.8 s: aiortc's jitter-buffer prefetch, our FIFO, what was in
    flight) be decoded ("decode" mode) from now on: counted in samples, so a client that reads
    late on a busy box waits longer instead of judging audio from before."""
    wanted = len(client.audio()) + round((seconds + 0.8) * SAMPLE_RATE)
    assert await until(lambda: sum(len(f.pcm) for f in client.frames) >= wanted), (
        f"{client.name} decoded only {len(client.audio())} of {wanted} samples"
    )


def mostly(frames: list[TickFrame], frequency: float, last: int = 25, need: int = 20) -> bool:
    window = frames[-last:]
    return len(window) == last and sum(f.has(frequency) for f in window) >= need


async def until_heard(
    client: MediaClient,
    worker: MediaWorker,
    space: Hashable,
    user: Hashable,
    *frequencies: float,
) -> list[TickFrame]:
    """Wait until each tone is in at least 20 of the listener's last 25 frames (steady state)."""
    frames: list[TickFrame] = []

    def steady() -> bool:
        nonlocal frames
        frames = tick_frames(client, worker, space, user, last=25)
        return all(mostly(frames, f) for f in frequencies)

    assert await until(steady), (
        f"{user} never heard {frequencies} steadily: "
        f"{[[f.has(q) for f in frames[-25:]].count(True) for q in frequencies]} of 25"
    )
    return frames


async def frames_while_mixed(
    client: MediaClient,
    worker: MediaWorker,
    space: Hashable,
    user: Hashable,
    tap: MixTap,
    tones: dict[Hashable, float],
    *,
    since: int = 0,
    n: int = 50,
) -> list[TickFrame]:
    """The client's frames (from tick ``since``) of ticks in which the worker mixed each stage
    member's tone of ``tones`` whole, in that tick and the one before (Opus carries 6.5 ms of
    the previous tick into a frame), both received once the client's decoder has settled;
    waits until there are ``n`` of them.

    On a loaded box the test's senders, worker and receivers share one starved event loop: the
    clock skips ticks and a sender's FIFO runs dry or overflows, so a stretch of decoded audio
    has holes of silence that say nothing about the mix. What the mix sounds like is judged on
    these frames, each of which the tap proves carried the members.
    """
    wanted: set[int] = set()

    def enough() -> bool:
        # Counted on sequence numbers alone: decoding everything every 50 ms would load the
        # very loop that is late.
        nonlocal wanted
        seq0 = worker.rtp_sequence(space, user, 0)
        assert seq0 is not None, f"{user} has no media connection"
        mixed = set.intersection(*(tap.ticks_clean(m, f) for m, f in tones.items()))
        received = {(p.sequence_number - seq0) & 0xFFFF for p in client.packets}
        settled = sorted(received)[DECODER_SETTLES : DECODER_SETTLES + 1]
        # The previous packet received too: the decoder starts a frame after a gap from stale
        # state (in "rtp" mode nothing conceals the loss).
        wanted = {
            t
            for t in received
            if settled and t >= max(since, settled[0]) and t in mixed and t - 1 in mixed & received
        }
        return len(wanted) >= n

    assert await until(enough), (
        f"{user} got only {len(wanted)} frames of ticks that mixed {tones} since tick {since}"
    )
    return [f for f in tick_frames(client, worker, space, user) if f.tick in wanted]


def mixed_whole(
    frames: list[TickFrame], tap: MixTap, user: Hashable, frequency: float
) -> list[TickFrame]:
    """Those of ``frames`` (decoded in order by ``tick_frames``) whose tick mixed ``user``'s
    tone whole and in phase with the tick before (``MixTap.ticks_clean``), and whose previous
    packet was received too (after a gap the decoder starts from stale state): the frames in
    which the tone must be heard, on a box where senders and the jitter buffer stumble."""
    clean = tap.ticks_clean(user, frequency)
    ticks = {f.tick for f in frames}
    return [f for f in frames if f.tick in clean and f.tick - 1 in ticks]


def median_frequency(frames: list[TickFrame]) -> float:
    """The frames' typical strongest frequency (a frame where the sender's FIFO dropped samples
    has a phase jump, which moves its own estimate: the median ignores the few)."""
    return float(np.median([f.frequency() for f in frames]))


def change_of(worker: MediaWorker, space: Hashable, user: Hashable, change: str) -> AppliedChange:
    """The latest applied change of that kind (e.g. "muted=True", "role=listener", "removed")."""
    found = [c for c in worker.applied_changes(space) if c.user_id == user and c.change == change]
    assert found, f"{change} of {user} was never applied: {worker.applied_changes(space)}"
    return found[-1]


@dataclass
class TimedFrame:
    sent: float
    """When the worker sent it (monotonic clock), estimated from its sequence number."""
    pcm: npt.NDArray[np.float32]

    def has(self, frequency: float, threshold: float = FRAME_HAS_TONE) -> bool:
        return TickFrame(0, self.pcm).has(frequency, threshold)


def sent_frames(client: MediaClient) -> list[TimedFrame]:
    """The client's recorded RTP ("rtp" mode) decoded in order, each placed on the sender's clock.

    For a worker in another process (no ``applied_changes`` to ask): the worker sends tick ``i``
    at ``t0 + i * 20 ms`` on the machine's monotonic clock, and the sequence number counts ticks,
    so the least delayed packet fixes ``t0`` and every packet gets the time it was sent, however
    late this process read it. (A tick the worker ran late is placed early: lenient by at most
    its ``max_late_ticks``.)
    """
    if not client.packets:
        return []
    base = client.packets[0].sequence_number
    by_tick = {(p.sequence_number - base + 0x8000) & 0xFFFF: p for p in client.packets}
    t0 = min(p.arrival - tick * 0.02 for tick, p in by_tick.items())
    decoder = opus_decoder()
    out: list[TimedFrame] = []
    for tick in sorted(by_tick):
        pcm = [frame_to_mono(f) for f in decoder.decode(av.Packet(by_tick[tick].payload))]
        if pcm:
            out.append(TimedFrame(t0 + tick * 0.02, np.concatenate(pcm)))
    return out
