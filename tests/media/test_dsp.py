"""Mixing arithmetic: levels, the per-speaker FIFO, frames read from their real bytes only."""

from __future__ import annotations

import av
import numpy as np
import pytest

from media.dsp import FRAME_SAMPLES, JitterFifo, OpusEncoder, dbov, frame_to_mono


def sine(freq: float, amp: float, n: int = FRAME_SAMPLES) -> np.ndarray:
    return (amp * 32767 * np.sin(2 * np.pi * freq * np.arange(n) / 48_000)).astype(np.float32)


def test_dbov_of_a_full_scale_sine_is_minus_3_and_silence_is_minus_127() -> None:
    levels = dbov(np.stack([sine(440, 1.0), np.zeros(FRAME_SAMPLES, np.float32), sine(440, 0.1)]))
    assert levels[0] == pytest.approx(-3.01, abs=0.05)
    assert levels[1] == -127
    assert levels[2] == pytest.approx(-23.01, abs=0.05)


def test_a_decoded_frame_is_read_from_its_real_bytes_not_the_padded_plane() -> None:
    stereo = np.stack([sine(440, 0.5), sine(440, 0.5)], axis=1).astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
    frame.sample_rate = 48_000
    assert frame.planes[0].buffer_size >= 3_840
    mono = frame_to_mono(frame)
    assert mono.shape == (FRAME_SAMPLES,)
    assert np.allclose(mono, sine(440, 0.5).astype(np.int16), atol=1)


def test_the_fifo_primes_plays_and_stays_bounded() -> None:
    fifo = JitterFifo(prime=2, max_frames=6)
    fifo.push(sine(440, 0.3))
    assert fifo.pop() is None  # priming
    fifo.push(sine(440, 0.3))
    assert fifo.pop() is not None
    assert fifo.pop() is not None
    assert fifo.pop() is None  # underrun: primes again
    assert fifo.underruns == 1
    for _ in range(20):
        fifo.push(sine(440, 0.3))
    assert len(fifo) == 6 * FRAME_SAMPLES  # a burst never becomes unbounded latency
    assert fifo.dropped_samples == 14 * FRAME_SAMPLES


def test_the_fifo_trims_a_standing_backlog() -> None:
    fifo = JitterFifo(prime=2, max_frames=6, trim_ticks=10)
    for _ in range(5):
        fifo.push(sine(440, 0.3))
    for _ in range(10):  # one frame in, one frame out: the backlog of 4 never shrinks alone
        fifo.push(sine(440, 0.3))
        assert fifo.pop() is not None
    assert len(fifo) <= 2 * FRAME_SAMPLES


def test_the_encoder_makes_one_mono_opus_packet_per_20_ms_near_32_kbps() -> None:
    encoder = OpusEncoder(bitrate=32_000)
    sizes = []
    for i in range(50):
        payloads = encoder.encode(
            sine(440, 0.3, FRAME_SAMPLES * (i + 1))[-FRAME_SAMPLES:].astype(np.int16)
        )
        assert len(payloads) == 1
        sizes.append(len(payloads[0]))
        assert payloads[0][0] & 0x04 == 0  # TOC stereo flag clear: mono
    kbps = sum(sizes[5:]) * 8 / (45 * 0.02) / 1000
    assert 20 < kbps < 45
