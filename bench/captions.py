"""Live captions: word error rate and CPU cost of recognition, 1 and 3 simultaneous speakers.

    .venv/bin/python -m bench.captions            # default engine, then pocketsphinx; ~10 minutes
    .venv/bin/python -m bench.captions --json --presets pocketsphinx --snr
    .venv/bin/python -m bench.captions --presets whisper-tiny-en --snr 10 20 --offline 0 1 2
    .venv/bin/python -m bench.captions --presets whisper-tiny-en --denoise on --final-beam 1 5

Ten fixed sentences (below) are spoken by espeak-ng (en-us voice) at run time. Each run feeds the
production ``CaptionRecognizer`` the way the media worker's tap does: an asyncio loop ticking
every 20 ms hands each speaker's 48 kHz int16 frame to ``feed_frame`` in real time. A speaker
says the ten sentences one after the other with 1.2 s pauses; with 3 speakers each starts at a
different sentence, so three different sentences are always being spoken at once. Each run is
done on the clean speech and again with noise mixed in (``--snr``, default 10 dB): pink noise
from a fixed seed, continuous through the pauses, its power ``snr`` dB below the mean power of
the sentences. Each run is made with the recognizer's noise suppression on (RNNoise in the
recognition process, the product's default: ``CAPTIONS_NOISE_SUPPRESSION``) and off (the
baseline), unless ``--denoise on`` or ``off`` picks one; its CPU counts in the run's.

Reported per run:
- the hypothesis of each sentence (the finals whose middle falls in its time window) and the
  word error rate: (substitutions + deletions + insertions) / reference words, over all sentences;
- ``rtf_cpu``: CPU seconds of the recognition process (or, in thread mode, of this whole process)
  per second of audio fed to it, i.e. per second of wall time. Below 1.0, one core keeps up;
- ``cpu_per_talking_second``: the same CPU per second of audio the engine was given (each
  utterance's voiced audio plus its pre-roll and hangover; silence costs nothing): what one
  speaker costs while talking, whatever the share of pauses in the set;
- ``parent_cpu_share``: CPU of this process (the loop feeding frames, the pump) per wall second;
- ``loop_late_ms``: how late the 20 ms ticks of the feeding loop woke (p50/p99/max): the cost
  recognition imposes on a media loop sharing its process;
- ``final_latency_s``: from the end of the speech (the ``ended_at`` of a final) to the callback;
- ``partial_latency_s``: from the last voiced audio a partial includes (its ``ended_at``) to its
  callback; ``first_partial_s``: from the start of an utterance to its first partial's callback;
- ``dropped``: frames dropped because recognition fell behind.

Words are compared lower-case, without punctuation, numbers as words ("7" reads "seven").
``--offline SEED...`` measures only the error rate, over several noise draws (``offline``).
``--final-beam 1 5`` repeats each run per beam of the utterances' finals (``final_beam`` in each
row; the product's default is 5, partials are always greedy).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
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

from media.captions import Caption, CaptionRecognizer
from media.captions.engine import (
    FALLBACK_ENGINE,
    configured_final_beam,
    default_engine_name,
    engine_factory,
)
from media.captions.segmenter import Segmenter, VadConfig

SENTENCES = [
    "the weather today is sunny and warm",
    "please open the door for me",
    "we will meet again next week",
    "the children are playing in the garden",
    "i would like a cup of coffee",
    "this book is very interesting",
    "she bought a new car last year",
    "turn on the lights in the kitchen",
    "the train leaves at seven o'clock",
    "thank you for coming to the meeting",
]
FRAME = 960
RATE = 48_000
GAP_SECONDS = 1.2
LEAD_SECONDS = 0.5


def synthesize(espeak: str, text: str, tmp: Path) -> npt.NDArray[np.int16]:
    path = tmp / "speech.wav"
    subprocess.run([espeak, "-v", "en-us", "-w", str(path), text], check=True)
    with wave.open(str(path)) as wav:
        rate = wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    parts = [
        f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]
    ]
    return np.concatenate(parts).astype(np.int16)


_UNITS = (  # noqa: SIM905 (a line of words reads better than twenty quoted ones)
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()  # noqa: SIM905


def _number_words(match: re.Match[str]) -> str:
    n = int(match.group())
    if n < 20:
        return _UNITS[n]
    if n < 100:
        return _TENS[n // 10 - 2] + ("" if n % 10 == 0 else " " + _UNITS[n % 10])
    return match.group()


def normalise(text: str) -> list[str]:
    # Numbers as words, as Whisper's own scoring does: "7 o'clock" is a right reading of
    # "seven o'clock" (stripping the digit counted it as a word missed).
    text = re.sub(r"\b\d{1,2}\b", _number_words, text.lower())
    return re.sub(r"[^a-z' ]", " ", text).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def word_error_rate(pairs: list[tuple[str, str]]) -> float:
    errors = sum(edit_distance(normalise(ref), normalise(hyp)) for ref, hyp in pairs)
    words = sum(len(normalise(ref)) for ref, _ in pairs)
    return errors / words if words else 0.0


def schedule(
    speech: list[npt.NDArray[np.int16]], first: int
) -> tuple[npt.NDArray[np.int16], list[tuple[int, float, float]]]:
    """One speaker's track starting at sentence ``first``: (audio, [(sentence, start, end) s])."""
    parts = [np.zeros(int(LEAD_SECONDS * RATE), dtype=np.int16)]
    windows = []
    t = LEAD_SECONDS
    for k in range(len(speech)):
        idx = (first + k) % len(speech)
        pcm = speech[idx]
        windows.append((idx, t, t + len(pcm) / RATE))
        t += len(pcm) / RATE + GAP_SECONDS
        parts += [pcm, np.zeros(int(GAP_SECONDS * RATE), dtype=np.int16)]
    track = np.concatenate(parts)
    return track[: len(track) - len(track) % FRAME], windows


