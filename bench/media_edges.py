"""Edge benchmark: a listener packet through an edge worker (mix over Redis pub/sub) vs the origin.

    REDIS_URL=redis://127.0.0.1:6379/12 python -m bench.media_edges --listeners 100,200 --json

Same method and measures as ``bench.media_fanout`` (whose process and client helpers it uses):
thin listeners (real ICE, DTLS, SRTP; RTP counted at the socket) in this process on core 1, the
measured worker in its own process on core 0, fixed windows per N. Two set-ups in one run:

- ``origin``: the listeners on the Space's origin (what ``media_fanout`` measures);
- ``edge``: the speaker on an origin process (core 1, no listeners) that publishes each encoded
  mix packet on a Redis channel (``media.edge.MixPublisher``); the listeners on an edge process
  (core 0) subscribed to it, relaying with ``MediaWorker.relay`` (the same direct fan-out).

Per window: ``us_per_packet`` (measured worker's CPU per delivered listener packet),
``delivery_ratio``, and ``p50/p99_added_ms``: from the origin's tick deadline to the measured
worker's ``sendto`` (for the edge, the whole hop: origin publish, Redis, edge receive and fan-out;
the clocks are the same host's). Also ``publish``: the origin's CPU per published packet (a
burst of ``--publishes`` sequential publishes with one subscriber, timed in this process).
Everything is on 127.0.0.1 and bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aioredis

from bench.media_fanout import (
    CLIENT_CORE,
    LOOPBACK,
    SPACE,
    WORKER_CORE,
    DirectServer,
    WorkerProcess,
    join_all,
    log,
    machine,
    measure,
    pick_least_contended,
    pin_this_process,
    serve_control,
)
from media.client import EncodedToneTrack, MediaClient
from media.edge import MixPacket, MixPublisher
from media.ice import restrict_host_addresses


def default_redis_url() -> str:
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def mix_channel() -> str:
    """This run's channel (the processes it spawns are given it)."""
    return f"bench:media-edges:{os.getpid()}:mix"


# -- the worker processes -----------------------------------------------------------------------


class EdgeBenchServer(DirectServer):
    """DirectServer as an origin that publishes its mix, or as an edge that relays it."""

    def __init__(self, mode: str, redis_url: str, channel: str) -> None:
        super().__init__()
        self.mode = mode
        self.channel = channel
        self.redis = aioredis.Redis.from_url(redis_url)
        self.pubsub: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.relayed = 0
        if mode == "publisher":
            self.publisher = MixPublisher(self._publish)
            self.worker.publisher = self.publisher

    async def _publish(self, space_id: Any, message: bytes) -> int:
        return int(await self.redis.publish(self.channel, message))

    async def start(self) -> dict[str, Any]:
        if self.mode == "publisher":
            self.publisher.want(SPACE)
        elif self.mode == "edge":
            self.pubsub = self.redis.pubsub()
            await self.pubsub.subscribe(self.channel)
            self.reader = asyncio.ensure_future(self._read())
        return {}

    async def _read(self) -> None:
        while True:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            relayed = message is not None and message.get("type") == "message"
            if relayed and self.worker.relay(SPACE, MixPacket.loads(message["data"])):
                self.relayed += 1

    async def join(self, space: str, user: str, role: str, sdp: str) -> dict[str, Any]:
        started = time.perf_counter()
        answer = await self.worker.join(space, user, role, sdp, edge=self.mode == "edge")
        return {"sdp": answer, "answer_ms": (time.perf_counter() - started) * 1000}

    async def stats(self) -> dict[str, Any]:
        found = await super().stats()
        found["relayed"] = self.relayed
        if self.mode == "publisher":
            found["published"] = self.publisher.published
            found["publish_dropped"] = self.publisher.dropped
        return found

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)
        if self.mode == "publisher":
            await self.publisher.close()
        await super().close()
        with contextlib.suppress(Exception):
            await self.redis.aclose()


def edge_worker_main(
    mode: str, core: int | None, pipe: Connection, lifetime: float, redis_url: str, channel: str
) -> None:
    if core is not None and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {core})
    asyncio.run(_serve(mode, pipe, lifetime, redis_url, channel))


async def _serve(
    mode: str, pipe: Connection, lifetime: float, redis_url: str, channel: str
) -> None:
    restrict_host_addresses([LOOPBACK])
    await serve_control(EdgeBenchServer(mode, redis_url, channel), pipe, lifetime)


