"""Audio across a lossy network (issue #23): Opus FEC, RED and loss recovery in the media worker.

The first tests need libopus only. The last one builds network namespaces (``bench.netlab``):
an origin, a speaker and a listener behind a router that drops 5 % of RTP on each leg with
nftables, with the protections off, with in-band FEC only and with FEC and RED, and compares
what the listener heard with PESQ-WB. It needs root, iproute2, nftables, espeak-ng and
libopus0; without them it skips (with CI=true it fails). Figures for every profile:
``python -m bench.network --json``.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import numpy.typing as npt
import pytest

from media.client import tone_amplitude
from media.dsp import FRAME_SAMPLES, FecDecoder, JitterFifo, LibOpusEncoder, PacketJitterBuffer

pytestmark = [pytest.mark.media]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def voice_like(seconds: float) -> npt.NDArray[np.int16]:
    """Harmonics of a gliding pitch under a syllable-rate envelope: enough like voice for the
    encoder's speech mode, and the same on every run."""
    t = np.arange(round(seconds * 48_000)) / 48_000
    pitch = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / 48_000
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    return (6000 * envelope * x).astype(np.int16)


def encode(pcm: npt.NDArray[np.int16], encoder: LibOpusEncoder) -> list[bytes]:
    return [encoder.encode(pcm[i : i + FRAME_SAMPLES])[0] for i in range(0, len(pcm), 960)]


def decode(packets: list[bytes], lost: set[int], *, fec: bool) -> npt.NDArray[np.float32]:
    decoder = FecDecoder(fec=fec)
    frames = []
    for seq, payload in enumerate(packets):
        if seq not in lost:
            frames += decoder.push(seq, payload)
    return np.concatenate(frames)


def snr_db(clean: npt.NDArray[np.float32], other: npt.NDArray[np.float32]) -> float:
    n = min(len(clean), len(other))
    noise = clean[:n] - other[:n]
    return float(10 * np.log10(np.dot(clean[:n], clean[:n]) / max(1.0, np.dot(noise, noise))))


def test_expected_loss_makes_the_encoder_carry_redundancy() -> None:
    pcm = voice_like(2.0)
    plain = encode(pcm, LibOpusEncoder(fec=True, packet_loss=0))
    protected = encode(pcm, LibOpusEncoder(fec=True, packet_loss=20))
    # Same bit rate: the redundant copy takes bytes from the primary frame, so the packets are
    # not larger; what changes is that the FEC decode of the next packet yields real audio.
    assert abs(sum(map(len, protected)) - sum(map(len, plain))) < 0.2 * sum(map(len, plain))
    lost = set(range(10, 100, 7))
    clean = decode(protected, set(), fec=True)
    assert snr_db(clean, decode(protected, lost, fec=True)) > snr_db(
        clean, decode(plain, lost, fec=True)
    )


def test_fec_of_the_next_packet_beats_concealment_for_a_single_loss() -> None:
    packets = encode(voice_like(3.0), LibOpusEncoder(fec=True, packet_loss=10))
    lost = set(range(12, 150, 9))
    clean = decode(packets, set(), fec=True)
    recovered = decode(packets, lost, fec=True)
    concealed = decode(packets, lost, fec=False)
    assert len(recovered) == len(concealed) == len(clean)  # every lost frame is replaced
    assert snr_db(clean, recovered) > snr_db(clean, concealed) + 3.0


def test_decoder_drops_late_packets_and_conceals_a_long_gap_only_up_to_its_bound() -> None:
    packets = encode(voice_like(1.0), LibOpusEncoder(fec=True, packet_loss=10))
    decoder = FecDecoder()
    assert len(decoder.push(100, packets[0])) == 1
    assert len(decoder.push(102, packets[2])) == 2  # 101 from the FEC of 102, then 102
    assert decoder.push(101, packets[1]) == []  # late: already recovered
    assert decoder.late == 1
    assert decoder.recovered == 1
    assert len(decoder.push(105, packets[5])) == 3  # 103 concealed, 104 recovered, 105
    assert len(decoder.push(105 + FecDecoder.MAX_GAP + 2, packets[6])) == 1  # a pause


def _played(buffer: PacketJitterBuffer, ticks: int) -> list[int]:
    """Frame lengths the mix clock gets over `ticks` ticks (0: nothing, the speaker is idle)."""
    out = []
    for _ in range(ticks):
        pcm = buffer.pop()
        out.append(0 if pcm is None else len(pcm))
    return out


def test_the_packet_buffer_plays_a_reordered_packet_in_its_place() -> None:
    packets = encode(voice_like(1.0), LibOpusEncoder(fec=True, packet_loss=10))
    buffer = PacketJitterBuffer(target=3)
    for seq in (0, 1, 3, 2, 4):  # 3 overtook 2 on the way
        buffer.push(seq, packets[seq])
    assert _played(buffer, 5) == [FRAME_SAMPLES] * 5
    assert (buffer.decoded, buffer.recovered, buffer.concealed, buffer.late) == (5, 0, 0, 0)


