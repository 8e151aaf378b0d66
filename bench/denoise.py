"""Noise suppression per speaker (media/denoise.py, RNNoise): PESQ-WB and CPU per speaker.

    .venv/bin/python -m bench.denoise            # ~1 minute; a table
    .venv/bin/python -m bench.denoise --json     # the same figures as JSON

Needs espeak-ng and sox (Debian) and ``pesq`` (requirements-dev.txt).

Quality: six fixed sentences spoken by espeak-ng (en-us) with 0.4 s pauses are the clean speech
(48 kHz mono). Three noises are made for each run: brown and pink noise from ``sox -n ... synth``
and babble (four other sentences in four other espeak-ng voices, summed and looped). Each is
mixed in at 5, 10 and 15 dB SNR (noise power that many dB below the mean power of the clean
signal). The noisy signal goes through one :class:`~media.denoise.Suppressor` in 20 ms frames,
exactly as the origin hands a speaker's frames to it; its output is shifted back by the
suppressor's own delay (found by cross-correlation on the clean speech). PESQ wide band (ITU-T
P.862.2, the ``pesq`` package) scores the noisy signal (the baseline: suppression off) and the
denoised one against the clean speech, all resampled to 16 kHz. ``clean_through``: the clean
speech itself through the suppressor, i.e. what it costs a speaker who is not noisy.

CPU: ``time.process_time`` of ``Suppressor.process`` on 20 ms frames, with 1, 4 and 13 speakers
each with their own state, interleaved as the mix tick does (13 is the stage's maximum). The
baseline in the same run is what the origin already spends per speaker without suppression:
decoding their 20 ms Opus packet (libopus via PyAV, as aiortc does) and turning it into the
mix's mono float frame. ``share_of_core``: µs per 20 ms divided by 20,000 µs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from media.denoise import Backend, Suppressor, backend
from media.dsp import FRAME_SAMPLES, SAMPLE_RATE, OpusEncoder, frame_to_mono

SENTENCES = [
    "the weather today is sunny and warm",
    "please open the door for me",
    "we will meet again next week",
    "the children are playing in the garden",
    "i would like a cup of coffee",
    "she bought a new car last year",
]
BABBLE = [
    ("en-gb", "the train to the city leaves at seven in the morning"),
    ("en-us+f3", "my sister works in a hospital near the river"),
    ("en+m3", "they sold every ticket for the concert in an hour"),
    ("en-us+f4", "remember to water the plants before you go away"),
]
SNRS = (5.0, 10.0, 15.0)
NOISES = ("brown", "pink", "babble")
PESQ_RATE = 16_000

Audio = npt.NDArray[np.float32]


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def read_wav(path: Path) -> Audio:
    with wave.open(str(path)) as wav:
        assert wav.getframerate() == SAMPLE_RATE
        assert wav.getnchannels() == 1
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).astype(np.float32)


def speak(tmp: Path, name: str, text: str, voice: str = "en-us") -> Audio:
    """espeak-ng's speech, converted by sox to 48 kHz mono 16-bit."""
    raw, out = tmp / f"{name}.raw.wav", tmp / f"{name}.wav"
    run("espeak-ng", "-v", voice, "-w", str(raw), text)
    run("sox", str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(out))
    return read_wav(out)


def clean_speech(tmp: Path) -> Audio:
    pause = np.zeros(int(0.4 * SAMPLE_RATE), dtype=np.float32)
    parts: list[Audio] = [pause]
    for i, text in enumerate(SENTENCES):
        parts += [speak(tmp, f"clean{i}", text), pause]
    signal = np.concatenate(parts)
    return signal[: len(signal) - len(signal) % FRAME_SAMPLES]


def make_noise(tmp: Path, kind: str, n: int) -> Audio:
    if kind == "babble":
        voices = [speak(tmp, f"babble{i}", text, voice) for i, (voice, text) in enumerate(BABBLE)]
        total = np.zeros(n, dtype=np.float32)
        for i, v in enumerate(voices):
            looped = np.tile(v, n // len(v) + 2)
            start = i * len(v) // len(voices)  # each talker starts at another point
            total += looped[start : start + n]
        return total
    out = tmp / f"{kind}.wav"  # -R: the same noise every run
    seconds = n / SAMPLE_RATE + 0.1
    run(
        "sox", "-R", "-n", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(out),
        "synth", f"{seconds:.3f}", f"{kind}noise", "vol", "0.5",
    )  # fmt: skip
    return read_wav(out)[:n]


def mix(clean: Audio, noise: Audio, snr_db: float) -> Audio:
    speech_power = float(np.mean(clean.astype(np.float64) ** 2))
    noise_power = float(np.mean(noise.astype(np.float64) ** 2))
    scaled = noise * np.sqrt(speech_power / (10 ** (snr_db / 10)) / noise_power)
    return np.clip(clean + scaled, -32768, 32767).astype(np.float32)


def suppress(lib: Backend, signal: Audio) -> Audio:
    suppressor = Suppressor(lib)
    frames = signal.reshape(-1, FRAME_SAMPLES)
    out = np.concatenate([suppressor.process(f.copy()) for f in frames])
    suppressor.close()
    return out


def lag_of(out: Audio, ref: Audio) -> int:
    n = len(ref) - 4 * FRAME_SAMPLES
    return max(range(0, 3 * FRAME_SAMPLES), key=lambda d: float(np.dot(out[d : d + n], ref[:n])))


def to_16k(signal: Audio) -> npt.NDArray[np.float64]:
    pcm = np.clip(signal, -32768, 32767).astype(np.int16)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=PESQ_RATE)
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    parts = [
        f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]
    ]
    return np.concatenate(parts).astype(np.float64)


