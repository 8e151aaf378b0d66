"""The origin's tick, driven by hand: which encoder's packets each stage member gets."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest

from media import origin as origin_module
from media.client import opus_decoder, tone_amplitude
from media.config import MediaConfig
from media.dsp import FRAME_SAMPLES, SAMPLE_RATE, frame_to_mono
from media.origin import OWN_STREAM_HOLD_TICKS, Member, Origin

pytestmark = pytest.mark.asyncio


class FakeOut:
    """An outbound stream that keeps what the tick sent it."""

    ready = True
    next_report = 1 << 62  # no RTCP sender reports

    def __init__(self) -> None:
        self.payloads: dict[int, bytes] = {}


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> None:
    def fan_out(outs: Any, index: int, rtp_ts: int, payload: bytes, *args: Any, **kw: Any) -> Any:
        for out in outs:
            out.payloads[index] = payload
        return len(outs), 0

    monkeypatch.setattr(origin_module, "fan_out", fan_out)


def tone(frequency: float, tick: int) -> npt.NDArray[np.float32]:
    t = (tick * FRAME_SAMPLES + np.arange(FRAME_SAMPLES)) / SAMPLE_RATE
    return (0.3 * 32767.0 * np.sin(2.0 * math.pi * frequency * t)).astype(np.float32)


def decoded_levels(payloads: dict[int, bytes], frequency: float) -> dict[int, float]:
    """Each tick's packet decoded in order by one decoder, as the member's browser would."""
    decoder = opus_decoder()
    levels = {}
    for tick in sorted(payloads):
        pcm = np.concatenate([frame_to_mono(f) for f in decoder.decode(av.Packet(payloads[tick]))])
        levels[tick] = tone_amplitude(pcm, frequency)
    return levels


async def test_a_talker_whose_frame_is_late_keeps_their_own_stream(sent: None) -> None:
    """A tick without the talker's frame (a late packet, a pause) still goes through their own
    encoder: a packet of the shared stream in between would leave their decoder in another
    encoder's state, and what they hear of the others would be wrong for several frames."""
    origin = Origin("space", MediaConfig(), on_levels=lambda event: None, taps=[])
    outs = {name: FakeOut() for name in ("a", "b", "listener")}
    members = {
        name: Member(name, "listener" if name == "listener" else "speaker", False, peer)  # type: ignore[arg-type]
        for name, peer in ((n, SimpleNamespace(track=None, outbound=o)) for n, o in outs.items())
    }
    for member in members.values():
        origin.add(member)
    gaps = {60, 61, 90}  # "a" adds nothing to these ticks
    pause = range(120, 120 + OWN_STREAM_HOLD_TICKS + 30)  # "a" is quiet for longer than the hold
    for tick in range(240):
        if tick not in gaps and tick not in pause:
            members["a"].fifo.push(tone(440, tick))
        members["b"].fifo.push(tone(660, tick))
        origin._tick(origin._loop.time())
        origin.index += 1
    await origin.stop()

    heard = outs["a"].payloads
    shared = outs["listener"].payloads
    # Through the gaps and the first second of the pause: a's own stream, never the shared one.
    own_ticks = [t for t in range(20, pause.start + OWN_STREAM_HOLD_TICKS) if t in heard]
    assert own_ticks
    assert all(heard[t] != shared[t] for t in own_ticks)
    # After a second of silence, the shared encode serves them: nothing encoded for them alone.
    after = range(pause.start + OWN_STREAM_HOLD_TICKS + 1, pause.stop)
    assert all(heard[t] == shared[t] for t in after)
    # What they hear of "b" stays whole across each gap, and never contains themselves.
    levels = decoded_levels(heard, 660)
    for gap in sorted(gaps):
        around = [levels[t] for t in range(gap - 2, gap + 6)]
        assert min(around) > 0.2, (gap, [round(x, 3) for x in around])
    own_voice = decoded_levels(heard, 440)
    assert max(own_voice[t] for t in range(20, 110)) < 0.01