class BenchProcess(WorkerProcess):
    """media_fanout's worker process, running an EdgeBenchServer."""

    def __init__(
        self, mode: str, *, core: int | None, lifetime: float, redis_url: str, channel: str
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self.process = ctx.Process(
            target=edge_worker_main,
            args=(mode, core, child, lifetime, redis_url, channel),
            daemon=True,
        )
        self.process.start()
        if not parent.poll(30):
            self.process.kill()
            raise RuntimeError(f"the {mode} process did not start")
        self.port = parent.recv()


# -- the runs -----------------------------------------------------------------------------------


async def run(args: argparse.Namespace, sizes: list[int], setup: str) -> list[dict[str, Any]]:
    lifetime = 120 + len(sizes) * args.repeat * (args.seconds + 5) + max(sizes) / 10
    channel = mix_channel()
    processes: list[BenchProcess] = []
    clients: list[MediaClient] = []
    rows = []
    try:
        if setup == "edge":
            origin = BenchProcess(
                "publisher",
                core=CLIENT_CORE,
                lifetime=lifetime,
                redis_url=args.redis_url,
                channel=channel,
            )
            measured = BenchProcess(
                "edge",
                core=WORKER_CORE,
                lifetime=lifetime,
                redis_url=args.redis_url,
                channel=channel,
            )
            processes += [origin, measured]
            await measured.call("start")  # subscribed before the origin publishes
            await origin.call("start")
        else:
            origin = measured = BenchProcess(
                "origin",
                core=WORKER_CORE,
                lifetime=lifetime,
                redis_url=args.redis_url,
                channel=channel,
            )
            processes.append(origin)
        speaker = MediaClient(
            origin.exchange("speaker0", "speaker"),
            send=EncodedToneTrack(440),
            receive="count",
            name="speaker0",
        )
        clients.append(speaker)
        await speaker.connect(within=20)
        listeners: list[MediaClient] = []
        join_failures = 0
        for n in sizes:
            new = [
                MediaClient(
                    measured.exchange(f"listener{i}", "listener"),
                    sendrecv=False,
                    receive="count",
                    name=f"listener{i}",
                )
                for i in range(len(listeners), n)
            ]
            clients += new
            connected, failed = await join_all(new, rate=args.join_rate)
            listeners += connected
            join_failures += len(failed)
            windows = []
            for _ in range(args.repeat):
                before = await origin.call("stats") if setup == "edge" else {}
                window = await measure(measured, listeners, args.seconds)
                if setup == "edge":
                    after = await origin.call("stats")
                    for key in ("published", "publish_dropped"):
                        window[f"origin_{key}"] = after.get(key, 0) - before.get(key, 0)
                log(f"{setup} N={n}: {window}")
                windows.append(window)
            row = pick_least_contended(windows)
            row["setup"] = setup
            row["join_failures"] = join_failures
            row["listeners_requested"] = n
            rows.append(row)
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        for process in processes:
            await process.stop()
    return rows


async def publish_cost(args: argparse.Namespace) -> dict[str, Any]:
    """CPU of this process per published mix packet (75-byte payload), one subscriber."""
    redis = aioredis.Redis.from_url(args.redis_url)
    listener = aioredis.Redis.from_url(args.redis_url).pubsub()
    channel = mix_channel() + ":cost"
    try:
        await listener.subscribe(channel)
        done = asyncio.Event()
        sent = [0]

        async def publish(_space: Any, message: bytes) -> int:
            receivers = int(await redis.publish(channel, message))
            sent[0] += 1
            if sent[0] % 32 == 0:
                done.set()
            return receivers

        publisher = MixPublisher(publish)
        publisher.want(SPACE)
        payload = bytes(75)
        n = args.publishes - args.publishes % 32 or 32
        for i in range(50):  # warm up the connection
            await redis.publish(channel, MixPacket(1, i, 0, time.time(), payload).dumps())
        cpu0, wall0 = time.process_time(), time.perf_counter()
        # In batches of 32, as if 32 Spaces ticked at once (the queue holds 64).
        for batch in range(0, n, 32):
            for i in range(batch, batch + 32):
                publisher.offer(SPACE, MixPacket(1, i, 0, time.time(), payload))
            done.clear()
            await asyncio.wait_for(done.wait(), 10)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        await publisher.close()
        return {
            "packets": n,
            "cpu_us_per_packet": round(cpu / n * 1e6, 1),
            "wall_us_per_packet": round(wall / n * 1e6, 1),
            "message_bytes": len(MixPacket(1, 0, 0, 0.0, payload).dumps()),
        }
    finally:
        with contextlib.suppress(Exception):
            await listener.aclose()
        await redis.aclose()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    restrict_host_addresses([LOOPBACK])
    pin_this_process(CLIENT_CORE)
    sizes = sorted({int(x) for x in args.listeners.split(",") if x.strip()})
    info = machine()
    cost = await publish_cost(args)
    log(f"publish: {cost}")
    rows = await run(args, sizes, "origin") + await run(args, sizes, "edge")
    info["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return {
        "benchmark": "media_edges",
        "machine": info,
        "seconds": args.seconds,
        "publish": cost,
        "results": rows,
    }


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", default="50,100,200", help="comma-separated N")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per N")
    parser.add_argument("--join-rate", type=float, default=40.0, help="joins per second")
    parser.add_argument("--repeat", type=int, default=1, help="windows per N (least contended)")
    parser.add_argument("--publishes", type=int, default=5000, help="burst for the publish cost")
    parser.add_argument("--redis-url", default=default_redis_url())
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.seconds > 600:
        parser.error("--seconds must be in (0, 600]")
    if not 1 <= args.repeat <= 10:
        parser.error("--repeat must be in 1..10")
    if not 1 <= args.publishes <= 100_000:
        parser.error("--publishes must be in 1..100000")
    return args


def cli(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    sizes = [int(x) for x in args.listeners.split(",") if x.strip()]
    budget = 300 + 2 * len(sizes) * args.repeat * (args.seconds + 5) + max(sizes) / 2
    result = asyncio.run(asyncio.wait_for(main(args), budget))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"publish: {result['publish']}")
        for row in result["results"]:
            print(
                f"{row['setup']:6s} N={row['listeners']:4d}  {row['us_per_packet']} us/packet  "
                f"delivery {row['delivery_ratio']:.4f}  p50/p99 added "
                f"{row['p50_added_ms']}/{row['p99_added_ms']} ms"
            )


if __name__ == "__main__":
    cli()
