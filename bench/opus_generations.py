"""The origin's encoder settings, offline: what a listener hears through two Opus generations.

    .venv/bin/python -m bench.opus_generations            # ~3 minutes; a table
    .venv/bin/python -m bench.opus_generations --json     # the same figures as JSON

Needs espeak-ng (Debian), libopus and ``pesq`` (requirements-dev.txt); no root, no network.

Why offline: ``bench.network`` measures the real path (namespaces, aiortc, the worker), ~10
minutes a run, and its figures move with the machine's load. Choosing the origin's bit rate and
complexity needs the same comparison many times over; this runs the codec path alone, the same
for every setting, seconds per row.

Method: the ``bench.netlab`` speech (espeak-ng, 16 kHz, resampled to 48 kHz) is encoded as a
browser sends it (``bench.netlab.encode_talk``: 32 kb/s, complexity 10, in-band FEC sized for
the loss). Leg one drops packets at random with ``loss_pct`` (numpy, fixed seeds); the origin's
decoder (``media.dsp.FecDecoder``) plays a received packet, rebuilds a lost one from the next
packet's FEC when that arrived, else conceals. That audio is encoded again by the origin's
encoder (``media.dsp.LibOpusEncoder``) at the row's ``bitrate`` and ``complexity``, FEC on and
sized for the loss as the origin does from receiver reports; leg two drops and recovers the same
way; PESQ wide band scores the result against the speech, aligned by cross-correlation. The
baseline in the same run is the product's earlier setting, 32 kb/s at complexity 5.
``pesq_wb`` is the mean over ``--seeds`` loss patterns. ``encode_us_per_frame``: process time of
one 20 ms encode at that setting (noise-like input, the costliest), the origin's cost per
encoder per tick.

What it leaves out: network delay and jitter (no playout deadline: nothing arrives late), the
origin's jitter buffer and the mix of several speakers; ``bench.network`` has those.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import numpy.typing as npt

from bench.netlab import LEAD_S, _resample, encode_talk, speech_16k
from media.dsp import FRAME_SAMPLES, FecDecoder, LibOpusEncoder

BASELINE = (32_000, 5)
SETTINGS = [BASELINE, (32_000, 10), (48_000, 5), (48_000, 10), (64_000, 10)]
LOSSES = [0, 2, 5, 10]


def through_leg(
    packets: list[bytes], loss_pct: float, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    """The packets after random loss, decoded as the origin (and a browser) does."""
    lost = rng.random(len(packets)) < loss_pct / 100
    decoder = FecDecoder(fec=True)
    out = []
    for i, packet in enumerate(packets):
        if not lost[i]:
            out.append(decoder.decode(packet))
        elif i + 1 < len(packets) and not lost[i + 1]:
            out.append(decoder.decode(packets[i + 1], fec=True))
        else:
            out.append(decoder.decode(None))
    return np.concatenate(out)


def to_int16(pcm: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    return np.clip(pcm, -32768, 32767).astype(np.int16)


def score(heard48: npt.NDArray[np.float32], speech16: npt.NDArray[np.int16]) -> float:
    from pesq import pesq

    heard = _resample(to_int16(heard48), 48_000, 16_000).astype(np.float32)
    ref = speech16.astype(np.float32)
    lead = round(LEAD_S * 16_000)
    # The codec's look-ahead and the resampler shift the speech by a few ms: find it.
    shifts = range(0, 480, 2)
    best = max(shifts, key=lambda d: float(np.dot(heard[lead + d : lead + d + len(ref)], ref)))
    degraded = heard[lead + best : lead + best + len(ref)]
    return float(pesq(16_000, ref[: len(degraded)], degraded, "wb"))


def two_generations(
    speech16: npt.NDArray[np.int16], loss_pct: int, bitrate: int, complexity: int, seed: int
) -> float:
    rng = np.random.default_rng(seed)
    mixed = to_int16(through_leg(encode_talk(speech16, loss_pct), loss_pct, rng))
    encoder = LibOpusEncoder(bitrate=bitrate, complexity=complexity, fec=True, packet_loss=loss_pct)
    usable = len(mixed) - len(mixed) % FRAME_SAMPLES
    down = [
        encoder.encode(mixed[i : i + FRAME_SAMPLES])[0] for i in range(0, usable, FRAME_SAMPLES)
    ]
    return score(through_leg(down, loss_pct, rng), speech16)


def encode_cost_us(bitrate: int, complexity: int, frames: int = 500) -> float:
    pcm = (np.random.default_rng(0).standard_normal(FRAME_SAMPLES * frames) * 3000).astype(np.int16)
    encoder = LibOpusEncoder(bitrate=bitrate, complexity=complexity, fec=True, packet_loss=5)
    started = time.process_time()
    for i in range(frames):
        encoder.encode(pcm[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES])
    return (time.process_time() - started) / frames * 1e6


def run(seeds: int) -> dict[str, Any]:
    speech16 = speech_16k()
    rows = []
    for bitrate, complexity in SETTINGS:
        cost = encode_cost_us(bitrate, complexity)
        for loss in LOSSES:
            scores = [
                two_generations(speech16, loss, bitrate, complexity, seed)
                for seed in range(1, seeds + 1)
            ]
            rows.append(
                {
                    "bitrate": bitrate,
                    "complexity": complexity,
                    "baseline": (bitrate, complexity) == BASELINE,
                    "loss_pct": loss,
                    "pesq_wb": round(float(np.mean(scores)), 3),
                    "encode_us_per_frame": round(cost, 1),
                }
            )
    return {
        "bench": "opus_generations",
        "machine": platform.machine(),
        "seeds": seeds,
        "speech_s": round(len(speech16) / 16_000, 1),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--seeds", type=int, default=3, help="loss patterns per row (mean)")
    args = parser.parse_args()
    result = run(max(1, args.seeds))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'bitrate':>8} {'cx':>3} {'loss %':>6} {'PESQ-WB':>8} {'µs/frame':>9}")
    for r in result["rows"]:
        mark = "  (baseline)" if r["baseline"] else ""
        print(
            f"{r['bitrate']:>8} {r['complexity']:>3} {r['loss_pct']:>6} {r['pesq_wb']:>8.2f}"
            f" {r['encode_us_per_frame']:>9.0f}{mark}"
        )


if __name__ == "__main__":
    main()
