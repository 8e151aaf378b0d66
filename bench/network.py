"""Audio over impaired networks: PESQ-WB, delivery and delay, protection off vs on, one run.

    sudo .venv/bin/python -m bench.network --json            # full profile (~10 min)
    sudo .venv/bin/python -m bench.network --quick --json    # 0 % and 5 % random only

Method (``bench.netlab``): an origin in one network namespace, a speaker and a listener each in
their own, all through a router namespace that impairs both legs (speaker→origin and
origin→listener) with the same profile. The speaker sends ~15 s of espeak-ng speech (16 kHz,
resampled to 48 kHz, Opus with in-band FEC as a browser sends it); the listener's packets are
decoded as a browser would (fixed playout deadline, FEC or concealment for gaps), aligned to the
speech by cross-correlation and scored with PESQ wide-band (``pesq``). Every profile runs with
protection off, with in-band FEC only (``MediaConfig.opus_fec`` + ``speaker_fec``), with FEC
and RED (``red_distance`` 2 from the origin, 1 from a speaker whose packets are lost, as
Chromium sends it, at 48 kb/s: the product's defaults, ``red2+up48k``), the same with the
lossy speaker left at 32 kb/s (``red2``), and with RED to the listener only
(``red_from_speakers`` off: ``red2down``), back to back, in the same run.

Row keys: ``loss_pct``, ``burst``, ``protection``, ``pesq_wb``, ``delivery_ratio`` (packets the
listener received / sent by the origin), ``added_delay_p95_ms`` (p95 of the one-way delay from
the speaker's send to the listener's arrival, minus the lowest such delay of the clean row of
this run), ``ice_restart_gap_s`` and ``turn_tcp_join_s`` (from ``bench.network_paths.measure``,
once per run, null when it is absent or fails). Needs root, ip, nft, espeak-ng, libopus.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.netlab import (
    FEC,
    OFF,
    RED,
    RED_32K,
    RED_DOWN,
    Impairment,
    Protection,
    Result,
    lab_or_skip,
    missing_tools,
    run_profile,
    speech_16k,
)

FULL: list[tuple[str, Impairment]] = [
    ("clean", Impairment()),
    *[(f"random {n}%", Impairment(loss_pct=n)) for n in (2, 5, 10)],
    *[(f"bursty {n}%", Impairment(loss_pct=n, burst=True)) for n in (2, 5, 10)],
    ("250 ms RTT, jitter, reorder", Impairment(delay_ms=125, jitter_ms=20, reorder_pct=2)),
    ("64 kbit/s", Impairment(rate_kbit=64)),
]
QUICK = [FULL[0], FULL[2]]


def paths_figures() -> dict[str, float | None]:
    """The ``paths`` task's ICE-restart and TURN-over-TCP figures, measured once per run."""
    try:
        from bench import network_paths

        measure = network_paths.measure
    except (ImportError, AttributeError) as exc:
        print(f"bench.network_paths.measure is not available ({exc}): null", file=sys.stderr)
        return {"ice_restart_gap_s": None, "turn_tcp_join_s": None}
    try:
        found = measure()
        return {k: found.get(k) for k in ("ice_restart_gap_s", "turn_tcp_join_s")}
    except Exception as exc:
        print(f"bench.network_paths.measure failed ({exc}): null", file=sys.stderr)
        return {"ice_restart_gap_s": None, "turn_tcp_join_s": None}


def merge(results: list[Result]) -> Result:
    """Medians of the rounds' PESQ and delivery; every round's delays pooled."""
    return Result(
        pesq_wb=float(np.median([r.pesq_wb for r in results])),
        delivery_ratio=float(np.median([r.delivery_ratio for r in results])),
        delays_ms=[d for r in results for d in r.delays_ms],
        packets=sum(r.packets for r in results),
        payload_kbps=float(np.median([r.payload_kbps for r in results])),
    )


def row(
    imp: Impairment, prot: Protection, result: Result, floor_ms: float, paths: dict[str, Any]
) -> dict[str, Any]:
    p95 = float(np.percentile(result.delays_ms, 95)) if result.delays_ms else float("nan")
    return {
        "loss_pct": imp.loss_pct,
        "burst": imp.burst,
        "protection": prot.label,
        "pesq_wb": round(result.pesq_wb, 2),
        "delivery_ratio": round(result.delivery_ratio, 3),
        "added_delay_p95_ms": round(p95 - floor_ms, 1),
        "ice_restart_gap_s": paths["ice_restart_gap_s"],
        "turn_tcp_join_s": paths["turn_tcp_join_s"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--quick", action="store_true", help="0 %% and 5 %% random loss only")
    parser.add_argument("--no-paths", action="store_true", help="skip bench.network_paths")
    parser.add_argument(
        "--bitrate",
        type=int,
        default=None,
        help="the origin's Opus bit rate (MEDIA_OPUS_BITRATE) in every row; default: the product's",
    )
    parser.add_argument(
        "--dtx", action="store_true", help="also the defaults with DTX on (MEDIA_OPUS_DTX)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds over all profiles; rows give medians"
    )
    args = parser.parse_args(argv)
    missing = missing_tools()
    if missing:
        print(f"cannot run: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    profiles = QUICK if args.quick else FULL
    protections = [OFF, FEC, RED, RED_32K, RED_DOWN]
    if args.dtx:
        protections.append(replace(RED, opus_dtx=True))
    if args.bitrate is not None:
        protections = [replace(p, bitrate=args.bitrate) for p in protections]
    load_start = [round(x, 2) for x in os.getloadavg()]
    started = time.monotonic()
    speech = speech_16k()
    runs: dict[tuple[int, str], list[Result]] = {}
    with lab_or_skip() as lab:
        # Whole rounds, off and on back to back: a load change on this shared box hits both.
        for _ in range(max(1, args.repeat)):
            for i, (name, imp) in enumerate(profiles):
                for prot in protections:
                    result = run_profile(lab, imp, prot, speech)
                    runs.setdefault((i, prot.label), []).append(result)
                    print(
                        f"{name:>30} {prot.label:>16}: PESQ-WB {result.pesq_wb:.2f}, "
                        f"delivery {result.delivery_ratio:.3f}, "
                        f"payload {result.payload_kbps:.1f} kb/s, load {os.getloadavg()[0]:.2f}",
                        file=sys.stderr,
                        flush=True,
                    )
    results = [
        (name, imp, prot, merge(runs[(i, prot.label)]))
        for i, (name, imp) in enumerate(profiles)
        for prot in protections
    ]
    paths = (
        {"ice_restart_gap_s": None, "turn_tcp_join_s": None} if args.no_paths else paths_figures()
    )
    clean = [r for name, _, _, r in results if name == "clean" and r.delays_ms]
    floor = min((min(r.delays_ms) for r in clean), default=0.0)
    rows = [row(imp, prot, r, floor, paths) for _, imp, prot, r in results]
    profile_names = [name for name, _, _, _ in results]
    doc = {
        "rows": rows,
        "profiles": profile_names,
        "delay_floor_ms": round(floor, 1),
        # Beside the rows (their keys are issue 23's): the RTP payload each listener received.
        "payload_kbps": [round(r.payload_kbps, 1) for _, _, _, r in results],
        "loadavg_start": load_start,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "seconds": round(time.monotonic() - started, 1),
    }
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        for name, r in zip(profile_names, rows, strict=True):
            print(f"{name:>30} {json.dumps(r)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