def test_the_packet_buffer_recovers_a_lost_packet_from_the_next_ones_fec() -> None:
    packets = encode(voice_like(1.0), LibOpusEncoder(fec=True, packet_loss=10))
    buffer = PacketJitterBuffer(target=3)
    for seq in (0xFFFE, 0xFFFF, 1, 2):  # 0 lost, across the sequence number wrap
        buffer.push(seq, packets[(seq + 2) & 0xFFFF])
    assert _played(buffer, 4) == [FRAME_SAMPLES] * 4
    assert (buffer.decoded, buffer.recovered) == (3, 1)
    buffer.push(0, packets[2])  # arrives after its frame was recovered: too late
    assert buffer.late == 1


def test_a_late_packet_is_waited_for_not_skipped() -> None:
    packets = encode(voice_like(1.0), LibOpusEncoder(fec=True, packet_loss=10))
    buffer = PacketJitterBuffer(target=2)
    for seq in (10, 11):
        buffer.push(seq, packets[seq])
    assert _played(buffer, 3) == [FRAME_SAMPLES] * 3  # 10, 11, then 12 is not here yet
    assert buffer.concealed == 1
    buffer.push(12, packets[12])  # late, not lost: it still plays, one frame later
    assert _played(buffer, 1) == [FRAME_SAMPLES]
    assert (buffer.decoded, buffer.late) == (3, 0)


def test_a_buffer_being_replaced_plays_what_it_holds_and_its_successor_starts_at_depth() -> None:
    packets = encode(voice_like(1.0), LibOpusEncoder(fec=True, packet_loss=10))
    old = PacketJitterBuffer(target=3)
    for seq in range(5):
        old.push(seq, packets[seq])
    assert old.pop() is not None  # playing: 0
    old.push(6, packets[6])  # 5 lost: 6 still plays it from FEC
    assert [old.pop_held() is not None for _ in range(6)] == [True] * 6
    assert old.pop_held() is None  # empty: no concealment, the successor takes over
    assert (old.decoded, old.recovered, old.concealed) == (6, 1, 0)
    assert PacketJitterBuffer().pop_held() is None  # never started: nothing to play out
    new = PacketJitterBuffer(target=3)
    for seq in range(100, 107):  # what came while the old one played out
        new.push(seq, packets[seq - 100])
    new.start_at_newest()
    assert len(new) == 3
    assert _played(new, 3) == [FRAME_SAMPLES] * 3
    assert new.decoded == 3


def test_a_speaker_who_stops_sending_goes_quiet_and_starts_again() -> None:
    packets = encode(voice_like(1.0), LibOpusEncoder(fec=True, packet_loss=10))
    buffer = PacketJitterBuffer(target=2, conceal_max=4)
    for seq in (0, 1):
        buffer.push(seq, packets[seq])
    assert _played(buffer, 2 + 4 + 2) == [FRAME_SAMPLES] * 6 + [0, 0]
    for seq in (20, 21):  # a new talk spurt
        buffer.push(seq, packets[seq])
    assert _played(buffer, 2) == [FRAME_SAMPLES] * 2
    assert buffer.decoded == 4


def test_the_packet_buffer_trims_back_to_its_target_depth() -> None:
    packets = encode(voice_like(3.0), LibOpusEncoder(fec=True, packet_loss=10))
    buffer = PacketJitterBuffer(target=2, max_depth=12, trim_ticks=10, quiet_wait=1)
    for seq in range(8):  # a burst after a stall: 8 waiting
        buffer.push(seq, packets[seq])
    for seq in range(8, 60):  # then one per tick
        assert buffer.pop() is not None
        buffer.push(seq, packets[seq])
    assert buffer.trimmed >= 4  # a frame per window while deeper than the target
    assert len(buffer) <= 4
    buffer2 = PacketJitterBuffer(target=2, max_depth=5)
    for seq in range(9):
        buffer2.push(seq, packets[seq])
    buffer2.pop()
    assert buffer2.trimmed == 4  # never more than max_depth frames of delay


