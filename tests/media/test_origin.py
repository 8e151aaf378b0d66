"""The origin's tick, driven by hand: which encoder's packets each stage member gets."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest
from aiortc.rtp import RtpPacket

from media import origin as origin_module
from media import red
from media.client import opus_decoder, tone_amplitude
from media.config import MediaConfig
from media.dsp import FRAME_SAMPLES, SAMPLE_RATE, LibOpusEncoder, frame_to_mono, to_int16
from media.origin import (
    DTX_FRAME_BYTES,
    OWN_STREAM_HOLD_TICKS,
    RED_BACKOFF_TICKS,
    RED_OFF_CHECKS,
    Member,
    Origin,
)

pytestmark = pytest.mark.asyncio


class FakeOut:
    """An outbound stream that keeps what the tick sent it."""

    ready = True
    next_report = 1 << 62  # no RTCP sender reports
    opus_pt = 111

    def __init__(self, red_pt: int | None = None) -> None:
        self.payloads: dict[int, bytes] = {}
        self.stamps: dict[int, int] = {}  # RTP timestamp by the index the packet went out with
        self.red_pt = red_pt
        self.red = False
        self.shift = 0  # what shift_sequence moved: the index a real stream's seq follows

    def shift_sequence(self, delta: int) -> None:
        self.shift += delta


def fake_peer(out: FakeOut) -> SimpleNamespace:
    return SimpleNamespace(track=None, outbound=out, remote_loss=0.0, red_pt=out.red_pt)


def origin_with(
    config: MediaConfig, outs: dict[str, FakeOut], speakers: set[str]
) -> tuple[Origin, dict[str, Member]]:
    """An origin with a member per stream of ``outs``: on stage if named in ``speakers``."""
    origin = Origin("space", config, on_levels=lambda event: None, taps=[])
    members = {
        name: Member(name, "speaker" if name in speakers else "listener", False, fake_peer(out))  # type: ignore[arg-type]
        for name, out in outs.items()
    }
    for member in members.values():
        origin.add(member)
    return origin, members


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> None:
    def fan_out(outs: Any, index: int, rtp_ts: int, payload: bytes, *args: Any, **kw: Any) -> Any:
        for out in outs:
            out.payloads[index + out.shift] = payload
            out.stamps[index + out.shift] = rtp_ts
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
    outs = {name: FakeOut() for name in ("a", "b", "listener")}
    origin, members = origin_with(MediaConfig(), outs, {"a", "b"})
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


def run_ticks(origin: Origin, members: dict[str, Member], ticks: range) -> None:
    for tick in ticks:
        members["a"].fifo.push(tone(440, tick))
        origin._tick(origin._loop.time())
        origin.index += 1


async def test_red_goes_to_a_listener_whose_reports_show_loss(sent: None) -> None:
    """Each RED packet carries the listener stream's two frames before it, as they were sent,
    and the same primary every other listener gets; a listener without RED, or without loss,
    gets plain Opus."""
    outs = {
        "a": FakeOut(),
        "red": FakeOut(red_pt=63),
        "clean": FakeOut(red_pt=63),
        "plain": FakeOut(),
    }
    origin, members = origin_with(MediaConfig(red_distance=2), outs, {"a"})
    members["red"].peer.remote_loss = members["plain"].peer.remote_loss = 0.05
    run_ticks(origin, members, range(20))
    await origin.stop()

    assert outs["red"].red
    assert not outs["clean"].red
    assert not outs["plain"].red
    plain, wrapped = outs["plain"].payloads, outs["red"].payloads
    assert outs["clean"].payloads == plain
    assert wrapped[0] == plain[0]  # the first check comes after the first tick
    for tick in range(3, 20):
        pt, primary, blocks = red.unpack(wrapped[tick])
        assert (pt, primary) == (111, plain[tick])
        assert blocks == [
            (2 * FRAME_SAMPLES, 111, plain[tick - 2]),
            (FRAME_SAMPLES, 111, plain[tick - 1]),
        ]


async def test_a_listeners_first_lossy_report_turns_red_on_and_leaves_the_fec_alone(
    sent: None,
) -> None:
    """RED is decided before FEC on the same report: the shared encoder is sized for what RED
    leaves (nothing, at 5 %), never for the raw loss it would then take seconds to forget."""
    outs = {"a": FakeOut(), "red": FakeOut(red_pt=63)}
    origin, members = origin_with(MediaConfig(red_distance=2, opus_fec=True), outs, {"a"})
    members["red"].peer.remote_loss = 0.05
    encoder = origin._encoder
    assert isinstance(encoder, LibOpusEncoder)
    seen: list[int] = []
    for tick in range(120):  # two checks of the reports
        run_ticks(origin, members, range(tick, tick + 1))
        seen.append(encoder.packet_loss)
    await origin.stop()
    assert outs["red"].red
    assert set(seen) == {0}
    # A listener without RED at the same loss does get FEC, at once.
    outs = {"a": FakeOut(), "plain": FakeOut()}
    origin, members = origin_with(MediaConfig(red_distance=2, opus_fec=True), outs, {"a"})
    members["plain"].peer.remote_loss = 0.05
    run_ticks(origin, members, range(60))
    await origin.stop()
    assert origin._encoder.packet_loss == 5  # type: ignore[union-attr]


async def test_red_follows_the_reported_loss_and_backs_off_from_a_full_link() -> None:
    origin = Origin("space", MediaConfig(red_distance=2), on_levels=lambda event: None, taps=[])
    out = FakeOut(red_pt=63)
    member = Member("l", "listener", False, fake_peer(out))  # type: ignore[arg-type]
    origin.add(member)

    def check(index: int, loss: float) -> bool:
        member.peer.remote_loss = loss
        origin._adapt_red(index)
        return out.red

    assert not check(0, 0.0)
    assert not check(1, 0.005)  # under RED_ON_LOSS
    assert check(2, 0.05)
    assert origin._red_outs == [(111, [out])]
    assert check(3, 0.08)  # random loss stays about the same with RED on
    # Ten seconds of reports of no loss: off.
    assert [check(4 + i, 0.0) for i in range(RED_OFF_CHECKS)] == [True] * (RED_OFF_CHECKS - 1) + [
        False
    ]
    assert origin._red_outs == []
    assert check(20, 0.05)
    # Its FEC is sized for what RED leaves of 5 %, not for 5 %.
    assert origin._expected_loss(member) == 0
    # Loss that grows with RED on is RED's own bytes dropped: off, and not back for 10 s...
    assert check(21, 0.2)  # 5 % to 20 %: not enough to be taken for congestion
    assert not check(22, 0.3)
    # In-band FEC is sized for at most 20 %, as libwebrtc sizes it.
    assert origin._expected_loss(member) == origin_module.FEC_MAX_LOSS_PCT == 20
    assert not check(23, 0.05)
    assert not check(22 + RED_BACKOFF_TICKS[0] - 1, 0.05)
    assert check(22 + RED_BACKOFF_TICKS[0], 0.05)
    # ...then twice as long after a second congested try.
    assert not check(600, 0.5)
    assert not check(600 + 2 * RED_BACKOFF_TICKS[0] - 1, 0.05)
    assert check(600 + 2 * RED_BACKOFF_TICKS[0], 0.05)
    await origin.stop()


class FakeUplink:
    """What ``Uplink`` would conclude, set by the test."""

    def __init__(self) -> None:
        self.lost = 0.0
        self.queue = 0.0

    def loss(self) -> float:
        return self.lost

    def delay(self, now: float) -> float:
        return self.queue

    def standing(self, now: float) -> bool:
        return self.queue >= 0.2


@pytest.mark.parametrize(
    ("red_from_speakers", "lossy_speaker_bitrate"),
    [(True, 48_000), (True, 0), (False, 48_000), (False, 0)],
)
async def test_a_speaker_is_asked_for_more_when_their_uplink_loses_and_for_less_when_it_fills(
    red_from_speakers: bool, lossy_speaker_bitrate: int
) -> None:
    asked: list[tuple[str, str]] = []
    config = MediaConfig(
        red_distance=2,
        red_from_speakers=red_from_speakers,
        lossy_speaker_bitrate=lossy_speaker_bitrate,
    )
    origin = Origin(
        "space",
        config,
        on_levels=lambda event: None,
        taps=[],
        on_reoffer=lambda user, reason: asked.append((user, reason)),
    )
    peers = {}
    for name, role in (("s", "speaker"), ("l", "listener")):
        peer = fake_peer(FakeOut(red_pt=63))
        peer.uplink, peer.upload_raised = FakeUplink(), False
        peers[name] = peer
        origin.add(Member(name, role, False, peer))  # type: ignore[arg-type]
    speaker = peers["s"]
    speaker.uplink.lost = peers["l"].uplink.lost = 0.005  # under RED_ON_LOSS; a listener sends none
    origin._watch_uplinks()
    assert asked == []
    speaker.uplink.lost = peers["l"].uplink.lost = 0.03
    origin._watch_uplinks()
    origin._watch_uplinks()  # asked once: the client's new offer is what changes things
    if not red_from_speakers and not lossy_speaker_bitrate:
        assert (asked, origin.lossy_uplink) == ([], set())
        await origin.stop()
        return
    assert asked == [("s", origin_module.UPLINK_LOSS)]
    assert origin.lossy_uplink == {"s"}
    # Its new connection sends RED at 48 kb/s (the worker's answer asks), and its packets queue.
    speaker.upload_raised = True
    speaker.uplink.queue = 0.1
    origin._watch_uplinks()
    assert len(asked) == 1
    speaker.uplink.queue = 0.3
    origin._watch_uplinks()
    assert asked[1:] == [("s", origin_module.UPLINK_FULL)]
    assert (origin.lossy_uplink, origin.plain_uplink) == (set(), {"s"})
    # Back on plain Opus, its loss does not bring RED back: the link is too thin for it.
    speaker.upload_raised = False
    speaker.uplink.queue = 0.0
    origin._watch_uplinks()
    assert len(asked) == 2
    await origin.stop()


async def test_a_stage_members_red_repeats_what_their_own_stream_carried(sent: None) -> None:
    """A talker hears their own mix-minus stream: its RED copies are of that stream, across
    the switch back to the shared one."""
    outs = {"a": FakeOut(red_pt=63), "b": FakeOut()}
    origin, members = origin_with(MediaConfig(red_distance=1), outs, {"a", "b"})
    members["a"].peer.remote_loss = 0.05
    run_ticks(origin, members, range(10))
    await origin.stop()
    heard = outs["a"].payloads
    for tick in range(2, 10):
        _, primary, blocks = red.unpack(heard[tick])
        _, before, _ = red.unpack(heard[tick - 1])
        assert blocks == [(FRAME_SAMPLES, 111, before)]
        assert primary != outs["b"].payloads[tick]  # a's own mix-minus, not b's


async def test_a_speakers_red_copy_fills_the_frame_whose_packet_was_lost() -> None:
    origin = Origin(
        "space", MediaConfig(speaker_fec=True, red_distance=2), on_levels=lambda e: None, taps=[]
    )
    out = FakeOut(red_pt=63)
    member = Member("a", "speaker", False, fake_peer(out))  # type: ignore[arg-type]
    origin.add(member)
    encoder = LibOpusEncoder(bitrate=32_000)
    frames = [encoder.encode(to_int16(tone(440, n)))[0] for n in range(8)]
    sink = member.peer.rtp_sink
    assert sink is not None  # the origin decodes this speaker itself (speaker_fec)
    for n in (0, 1, 2, 4, 5):  # packet 3 lost; 4 carries frames 2 and 3
        redundant = [((n - k) * FRAME_SAMPLES, frames[k]) for k in (n - 2, n - 1) if k >= 0]
        payload = red.pack(111, frames[n], redundant)
        sink(RtpPacket(payload_type=63, sequence_number=100 + n, payload=payload))
    sink(RtpPacket(payload_type=63, sequence_number=106, payload=b"\x80\x01"))  # malformed
    packets = member.packets
    assert packets is not None
    played = [packets.pop() for _ in range(6)]
    assert all(p is not None and len(p) == FRAME_SAMPLES for p in played)
    assert (packets.decoded, packets.recovered, packets.concealed) == (6, 0, 0)
    assert packets.repaired == 1
    assert packets.late == 0
    await origin.stop()


async def test_a_restarted_speakers_voice_goes_on_without_a_hole(sent: None) -> None:
    """A restart's connection replaces the old one mid-word: what the old one still holds, and
    what is still in flight on it, plays first; the new one's packets follow from about the
    same depth. No tick in between goes without the speaker."""
    heard: list[int] = []
    origin = Origin(
        "space",
        MediaConfig(speaker_fec=True),
        on_levels=lambda e: None,
        taps=[lambda space, user, pcm: heard.append(origin.index)],
    )
    old = Member("a", "speaker", False, fake_peer(FakeOut()))  # type: ignore[arg-type]
    origin.add(old)
    origin.add(Member("l", "listener", False, fake_peer(FakeOut())))  # type: ignore[arg-type]
    encoder = LibOpusEncoder(bitrate=32_000)
    voice = [encoder.encode(to_int16(tone(440, n)))[0] for n in range(120)]
    old_sink = old.peer.rtp_sink
    assert old_sink is not None

    def tick() -> None:
        origin._tick(origin._loop.time())
        origin.index += 1

    for n in range(3):  # the buffer's target depth
        old_sink(RtpPacket(payload_type=111, sequence_number=500 + n, payload=voice[n]))
    for n in range(3, 60):  # one packet per tick, three frames deep
        old_sink(RtpPacket(payload_type=111, sequence_number=500 + n, payload=voice[n]))
        tick()
    first_tick = origin.index - 57
    new = origin.replace("a", fake_peer(FakeOut()))  # type: ignore[arg-type]
    assert new is not None
    assert origin.members["a"] is new
    assert (new.role, new.muted) == ("speaker", False)
    new_sink = new.peer.rtp_sink
    assert new_sink is not None
    # Two packets still in flight on the old connection land in the buffer being played out;
    # the new connection (its own sequence numbers) sends the same voice from frame 59 on.
    old_sink(RtpPacket(payload_type=111, sequence_number=560, payload=voice[60]))
    for n in range(59, 120):
        new_sink(RtpPacket(payload_type=111, sequence_number=9000 + n, payload=voice[n]))
        if n == 59:
            old_sink(RtpPacket(payload_type=111, sequence_number=561, payload=voice[61]))
        tick()
    await origin.stop()
    assert heard == list(range(first_tick, origin.index))  # the speaker in every tick
    assert new.draining is None  # played out, then dropped
    # The new buffer started at its newest packets: no deeper than the old one played.
    assert new.packets is not None
    assert len(new.packets) <= 3


async def test_with_dtx_silence_sends_only_comfort_noise_updates_and_no_sequence_gap(
    sent: None,
) -> None:
    outs = {"a": FakeOut(), "l": FakeOut()}
    origin, members = origin_with(MediaConfig(opus_dtx=True), outs, {"a"})
    talking = set(range(30)) | set(range(130, 160))
    for tick in range(160):
        if tick in talking:
            members["a"].fifo.push(tone(440, tick))
        origin._tick(origin._loop.time())
        origin.index += 1
    await origin.stop()

    for out in outs.values():
        indices = sorted(out.payloads)
        # Contiguous sequence numbers: nothing missing, so nothing concealed as lost...
        assert indices == list(range(len(indices)))
        # ...while the timestamps jump over the silence, sent only as comfort-noise updates.
        assert len(indices) < 160 - 60
        assert all(len(p) > DTX_FRAME_BYTES for p in out.payloads.values())
        steps = [out.stamps[i + 1] - out.stamps[i] for i in indices[:-1]]
        assert max(steps) >= 15 * FRAME_SAMPLES
        assert all(step % FRAME_SAMPLES == 0 for step in steps)
    # The listener hears the talk after the silence (their decoder gets real packets again).
    last = max(outs["l"].payloads)
    assert outs["l"].stamps[last] == 159 * FRAME_SAMPLES


async def test_with_dtx_a_member_moving_on_and_off_stage_keeps_a_gapless_sequence(
    sent: None,
) -> None:
    """The audience's stream and a talker's own skip different silent ticks: each move
    between them shifts the member's sequence numbers so they go on without a jump."""
    outs = {"a": FakeOut(), "m": FakeOut()}
    origin, members = origin_with(MediaConfig(opus_dtx=True), outs, {"a"})
    talking = set(range(20)) | set(range(90, 110)) | set(range(180, 200))
    for tick in range(260):
        if tick == 60:
            assert origin.set_role("m", "speaker")
        if tick == 150:
            assert origin.set_role("m", "listener")
        if tick in talking:
            members["a"].fifo.push(tone(440, tick))
        if 60 <= tick < 150 and tick % 3 == 0:
            members["m"].fifo.push(tone(660, tick))  # m says a little on stage
        origin._tick(origin._loop.time())
        origin.index += 1
    await origin.stop()

    heard = outs["m"]
    indices = sorted(heard.payloads)
    assert indices == list(range(indices[0], indices[0] + len(indices)))
    assert len(indices) < 260
    stamps = [heard.stamps[i] for i in indices]
    assert stamps == sorted(stamps)
