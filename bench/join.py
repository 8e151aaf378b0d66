"""Join benchmark: offer-to-connected time at a steady join rate, into a live Space.

    python -m bench.join --joins 100 --rate 20 --json

The media worker runs in its own process pinned to core 0 (as in ``bench.media_fanout``), with
one speaker talking. This process (core 1) starts a listener join every 1/rate seconds, at most
``--joins`` of them, and every joined listener stays connected and receiving. Per join:

- ``offer_to_connected``: from handing the offer to signaling to the client's RTCPeerConnection
  reporting "connected" (answer, ICE checks, DTLS handshake; what the goal is about);
- ``total``: the same plus creating the offer (client-side candidate gathering);
- ``answer``: time the worker spent in ``MediaWorker.join`` (parse, gather, answer).

Also reported: worker CPU per join, and the delay the joins added to the live audio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.media_fanout import (
    CLIENT_CORE,
    SPACE,
    WORKER_CORE,
    WorkerProcess,
    log,
    machine,
    pin_this_process,
)
from media.client import EncodedToneTrack, MediaClient
from media.ice import restrict_host_addresses


def _pct(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    restrict_host_addresses(["127.0.0.1"])
    pin_this_process(CLIENT_CORE)
    info = machine()
    worker = WorkerProcess("direct", core=WORKER_CORE, lifetime=120 + args.joins / args.rate)
    clients: list[MediaClient] = []
    offer_to_connected: list[float] = []
    totals: list[float] = []
    answers: list[float] = []
    failures: list[str] = []
    try:
        speaker = MediaClient(
            worker.exchange("speaker0", "speaker"), send=EncodedToneTrack(440), receive="none"
        )
        clients.append(speaker)
        await speaker.connect()
        await asyncio.sleep(1.0)

        await worker.call("reset")
        await asyncio.sleep(1.0)
        idle = await worker.call("stats")
        idle_cpu_rate = idle["cpu"] / idle["wall"]
        await worker.call("reset")

        async def one(i: int) -> None:
            user = f"listener{i}"

            async def exchange(offer: str) -> str:
                response = await worker.call(
                    "join", space=SPACE, user=user, role="listener", sdp=offer
                )
                answers.append(float(response["answer_ms"]))
                return str(response["sdp"])

            client = MediaClient(exchange, sendrecv=False, receive="count", name=user)
            clients.append(client)
            started = time.perf_counter()
            try:
                seconds = await client.connect(within=args.timeout)
            except Exception as exc:
                failures.append(f"{user}: {type(exc).__name__} {exc}")
                return
            totals.append((time.perf_counter() - started) * 1000)
            offer_to_connected.append(seconds * 1000)

        tasks = []
        for i in range(args.joins):
            tasks.append(asyncio.ensure_future(one(i)))
            await asyncio.sleep(1.0 / args.rate)
        await asyncio.gather(*tasks)
        during = await worker.call("stats")
        worker_cpu_per_join_ms = (
            (during["cpu"] - idle_cpu_rate * during["wall"]) / max(1, len(totals)) * 1000
        )
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        await worker.stop()
    info["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return {
        "benchmark": "join",
        "machine": info,
        "joins": args.joins,
        "rate_per_s": args.rate,
        "connected": len(offer_to_connected),
        "failures": failures[:5],
        "offer_to_connected_ms": {
            "p50": _pct(offer_to_connected, 50),
            "p95": _pct(offer_to_connected, 95),
            "max": _pct(offer_to_connected, 100),
        },
        "total_with_offer_ms": {"p50": _pct(totals, 50), "p95": _pct(totals, 95)},
        "worker_answer_ms": {"p50": _pct(answers, 50), "p95": _pct(answers, 95)},
        "worker_cpu_ms_per_join": round(worker_cpu_per_join_ms, 2),
        "audio_during_joins": {
            "p99_added_ms": during["delay_ms"].get("p99"),
            "max_added_ms": during["delay_ms"].get("max"),
            "skipped_ticks": during.get("skipped_ticks"),
        },
        # CPU the worker actually got, and how often the OS took its core away (a busy box).
        "worker_cpu_share": round(during["cpu"] / during["wall"], 3),
        "worker_preempted": during.get("involuntary_switches"),
        "worker_runqueue_wait_share": round(during.get("runqueue_wait", 0) / during["wall"], 3),
    }


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--joins", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0, help="joins per second")
    parser.add_argument("--timeout", type=float, default=15.0, help="per join, seconds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not 0 < args.joins <= 2000 or not 0 < args.rate <= 200:
        parser.error("--joins must be in 1..2000 and --rate in (0, 200]")
    return args


def cli(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    budget = 120 + args.joins / args.rate + args.timeout
    result = asyncio.run(asyncio.wait_for(run(args), budget))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        o = result["offer_to_connected_ms"]
        log(
            f"{result['connected']}/{result['joins']} joins at {result['rate_per_s']}/s: "
            f"offer-to-connected p50 {o['p50']} ms, p95 {o['p95']} ms, max {o['max']} ms"
        )


if __name__ == "__main__":
    cli()