def with_noise(
    track: npt.NDArray[np.int16], speech_power: float, snr_db: float, seed: int
) -> npt.NDArray[np.int16]:
    """``track`` plus pink noise ``snr_db`` below ``speech_power`` (mean square of the speech)."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(len(track)))
    freqs = np.fft.rfftfreq(len(track), d=1 / RATE)
    spectrum[1:] /= np.sqrt(freqs[1:])  # 1/f power: pink
    # Band-limited to 100 Hz-8 kHz, like noise through a microphone and the 16 kHz engines:
    # below that, pink noise swings by several dB from one second to the next.
    spectrum[(freqs < 100) | (freqs > 8000)] = 0
    noise = np.fft.irfft(spectrum, n=len(track))
    noise *= np.sqrt(speech_power / 10 ** (snr_db / 10) / np.mean(noise**2))
    mixed = track.astype(np.float64) + noise
    return np.clip(mixed, -32768, 32767).astype(np.int16)


def mean_power(speech: list[npt.NDArray[np.int16]]) -> float:
    """Mean square of the sentences: what ``with_noise``'s SNR is relative to."""
    return float(np.mean(np.concatenate(speech).astype(np.float64) ** 2))


def said_in(finals: list[Caption], start: float, end: float, origin: float = 0.0) -> str:
    """The finals whose middle (on a clock starting at ``origin``) falls in a sentence's window
    ``start``-``end`` s, in order: the hypothesis scored against that sentence."""
    return " ".join(
        c.text
        for c in sorted(finals, key=lambda c: c.started_at)
        if start - 0.3 <= (c.started_at + c.ended_at) / 2 - origin <= end + 0.6
    )


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values)
    return {
        "p50": round(float(np.percentile(arr, 50)), 2),
        "p99": round(float(np.percentile(arr, 99)), 2),
        "max": round(float(arr.max()), 2),
    }