def pesq_wb(ref: Audio, deg: Audio) -> float:
    from pesq import pesq

    n = min(len(ref), len(deg))
    return round(float(pesq(PESQ_RATE, to_16k(ref[:n]), to_16k(deg[:n]), "wb")), 3)


def quality(lib: Backend, tmp: Path) -> dict[str, Any]:
    clean = clean_speech(tmp)
    lag = lag_of(suppress(lib, clean), clean)

    def denoised(signal: Audio) -> Audio:
        out = suppress(lib, np.concatenate([signal, np.zeros(FRAME_SAMPLES * 2, np.float32)]))
        return out[lag : lag + len(signal)]

    rows = []
    for kind in NOISES:
        noise = make_noise(tmp, kind, len(clean))
        for snr in SNRS:
            noisy = mix(clean, noise, snr)
            off, on = pesq_wb(clean, noisy), pesq_wb(clean, denoised(noisy))
            rows.append(
                {
                    "noise": kind,
                    "snr_db": snr,
                    "pesq_off": off,
                    "pesq_on": on,
                    "gain": round(on - off, 3),
                }
            )
    return {
        "seconds_of_speech": round(len(clean) / SAMPLE_RATE, 2),
        "delay_ms": round(lag / SAMPLE_RATE * 1000, 1),
        "clean_through": pesq_wb(clean, denoised(clean)),
        "rows": rows,
        "mean_gain": round(float(np.mean([r["gain"] for r in rows])), 3),
    }


def opus_packets(signal: Audio) -> list[bytes]:
    encoder = OpusEncoder()
    pcm = np.clip(signal, -32768, 32767).astype(np.int16).reshape(-1, FRAME_SAMPLES)
    return [p for frame in pcm for p in encoder.encode(frame)]


def cpu(lib: Backend, signal: Audio, repeats: int) -> dict[str, Any]:
    frames = [f.copy() for f in signal.reshape(-1, FRAME_SAMPLES)]
    packets = opus_packets(signal)

    # Baseline: the origin's work per speaker and 20 ms without suppression.
    decoder = av.CodecContext.create("opus", "r")
    decoder.sample_rate = SAMPLE_RATE
    decoder.layout = "stereo"  # as aiortc decodes
    started = time.process_time()
    decoded = 0
    for _ in range(repeats):
        for payload in packets:
            for decoded_frame in decoder.decode(av.Packet(payload)):
                frame_to_mono(decoded_frame)
                decoded += 1
    baseline_us = (time.process_time() - started) / max(decoded, 1) * 1e6

    by_speakers = {}
    for speakers in (1, 4, 13):
        states = [Suppressor(lib) for _ in range(speakers)]
        work = [f.copy() for f in frames]
        started = time.process_time()
        count = 0
        for _ in range(repeats):
            for pcm in work:
                for state in states:  # one tick: each speaker's frame in turn
                    state.process(pcm)
                    count += 1
        us = (time.process_time() - started) / count * 1e6
        for state in states:
            state.close()
        by_speakers[str(speakers)] = {
            "us_per_frame_per_speaker": round(us, 1),
            "share_of_core_per_speaker": round(us / 20_000, 4),
            "share_of_core_all": round(us * speakers / 20_000, 3),
        }
    return {
        "frames_per_run": len(frames),
        "repeats": repeats,
        "baseline_off_us_per_frame": round(baseline_us, 1),
        "baseline_off_share_of_core": round(baseline_us / 20_000, 4),
        "on": by_speakers,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the speech for CPU")
    args = parser.parse_args()
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (apt-get install {tool})", file=sys.stderr)
            return 2
    lib = backend()
    if lib is None:
        print("no suppressor library: pip install -r requirements.txt (pyrnnoise)", file=sys.stderr)
        return 2
    result: dict[str, Any] = {
        "backend": lib.name,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory(prefix="bench-denoise-") as folder:
        tmp = Path(folder)
        result["quality"] = quality(lib, tmp)
        result["cpu"] = cpu(lib, clean_speech(tmp), args.repeats)
    result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    q, c = result["quality"], result["cpu"]
    print(
        f"{result['backend']}; load average {result['load_avg_start']} -> {result['load_avg_end']}"
    )
    print(f"PESQ-WB ({q['seconds_of_speech']} s of speech; delay {q['delay_ms']} ms)")
    print(f"  clean speech through the suppressor: {q['clean_through']}")
    print("  noise    SNR  off    on     gain")
    for r in q["rows"]:
        off, on, gain = r["pesq_off"], r["pesq_on"], r["gain"]
        print(f"  {r['noise']:<7} {r['snr_db']:>4.0f}  {off:.3f}  {on:.3f}  {gain:+.3f}")
    print(f"  mean gain {q['mean_gain']:+.3f}")
    print(f"CPU per 20 ms frame per speaker (off: decode {c['baseline_off_us_per_frame']} µs)")
    for n, row in c["on"].items():
        print(
            f"  {n:>2} speakers: {row['us_per_frame_per_speaker']} µs "
            f"({row['share_of_core_per_speaker']:.1%} of a core each, "
            f"{row['share_of_core_all']:.0%} all)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
