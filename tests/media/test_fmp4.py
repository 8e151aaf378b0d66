"""Opus in fMP4 segments and plain MP4: what FFmpeg (PyAV, ffprobe) reads back from our boxes."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from media.dsp import OpusEncoder
from media.fmp4 import (
    FRAME_SAMPLES,
    PRE_SKIP,
    SAMPLE_RATE,
    SILENCE,
    init_segment,
    media_segment,
    plain_mp4,
    read_segment,
)

TONE_HZ = 440.0
PACKETS = 150  # 3 s: one full 100-packet segment and a shorter last one


def tone_packets(count: int, *, start: int = 0) -> list[bytes]:
    encoder = OpusEncoder()
    t = np.arange(start * FRAME_SAMPLES, (start + count) * FRAME_SAMPLES)
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * TONE_HZ * t / SAMPLE_RATE)).astype(np.int16)
    packets = [
        p
        for i in range(count)
        for p in encoder.encode(pcm[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES])
    ]
    assert len(packets) == count  # libopus holds nothing back at 20 ms frames
    return packets


@pytest.fixture(scope="module")
def packets() -> list[bytes]:
    return tone_packets(PACKETS)


def recording(packets: list[bytes]) -> bytes:
    """init + segments of 100 packets with continuous base times, as the recorder writes them."""
    segments = [
        media_segment(packets[i : i + 100], sequence=i // 100 + 1, base_time=i * FRAME_SAMPLES)
        for i in range(0, len(packets), 100)
    ]
    return init_segment() + b"".join(segments)


def decode(data: bytes) -> tuple[npt.NDArray[np.float32], list[int]]:
    """Mono samples and each decoded frame's pts (in 1/48000 s), through FFmpeg's demuxer."""
    chunks: list[npt.NDArray[np.float32]] = []
    pts: list[int] = []
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
        assert stream.sample_rate == SAMPLE_RATE
        for frame in container.decode(stream):
            chunks.append(frame.to_ndarray().reshape(-1).astype(np.float32))
            assert frame.pts is not None
            pts.append(frame.pts)
    return np.concatenate(chunks), pts


def dominant_hz(pcm: npt.NDArray[np.float32]) -> float:
    spectrum = np.abs(np.fft.rfft(pcm))
    return float(np.argmax(spectrum)) * SAMPLE_RATE / len(pcm)


def top_level_boxes(data: bytes) -> list[bytes]:
    kinds, pos = [], 0
    while pos < len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        kinds.append(kind)
        pos += size
    return kinds


def test_init_and_segments_decode_to_the_tone_with_continuous_timestamps(
    packets: list[bytes],
) -> None:
    pcm, pts = decode(recording(packets))
    # FFmpeg drops the pre-skip dOps declares, so the first frame starts at PRE_SKIP.
    assert len(pcm) == PACKETS * FRAME_SAMPLES - PRE_SKIP
    assert pts[0] == PRE_SKIP
    assert pts[1:] == [i * FRAME_SAMPLES for i in range(1, PACKETS)]
    assert dominant_hz(pcm) == pytest.approx(TONE_HZ, abs=1.0)


def test_a_later_segment_plays_at_its_own_base_time(packets: list[bytes]) -> None:
    later = init_segment() + media_segment(packets[100:], sequence=7, base_time=96_000)
    _, pts = decode(later)
    assert pts[0] >= 96_000
    assert pts[-1] == 96_000 + (PACKETS - 101) * FRAME_SAMPLES


def test_plain_mp4_puts_moov_first_and_decodes_to_the_tone(packets: list[bytes]) -> None:
    data = plain_mp4(packets)
    assert top_level_boxes(data) == [b"ftyp", b"moov", b"mdat"]
    pcm, pts = decode(data)
    # The edit list trims the encoder's priming samples and starts the clip at zero.
    assert len(pcm) == PACKETS * FRAME_SAMPLES - PRE_SKIP
    assert pts[0] == 0
    assert dominant_hz(pcm) == pytest.approx(TONE_HZ, abs=1.0)


def test_read_segment_returns_what_media_segment_wrote(packets: list[bytes]) -> None:
    segment = media_segment(packets[:100], sequence=3, base_time=123 * FRAME_SAMPLES)
    assert read_segment(segment) == (123 * FRAME_SAMPLES, packets[:100])
    big_base = (1 << 40) + 960  # tfdt is 64-bit: a long recording's time does not wrap
    assert read_segment(media_segment([SILENCE], sequence=1, base_time=big_base)) == (
        big_base,
        [SILENCE],
    )


def test_a_truncated_or_padded_segment_is_refused(packets: list[bytes]) -> None:
    segment = media_segment(packets[:100], sequence=1, base_time=0)
    kinds = top_level_boxes(segment)
    assert kinds == [b"styp", b"moof", b"mdat"]
    styp_end = struct.unpack_from(">I", segment, 0)[0]
    moof_end = styp_end + struct.unpack_from(">I", segment, styp_end)[0]
    cuts = [0, 1, 7, styp_end, styp_end + 8, styp_end + 100, moof_end, moof_end + 8]
    cuts += [len(segment) // 2, len(segment) - 1]
    for cut in cuts:
        with pytest.raises(ValueError):
            read_segment(segment[:cut])
    with pytest.raises(ValueError):
        read_segment(segment + b"\x00" * 8)


def test_silence_decodes_to_960_silent_samples() -> None:
    for name in ("libopus", "opus"):
        decoder = av.CodecContext.create(name, "r")
        decoder.sample_rate = SAMPLE_RATE
        decoder.layout = "mono"
        frames = decoder.decode(av.Packet(SILENCE))
        assert sum(f.samples for f in frames) == FRAME_SAMPLES
        assert all(np.abs(f.to_ndarray()).max() < 1e-3 for f in frames)


def test_a_gap_filled_with_silence_is_silent_in_place(packets: list[bytes]) -> None:
    gapped = packets[:50] + [SILENCE] * 25 + tone_packets(50, start=75)
    pcm, _ = decode(recording(gapped))
    offset = -PRE_SKIP  # decoded audio starts PRE_SKIP samples into the timeline
    gap = pcm[offset + 52 * FRAME_SAMPLES : offset + 73 * FRAME_SAMPLES]
    after = pcm[offset + 80 * FRAME_SAMPLES : offset + 120 * FRAME_SAMPLES]
    assert np.abs(gap).max() < 1e-3
    assert np.abs(after).max() > 0.1


def test_writers_refuse_what_they_cannot_describe() -> None:
    with pytest.raises(ValueError):
        media_segment([], sequence=1, base_time=0)
    with pytest.raises(ValueError):
        init_segment(channels=3)
    with pytest.raises(ValueError):
        plain_mp4([SILENCE], pre_skip=3840)  # 20 ms of audio cannot lose 80 ms to the pre-skip


def ffprobe(path: Path) -> dict[str, str]:
    entries = "stream=codec_name,sample_rate,channels,duration"
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", entries, "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    (stream,) = json.loads(result.stdout)["streams"]
    return {key: str(value) for key, value in stream.items()}


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe: apt-get install ffmpeg")
def test_ffprobe_reads_opus_at_48khz_from_both_forms(packets: list[bytes], tmp_path: Path) -> None:
    fragmented, plain = tmp_path / "recording.mp4", tmp_path / "clip.mp4"
    fragmented.write_bytes(recording(packets))
    plain.write_bytes(plain_mp4(packets))
    for path in (fragmented, plain):
        stream = ffprobe(path)
        assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == (
            "opus",
            "48000",
            "1",
        )
    valid_seconds = (PACKETS * FRAME_SAMPLES - PRE_SKIP) / SAMPLE_RATE
    assert float(ffprobe(plain)["duration"]) == pytest.approx(valid_seconds, abs=1e-3)
