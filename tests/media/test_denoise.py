"""Noise suppression per speaker (media/denoise.py) with real speech (espeak-ng) and the real
RNNoise library from the pinned ``pyrnnoise`` wheel: a quality comparison, never a timing."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import wave
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import numpy.typing as npt
import pytest

from media import denoise
from media.config import MediaConfig
from media.denoise import RNNOISE_FRAME, Backend, Suppressor, load_backend
from media.dsp import FRAME_SAMPLES, SAMPLE_RATE
from media.origin import Member, Origin

pytestmark = pytest.mark.media

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
LEAD = SAMPLE_RATE  # one second of noise alone before the speech
SETTLE = int(0.3 * SAMPLE_RATE)  # the model's first 300 ms are not judged


def _missing(message: str) -> None:
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def rnnoise() -> Backend:
    found = denoise.backend()
    if found is None:
        _missing("pyrnnoise is not installed (pip install -r requirements.txt): no RNNoise")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> npt.NDArray[np.float32]:
    """One second of silence, then a spoken sentence: 48 kHz mono, int16 scale, whole frames."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        _missing("espeak-ng is not installed (apt-get install espeak-ng): no speech")
    assert espeak is not None
    path: Path = tmp_path_factory.mktemp("denoise") / "speech.wav"
    text = "the children are playing in the garden near the old stone bridge"
    subprocess.run([espeak, "-v", "en-us", "-w", str(path), text], check=True)
    with wave.open(str(path)) as wav:
        rate = wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    out = [
        f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]
    ]
    signal = np.concatenate([np.zeros(LEAD, dtype=np.int16), *out]).astype(np.float32)
    return signal[: len(signal) - len(signal) % FRAME_SAMPLES]


def noise_like(clean: npt.NDArray[np.float32], snr_db: float) -> npt.NDArray[np.float32]:
    """Steady hiss and rumble (white plus brown noise) at ``snr_db`` below the speech."""
    rng = np.random.default_rng(23)
    white = rng.standard_normal(len(clean))
    brown = np.cumsum(white)
    brown -= np.convolve(brown, np.ones(480) / 480, mode="same")  # no DC drift
    noise = white / white.std() * 0.5 + brown / brown.std()
    speech_power = np.mean(clean[LEAD:].astype(np.float64) ** 2)
    noise *= np.sqrt(speech_power / 10 ** (snr_db / 10) / np.mean(noise**2))
    return noise.astype(np.float32)


def db(x: npt.NDArray[np.float32]) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-9))


def delay_of(out: npt.NDArray[np.float32], clean: npt.NDArray[np.float32]) -> int:
    """The lag (samples) at which the output best matches the clean speech."""
    n = len(clean) - 2 * FRAME_SAMPLES
    return max(
        range(0, 2 * FRAME_SAMPLES + 1), key=lambda d: float(np.dot(out[d : d + n], clean[:n]))
    )


def test_the_pinned_wheel_carries_rnnoise_as_the_mix_needs_it(rnnoise: Backend) -> None:
    assert rnnoise.path.name == "librnnoise.so"
    assert rnnoise.library.rnnoise_get_frame_size() == RNNOISE_FRAME
    assert FRAME_SAMPLES == 2 * RNNOISE_FRAME  # two model frames per 20 ms tick


def test_noise_alone_is_removed_and_speech_stays(
    rnnoise: Backend, clean: npt.NDArray[np.float32]
) -> None:
    noisy = clean + noise_like(clean, snr_db=5.0)
    suppressor = Suppressor(rnnoise)
    out = np.concatenate([suppressor.process(f.copy()) for f in noisy.reshape(-1, FRAME_SAMPLES)])
    suppressor.close()
    assert out.shape == noisy.shape
    assert out.dtype == np.float32
    lag = delay_of(out, clean)
    aligned = out[lag:]
    speech = slice(LEAD, len(clean) - lag)

    # Noise alone: at least 20 dB quieter (the model's first 300 ms excepted).
    assert db(aligned[SETTLE:LEAD]) < db(noisy[SETTLE:LEAD]) - 20.0
    # Speech stays: its loudness within 3 dB of the clean speech ...
    assert abs(db(aligned[speech]) - db(clean[speech])) < 3.0
    # ... and the output is closer to the clean speech than the input was (3 dB better SNR).
    snr_in = db(clean[speech]) - db(noisy[speech] - clean[speech])
    snr_out = db(clean[speech]) - db(aligned[speech] - clean[speech])
    assert snr_out > snr_in + 3.0