async def run(
    speech: list[npt.NDArray[np.int16]],
    *,
    engine: str,
    speakers: int,
    mode: str,
    snr_db: float | None = None,
    denoise: bool = False,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    captions: list[tuple[float, Caption]] = []
    recognizer = CaptionRecognizer(
        lambda c: captions.append((time.time(), c)),
        loop=loop,
        engine=engine,
        mode=mode,  # type: ignore[arg-type]
        denoise=denoise,
    )
    await asyncio.to_thread(recognizer.start)
    tracks = [schedule(speech, first=3 * k) for k in range(speakers)]
    if snr_db is not None:
        speech_power = mean_power(speech)
        tracks = [
            (with_noise(track, speech_power, snr_db, seed=k), windows)
            for k, (track, windows) in enumerate(tracks)
        ]
    loadavg_before = os.getloadavg()
    n_frames = max(len(track) for track, _ in tracks) // FRAME
    recognizer.set_enabled("bench", True)
    await asyncio.to_thread(recognizer.flush)
    cpu_before = recognizer.stats().get("cpu_seconds", 0.0)
    parent_before = time.process_time()
    wall0 = time.time()
    mono0 = loop.time()
    late: list[float] = []
    for i in range(n_frames):
        deadline = mono0 + i * FRAME / RATE
        delay = deadline - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        late.append((loop.time() - deadline) * 1000)
        for k, (track, _) in enumerate(tracks):
            frame = track[i * FRAME : (i + 1) * FRAME]
            if len(frame) == FRAME:
                recognizer.feed_frame("bench", f"speaker-{k}", frame)
    wall = time.time() - wall0
    parent_cpu = time.process_time() - parent_before
    await asyncio.to_thread(recognizer.flush, within=120)
    await asyncio.sleep(0.2)
    stats = recognizer.stats()
    await asyncio.to_thread(recognizer.close)

    finals = [(arrived, c) for arrived, c in captions if c.is_final and c.text]
    sentences: list[dict[str, Any]] = []
    for k, (_, windows) in enumerate(tracks):
        own = [c for _, c in finals if c.speaker_id == f"speaker-{k}"]
        for idx, start, end in windows:
            hyp = said_in(own, start, end, origin=wall0)
            sentences.append({"speaker": k, "ref": SENTENCES[idx], "hyp": hyp, "start": start})
    latency = [arrived - c.ended_at for arrived, c in finals]
    partials = [(arrived, c) for arrived, c in captions if not c.is_final]
    first_partial: dict[tuple[Any, int], float] = {}
    for arrived, c in partials:
        first_partial.setdefault((c.speaker_id, c.utterance), arrived - c.started_at)
    audio_seconds = n_frames * FRAME / RATE
    decoded = float(stats.get("decoded_seconds", 0.0))
    engine_cpu = stats.get("cpu_seconds", 0.0) - cpu_before
    if mode == "thread":  # one process: its CPU is the loop's and the recogniser's together
        engine_cpu = parent_cpu
    return {
        "engine": engine,
        "mode": mode,
        "speakers": speakers,
        "noise_snr_db": snr_db,
        "noise_suppression": denoise,
        "audio_seconds_per_speaker": round(audio_seconds, 2),
        "wall_seconds": round(wall, 2),
        "wer": round(word_error_rate([(s["ref"], s["hyp"]) for s in sentences]), 3),
        "rtf_cpu": round(engine_cpu / wall, 3),
        "rtf_cpu_per_speaker": round(engine_cpu / wall / speakers, 3),
        "cpu_per_talking_second": round(engine_cpu / decoded, 3) if decoded else None,
        "parent_cpu_share": round(parent_cpu / wall, 3),
        "loop_late_ms": percentiles(late),
        "final_latency_s": percentiles(latency),
        "partials": len(partials),
        "partial_latency_s": percentiles([arrived - c.ended_at for arrived, c in partials]),
        "first_partial_s": percentiles(list(first_partial.values())),
        "loadavg_before": [round(x, 2) for x in loadavg_before],
        "decoded_seconds": round(float(stats.get("decoded_seconds", 0.0)), 2),
        "finals": len(finals),
        "dropped": stats["frames_dropped"],
        "sentences": sentences,
    }


def offline(
    speech: list[npt.NDArray[np.int16]],
    *,
    engine: str,
    snr_db: float | None,
    denoise: bool,
    seeds: list[int],
) -> dict[str, Any]:
    """The error rate over many noise draws: each stream of a 3-speaker run (sentences from 0,
    3 and 6), per seed, fed straight to the segmenter as fast as it decodes, one at a time.

    Finals do not depend on the pace (partials do, and are not scored), so this reads what the
    live run reads without waiting for real time; with ~65 words per stream, one run's error
    rate moves by 0.02-0.1 with the noise draw alone, and a mean over several is what can tell
    two designs apart."""
    factory = engine_factory(engine)
    pairs: list[tuple[str, str]] = []
    power = mean_power(speech)
    cpu0 = time.process_time()
    for seed in seeds if snr_db is not None else seeds[:1]:
        for k in range(3):
            track, windows = schedule(speech, first=3 * k)
            if snr_db is not None:
                track = with_noise(track, power, snr_db, seed=seed * 100 + k)
            captions: list[Caption] = []
            seg = Segmenter(factory, VadConfig(), captions.append, denoise=denoise)
            for i in range(len(track) // FRAME):
                pcm = track[i * FRAME : (i + 1) * FRAME].tobytes()
                seg.audio("bench", k, (i + 1) * FRAME / RATE, pcm)
            seg.flush()
            seg.close()
            finals = [c for c in captions if c.is_final and c.text]
            pairs += [(SENTENCES[i], said_in(finals, start, end)) for i, start, end in windows]
    return {
        "engine": engine,
        "mode": "offline",
        "noise_snr_db": snr_db,
        "noise_suppression": denoise,
        "seeds": seeds if snr_db is not None else seeds[:1],
        "streams": len(pairs) // len(SENTENCES),
        "words": sum(len(normalise(ref)) for ref, _ in pairs),
        "wer": round(word_error_rate(pairs), 3),
        "cpu_seconds": round(time.process_time() - cpu0, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--presets",
        nargs="+",
        default=None,
        help="engine names to measure (default: the default engine, then pocketsphinx)",
    )
    parser.add_argument(
        "--snr",
        nargs="*",
        type=float,
        default=[10.0],
        help="also run with noise at these SNRs in dB (none given: clean speech only)",
    )
    parser.add_argument("--speakers", nargs="+", type=int, default=[1, 3])
    parser.add_argument(
        "--denoise",
        choices=("both", "on", "off"),
        default="both",
        help="captions' noise suppression (RNNoise before recognition): each run with it on "
        "(the product's default) and off, or only one",
    )
    parser.add_argument(
        "--thread-mode", action="store_true", help="also run 3 speakers with mode='thread'"
    )
    parser.add_argument(
        "--offline",
        nargs="+",
        type=int,
        metavar="SEED",
        help="instead of the live runs, the error rate alone over these noise seeds: the three "
        "streams of a 3-speaker run, each fed to the segmenter as fast as it decodes",
    )
    parser.add_argument(
        "--final-beam",
        nargs="+",
        type=int,
        metavar="BEAM",
        help="each run once per beam for utterances' finals (CAPTIONS_FINAL_BEAM; default: the "
        "configured one, 5): `--final-beam 1 5` sets greedy finals beside the default",
    )
    args = parser.parse_args()
    beams = args.final_beam or [configured_final_beam()]
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        sys.exit("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        speech = [synthesize(espeak, text, Path(tmp)) for text in SENTENCES]

    presets = args.presets or list(dict.fromkeys([default_engine_name(), FALLBACK_ENGINE]))
    noises: list[float | None] = [None, *args.snr]
    denoising = {"both": [True, False], "on": [True], "off": [False]}[args.denoise]
    if args.offline:
        runs = []
        for engine in presets:
            for snr in noises:
                for denoise in denoising:
                    for beam in beams:
                        os.environ["CAPTIONS_FINAL_BEAM"] = str(beam)
                        runs.append(
                            {
                                "final_beam": beam,
                                **offline(
                                    speech,
                                    engine=engine,
                                    snr_db=snr,
                                    denoise=denoise,
                                    seeds=args.offline,
                                ),
                            }
                        )
                        if not args.json:
                            print("  ", json.dumps(runs[-1]), flush=True)
        if args.json:
            print(json.dumps({"runs": runs}, indent=2))
        return
    plan = [
        (engine, n, "process", snr, denoise, beam)
        for engine in presets
        for snr in noises
        for n in args.speakers
        for denoise in denoising
        for beam in beams
    ]
    if args.thread_mode:
        plan.append((presets[0], max(args.speakers), "thread", None, denoising[0], beams[0]))
    results = []
    for engine, n, mode, snr, denoise, beam in plan:
        if not args.json:
            noise = "clean" if snr is None else f"noise {snr:g} dB SNR"
            noise += ", suppressed" if denoise else ""
            print(f"== {engine}, {n} speaker(s), mode={mode}, {noise}, beam {beam} ...", flush=True)
        os.environ["CAPTIONS_FINAL_BEAM"] = str(beam)
        result = asyncio.run(
            run(speech, engine=engine, speakers=n, mode=mode, snr_db=snr, denoise=denoise)
        )
        results.append({"final_beam": beam, **result})
        if not args.json:
            if n == 1:
                for s in result["sentences"]:
                    print(f"   REF {s['ref']}\n   HYP {s['hyp']}")
            summary = {k: v for k, v in result.items() if k != "sentences"}
            print("  ", json.dumps(summary))
    machine = {
        "cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "loadavg_after": os.getloadavg(),
    }
    if args.json:
        print(json.dumps({"machine": machine, "runs": results}, indent=2))
    else:
        print("machine:", json.dumps(machine))


if __name__ == "__main__":
    main()