def test_the_packet_buffer_trims_in_a_pause_not_in_the_middle_of_a_sound() -> None:
    """475 Hz is 9.5 cycles in 20 ms: a frame dropped from the tone is a half-cycle jump that
    cancels it across the joint; dropped from the pause, nothing is heard missing."""
    t = np.arange(48_000 * 3) / 48_000
    pcm = 0.3 * 32767 * np.sin(2 * np.pi * 475 * t)
    pcm[round(1.5 * 48_000) : round(1.7 * 48_000)] = 0.0  # a pause between words
    packets = encode(pcm.astype(np.int16), LibOpusEncoder(fec=True))
    buffer = PacketJitterBuffer(target=2, trim_ticks=10, quiet_wait=len(packets))
    for seq in range(6):  # a burst after a stall: deeper than the target from the start
        buffer.push(seq, packets[seq])
    played = []
    for seq in range(6, len(packets)):
        frame = buffer.pop()
        assert frame is not None
        played.append(frame)
        buffer.push(seq, packets[seq])
    # One frame per trim window, only in the pause's ten frames (after it, none is quiet).
    assert 1 <= buffer.trimmed <= 2
    assert len(buffer) == 6 - buffer.trimmed
    joints = [
        tone_amplitude(np.concatenate([a, b]), 475)
        for a, b in itertools.pairwise(played)
        # both frames of the pair in the tone, settled
        if min(tone_amplitude(a, 475), tone_amplitude(b, 475)) > 0.25
    ]
    assert len(joints) > 100
    assert min(joints) > 0.25, "a frame was dropped from the tone"

    forced = PacketJitterBuffer(target=2, trim_ticks=10, quiet_wait=3)
    for seq in range(6):
        forced.push(seq, packets[seq])
    for seq in range(6, 30):  # all tone: no quiet frame comes, so it drops one after the wait
        assert forced.pop() is not None
        forced.push(seq, packets[seq])
    assert forced.trimmed >= 1


def test_dtx_shrinks_silence_to_tiny_packets() -> None:
    silence = np.zeros(48_000, dtype=np.int16)
    with_dtx = encode(silence, LibOpusEncoder(dtx=True))
    without = encode(silence, LibOpusEncoder(dtx=False))
    # In DTX libopus still sends a real frame every 400 ms (comfort noise updates).
    assert sum(len(p) <= 2 for p in with_dtx[-40:]) >= 30
    assert min(map(len, without[-40:])) > 2


def test_the_private_aiortc_pieces_behind_receiver_reports_are_still_there() -> None:
    # media.peer registers its sender for RTCP routing and reads the reports itself.
    import inspect

    from aiortc.rtcdtlstransport import RTCDtlsTransport
    from aiortc.rtcrtpsender import RTCRtpSender

    register = inspect.signature(RTCDtlsTransport._register_rtp_sender).parameters
    assert list(register) == ["self", "sender", "parameters"]
    assert list(inspect.signature(RTCRtpSender._handle_rtcp_packet).parameters) == [
        "self",
        "packet",
    ]


@pytest.mark.parametrize("keep", [1, 2])
def test_fifo_trims_down_to_the_spare_frames_it_is_told_to_keep(keep: int) -> None:
    # The origin's FIFO of a speaker it decodes itself keeps two: no jitter buffer before it.
    fifo = JitterFifo(prime=3, max_frames=8, keep_frames=keep, trim_ticks=10)
    frame = np.ones(FRAME_SAMPLES, dtype=np.float32)
    for _ in range(6):
        fifo.push(frame)
    for _ in range(25):
        fifo.push(frame)
        assert fifo.pop() is not None
    assert len(fifo) == keep * FRAME_SAMPLES


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_at_five_percent_loss_fec_beats_nothing_and_red_beats_fec() -> None:
    from bench.netlab import (
        FEC,
        OFF,
        RED,
        Impairment,
        lab_or_skip,
        missing_tools,
        run_profile,
        speech_16k,
    )

    missing = missing_tools()
    if missing:
        how = (
            f"needs {', '.join(missing)}: run as root with "
            "apt-get install iproute2 nftables espeak-ng libopus0"
        )
        if IN_CI:
            pytest.fail(f"CI=true and this test {how}", pytrace=False)
        pytest.skip(how)
    speech = speech_16k()
    lossy = Impairment(loss_pct=5)
    with lab_or_skip() as lab:
        off = run_profile(lab, lossy, OFF, speech)
        fec = run_profile(lab, lossy, FEC, speech)
        red = run_profile(lab, lossy, RED, speech)
    # Both legs drop ~5 % of RTP: the listener gets ~95 % of what the origin sent.
    for result in (off, fec, red):
        assert 0.85 < result.delivery_ratio < 0.995
    assert fec.pesq_wb > off.pesq_wb
    # RED both ways: the speaker, asked for RED once its packets were lost (a `reoffer`), sent
    # it, and its lost packets came back from the next ones at the origin; the listener was
    # sent RED (its reports showed loss).
    assert [r["reason"] for r in red.reoffers] == ["uplink_loss"]
    assert fec.reoffers == []  # RED not negotiated: nothing to ask for
    members = red.origin["members"]
    assert members["speaker"]["red_received"] > 0
    assert members["speaker"]["repaired"] > 0
    assert members["listener"]["red"] == 1
    assert "repaired" not in members["listener"]  # a listener sends nothing to repair
    assert red.pesq_wb > fec.pesq_wb