def test_each_speaker_keeps_their_own_state(
    rnnoise: Backend, clean: npt.NDArray[np.float32]
) -> None:
    # Interleaving two speakers through two suppressors gives each the same output as alone.
    noisy = (clean + noise_like(clean, snr_db=10.0)).reshape(-1, FRAME_SAMPLES)
    alone = Suppressor(rnnoise)
    expected = [alone.process(f.copy()) for f in noisy]
    a, b = Suppressor(rnnoise), Suppressor(rnnoise)
    got_a, got_b = [], []
    for frame in noisy:
        got_a.append(a.process(frame.copy()))
        got_b.append(b.process((frame * 0.5).copy()))
    np.testing.assert_array_equal(np.concatenate(got_a), np.concatenate(expected))


def test_a_closed_or_odd_sized_frame_passes_through(rnnoise: Backend) -> None:
    suppressor = Suppressor(rnnoise)
    odd = np.full(100, 1000.0, dtype=np.float32)
    np.testing.assert_array_equal(suppressor.process(odd.copy()), odd)
    suppressor.close()
    frame = np.full(FRAME_SAMPLES, 1000.0, dtype=np.float32)
    np.testing.assert_array_equal(suppressor.process(frame.copy()), frame)


def test_an_absent_package_is_logged_and_loads_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="media.denoise"):
        assert load_backend("no_such_rnnoise_package") is None
    assert "no effect" in caplog.text


# --- In the origin: before the mix, per speaker, only while the Space's switch is on ---------


async def tap_through_origin(
    noisy: npt.NDArray[np.float32], *, denoiser: Backend | None, switch: bool
) -> tuple[npt.NDArray[np.float32], bool]:
    """Play ``noisy`` as one speaker's decoded audio through an Origin's ticks; returns what the
    audio tap heard of them (the frame as mixed) and whether suppression said it runs."""
    heard: list[npt.NDArray[np.int16]] = []
    origin = Origin(
        "space",
        MediaConfig(),
        on_levels=lambda event: None,
        taps=[lambda space, user, pcm: heard.append(pcm.copy())],
        denoiser=denoiser,
    )
    peer = SimpleNamespace(track=None, outbound=None)  # no network: frames go in by hand
    member = Member("alice", "speaker", False, peer)  # type: ignore[arg-type]
    origin.add(member)
    running = origin.set_noise_suppression(switch)
    for frame in noisy.reshape(-1, FRAME_SAMPLES):
        member.fifo.push(frame.copy())
        origin._tick(origin._loop.time())
        origin.index += 1
    await origin.stop()
    assert member.suppressor is None  # freed when the speaker left
    return np.concatenate(heard).astype(np.float32), running


@pytest.mark.asyncio
async def test_the_origin_suppresses_a_speakers_noise_only_when_the_switch_is_on(
    rnnoise: Backend, clean: npt.NDArray[np.float32]
) -> None:
    noisy = clean + noise_like(clean, snr_db=5.0)
    off, running_off = await tap_through_origin(noisy, denoiser=rnnoise, switch=False)
    on, running_on = await tap_through_origin(noisy, denoiser=rnnoise, switch=True)
    assert (running_off, running_on) == (False, True)
    # The FIFO holds the first frame back (priming), so the tap starts one frame late.
    start = SETTLE
    end = LEAD - 2 * FRAME_SAMPLES
    assert db(on[start:end]) < db(off[start:end]) - 20.0
    assert abs(db(on[LEAD:]) - db(clean[LEAD:])) < 3.0


@pytest.mark.asyncio
async def test_without_the_library_the_switch_changes_nothing(
    clean: npt.NDArray[np.float32],
) -> None:
    noisy = clean + noise_like(clean, snr_db=5.0)
    off, _ = await tap_through_origin(noisy, denoiser=None, switch=False)
    on, running = await tap_through_origin(noisy, denoiser=None, switch=True)
    assert running is False
    np.testing.assert_array_equal(on, off)
