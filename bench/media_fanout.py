"""Fan-out benchmark: worker CPU per delivered listener packet, delivery, delay added at the worker.

    python -m bench.media_fanout --listeners 100,200,400 --seconds 10 --speakers 1 --json

The media worker runs in its own process pinned to core 0; thin listener peers (real ICE, DTLS
and SRTP; RTP counted at the socket, none decoded) and the speakers run in this process, pinned
to core 1. Signaling goes over a loopback TCP control connection. For each N (ascending, the
same peers reused) the run measures a fixed window:

- ``us_per_packet``: worker process CPU time (all threads: mix, encode, decode, fan-out, RTCP,
  ICE/DTLS upkeep) per listener packet delivered in the window;
- ``delivery_ratio``: packets received / packets due (one per 20 ms tick per listener; a gap
  in sequence numbers or a missing tail counts as lost);
- ``p99_added_ms``: inside the worker, from each mix tick's scheduled time to the return of
  the last listener's ``sendto`` of that tick (an upper bound for every packet of the tick).

In the same run the naive aiortc path (``MediaRelay.subscribe`` per listener: each listener's
``RTCRtpSender`` re-encodes Opus) is measured with a few listeners as ``baseline_*``, and
Janus's streaming plugin (``bench/janus.py``; Debian's ``janus``, pinned to the worker's core,
fed the same kind of Opus stream) with the same N and the same listener harness as
``janus_*``: ``janus_us_per_packet`` is its CPU per delivered listener packet, measured like
ours, and ``janus_over_ours`` the ratio. ``kernel`` says which fan-out kernel the worker ran
(``compiled`` or ``python``; ``MEDIA_FANOUT_KERNEL`` picks it, see ``media/fanout.py``).
Everything is on 127.0.0.1; every phase is bounded in count and time. ``BENCH_PROFILE=/tmp/p``
writes a cProfile of the worker process to ``/tmp/p.direct`` (or ``.naive``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import resource
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from media.client import EncodedToneTrack, MediaClient
from media.ice import restrict_host_addresses

LOOPBACK = "127.0.0.1"
WORKER_CORE = 0
CLIENT_CORE = 1
SPACE = "bench"
TICK = 0.02


# -- the worker process -------------------------------------------------------------------------


def worker_main(mode: str, core: int | None, pipe: Connection, lifetime: float) -> None:
    """Entry point of the worker process: pin, serve the control socket, exit by itself."""
    if core is not None and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {core})
    profile_to = os.environ.get("BENCH_PROFILE")
    if profile_to:
        import cProfile

        with cProfile.Profile() as profiler:
            asyncio.run(_serve(mode, pipe, lifetime))
        profiler.dump_stats(f"{profile_to}.{mode}")
    else:
        asyncio.run(_serve(mode, pipe, lifetime))


async def _serve(mode: str, pipe: Connection, lifetime: float) -> None:
    restrict_host_addresses([LOOPBACK])
    server: DirectServer | NaiveServer = DirectServer() if mode == "direct" else NaiveServer()
    await serve_control(server, pipe, lifetime)


async def serve_control(server: Any, pipe: Connection, lifetime: float) -> None:
    """Run `server`'s methods as JSON-line ops on a loopback control socket (its port goes up
    `pipe`) until `shutdown` or `lifetime` seconds, then close it."""
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(lifetime, stop.set)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = json.loads(await reader.readline())
            op = request.pop("op")
            if op == "shutdown":
                stop.set()
                response: dict[str, Any] = {}
            else:
                response = await getattr(server, op)(**request)
        except Exception as exc:
            response = {"error": f"{type(exc).__name__}: {exc}"}
        writer.write(json.dumps(response).encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    tcp = await asyncio.start_server(handle, LOOPBACK, 0)
    pipe.send(tcp.sockets[0].getsockname()[1])
    async with tcp:
        await stop.wait()
    await server.close()


def runqueue_wait_snapshot() -> dict[str, int]:
    """Per thread: nanoseconds spent runnable but waiting for a CPU (Linux schedstat)."""
    waits: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for task in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                waits[task] = int(Path(f"/proc/self/task/{task}/schedstat").read_text().split()[1])
    return waits


def runqueue_wait_since(before: dict[str, int]) -> float:
    """Seconds of run-queue wait since ``before``, counting threads that ended as gone."""
    now = runqueue_wait_snapshot()
    return sum(wait - before.get(task, 0) for task, wait in now.items()) / 1e9


class DirectServer:
    """The project's MediaWorker."""

    def __init__(self) -> None:
        from media.config import MediaConfig
        from media.worker import MediaWorker

        self.worker = MediaWorker(MediaConfig(host_addresses=(LOOPBACK,)))
        import gc

        self.gc_pauses: list[tuple[int, float]] = []
        self._rusage0 = resource.getrusage(resource.RUSAGE_SELF)
        self._wait0 = runqueue_wait_snapshot()
        started: list[float] = [0.0]

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                self.gc_pauses.append((info["generation"], time.perf_counter() - started[0]))

        gc.callbacks.append(on_gc)
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()

    async def join(self, space: str, user: str, role: str, sdp: str) -> dict[str, Any]:
        started = time.perf_counter()
        answer = await self.worker.join(space, user, role, sdp)
        return {"sdp": answer, "answer_ms": (time.perf_counter() - started) * 1000}

    async def reset(self) -> dict[str, Any]:
        self.worker.reset_stats()
        self.gc_pauses.clear()
        self._cpu0 = time.process_time()
        self._rusage0 = resource.getrusage(resource.RUSAGE_SELF)
        self._wait0 = runqueue_wait_snapshot()
        self._wall0 = time.perf_counter()
        return {}

    async def stats(self) -> dict[str, Any]:
        stats = self.worker.stats()
        space = stats["per_space"].get(SPACE, {})
        delay = space.get("delay_ms", {})
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "user_cpu": usage.ru_utime - self._rusage0.ru_utime,
            "system_cpu": usage.ru_stime - self._rusage0.ru_stime,
            "involuntary_switches": usage.ru_nivcsw - self._rusage0.ru_nivcsw,
            "runqueue_wait": runqueue_wait_since(self._wait0),
            "tick_last_ms": space.get("tick_last_ms", {}),
            "tick_start_ms": space.get("tick_start_ms", {}),
            "cpu": time.process_time() - self._cpu0,
            "wall": time.perf_counter() - self._wall0,
            "ticks": stats["ticks"],
            "skipped_ticks": stats["skipped_ticks"],
            "listener_packets": stats["listener_packets"],
            "dropped": stats["dropped"],
            "peers": stats["peers"],
            "kernel": stats.get("kernel"),
            "delay_ms": delay,
            "gc": {
                str(g): [
                    len([d for gg, d in self.gc_pauses if gg == g]),
                    round(max([d for gg, d in self.gc_pauses if gg == g], default=0) * 1000, 1),
                ]
                for g in (0, 1, 2)
            },
        }

    async def close(self) -> None:
        await self.worker.close()


class NaiveServer:
    """What aiortc's examples lead to: MediaRelay.subscribe per listener, encode per listener."""

    def __init__(self) -> None:
        from aiortc.contrib.media import MediaRelay

        self.relay = MediaRelay()
        self.source: Any = None
        self.pcs: list[Any] = []
        self.listener_pcs: list[Any] = []
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()
        self._sent0 = 0
        self._wait0: dict[str, int] = {}

    async def join(self, space: str, user: str, role: str, sdp: str) -> dict[str, Any]:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        from media.ice import rtc_configuration

        pc = RTCPeerConnection(rtc_configuration())
        self.pcs.append(pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        if role == "speaker":
            for transceiver in pc.getTransceivers():
                if transceiver.receiver.track is not None and self.source is None:
                    self.source = transceiver.receiver.track
        else:
            if self.source is None:
                raise RuntimeError("join a speaker first")
            # Unbuffered: a listener too slow to keep up skips frames instead of queueing them.
            pc.addTrack(self.relay.subscribe(self.source, buffered=False))
            self.listener_pcs.append(pc)
        await pc.setLocalDescription(await pc.createAnswer())
        return {"sdp": pc.localDescription.sdp}

    async def _sent(self) -> int:
        total = 0
        for pc in self.listener_pcs:
            for sender in pc.getSenders():
                for stat in (await sender.getStats()).values():
                    if stat.type == "outbound-rtp":
                        total += stat.packetsSent
        return total

    async def reset(self) -> dict[str, Any]:
        self._sent0 = await self._sent()
        self._cpu0 = time.process_time()
        self._wait0 = runqueue_wait_snapshot()
        self._wall0 = time.perf_counter()
        return {}

    async def stats(self) -> dict[str, Any]:
        cpu = time.process_time() - self._cpu0
        wall = time.perf_counter() - self._wall0
        return {
            "cpu": cpu,
            "wall": wall,
            "listener_packets": await self._sent() - self._sent0,
            "runqueue_wait": runqueue_wait_since(self._wait0),
            "peers": len(self.pcs),
            "delay_ms": {},
        }

    async def close(self) -> None:
        await asyncio.gather(*(pc.close() for pc in self.pcs), return_exceptions=True)


# -- the client side ------------------------------------------------------------------------------


class WorkerProcess:
    """A worker process and its control connection; always stopped on exit."""

    def __init__(self, mode: str, *, core: int | None, lifetime: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self.process = ctx.Process(
            target=worker_main, args=(mode, core, child, lifetime), daemon=True
        )
        self.process.start()
        if not parent.poll(30):
            self.process.kill()
            raise RuntimeError("the worker process did not start")
        self.port: int = parent.recv()

    async def call(self, op: str, within: float = 30.0, **kwargs: Any) -> dict[str, Any]:
        async def go() -> dict[str, Any]:
            reader, writer = await asyncio.open_connection(LOOPBACK, self.port)
            writer.write(json.dumps({"op": op, **kwargs}).encode() + b"\n")
            await writer.drain()
            line = await reader.readline()
            writer.close()
            response: dict[str, Any] = json.loads(line)
            if "error" in response:
                raise RuntimeError(f"worker {op}: {response['error']}")
            return response

        return await asyncio.wait_for(go(), within)

    def exchange(self, user: str, role: str) -> Callable[[str], Awaitable[str]]:
        async def exchange(offer: str) -> str:
            response = await self.call("join", space=SPACE, user=user, role=role, sdp=offer)
            return str(response["sdp"])

        return exchange

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.call("shutdown", within=5)
        await asyncio.get_running_loop().run_in_executor(None, self.process.join, 15)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


class Drainer:
    """Reads the thin listeners' sockets in bulk, every ``period`` seconds.

    One event-loop callback per datagram costs the listener process 10-20 µs of Python; at
    1,000+ listeners (50,000+ datagrams a second) it cannot keep up on one core, falls behind,
    and its peers' ICE consent then times out. Here each socket is paused in the event loop and
    emptied in a tight ``recvfrom`` loop instead; every datagram still goes to the same handler
    (``MediaClient``'s thin counter, STUN/DTLS/RTCP on to aiortc), at most ``period`` later.
    Only the listener side changes: what the worker (or Janus) does is the same.
    """

    def __init__(self, period: float = 0.02) -> None:
        self.period = period
        self.entries: list[tuple[Any, Callable[[bytes, Any], None]]] = []
        self.task: asyncio.Task[None] | None = None

    def add(self, clients: Sequence[MediaClient]) -> int:
        added = 0
        for client in clients:
            transceivers = client.pc.getTransceivers()
            if not client.thin or not transceivers:
                continue
            connection = transceivers[0].receiver.transport.transport._connection
            pair = connection._nominated.get(1)
            if pair is None:
                continue
            transport: Any = pair.protocol.transport  # the selector transport: private _sock
            transport.pause_reading()
            self.entries.append((transport._sock, pair.protocol.datagram_received))
            added += 1
        if self.task is None:
            self.task = asyncio.ensure_future(self._run())
        return added

    async def _run(self) -> None:
        while True:
            for sock, handle in self.entries:
                while True:
                    try:
                        data, addr = sock.recvfrom(2048)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    handle(data, addr)
            await asyncio.sleep(self.period)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def join_all(
    clients: Sequence[MediaClient], *, rate: float, concurrency: int = 16, within: float = 20
) -> tuple[list[MediaClient], list[str]]:
    """Connect clients at about ``rate`` per second: (connected clients, failure reasons)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(client: MediaClient) -> None:
        async with gate:
            await client.connect(within=within)

    tasks = []
    for client in clients:
        tasks.append(asyncio.ensure_future(one(client)))
        await asyncio.sleep(1.0 / rate)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    connected = [c for c, r in zip(clients, results, strict=True) if r is None]
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    if failures:
        log(f"{len(failures)} of {len(clients)} joins failed, first: {failures[0]}")
    return connected, failures


async def measure(
    worker: WorkerProcess, listeners: Sequence[MediaClient], seconds: float
) -> dict[str, Any]:
    await asyncio.sleep(1.0)  # let the last joins settle
    for client in listeners:
        client.counter.reset()
    await worker.call("reset")
    client_wait0 = runqueue_wait_snapshot()
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    window = time.perf_counter() - started
    client_wait = runqueue_wait_since(client_wait0)
    stats = await worker.call("stats")
    counts = [(c.counter.count, c.counter.expected) for c in listeners]
    due_per_listener = int(window / TICK) - 1
    delivered = sum(count for count, _ in counts)
    due = sum(max(expected, due_per_listener) for _, expected in counts)
    delivered_rate = delivered / window
    cpu_rate = stats["cpu"] / stats["wall"]
    return {
        "listeners": len(listeners),
        "us_per_packet": round(cpu_rate / delivered_rate * 1e6, 1) if delivered else None,
        "delivery_ratio": round(delivered / due, 5) if due else 0.0,
        "p99_added_ms": _round(stats["delay_ms"].get("p99")),
        "p50_added_ms": _round(stats["delay_ms"].get("p50")),
        "max_added_ms": _round(stats["delay_ms"].get("max")),
        "p99_last_packet_of_tick_ms": _round(stats.get("tick_last_ms", {}).get("p99")),
        "p99_wakeup_late_ms": _round(stats.get("tick_start_ms", {}).get("p99")),
        "p50_wakeup_late_ms": _round(stats.get("tick_start_ms", {}).get("p50")),
        "worker_cpu_share": round(cpu_rate, 3),
        "worker_system_cpu_share": _round(stats.get("system_cpu", 0) / stats["wall"], 3),
        "delivered_packets": delivered,
        "due_packets": due,
        "worker_sent_packets": stats["listener_packets"],
        "worker_sent_ratio": (
            round(stats["listener_packets"] / (stats["ticks"] * len(listeners)), 5)
            if stats.get("ticks")
            else None
        ),
        "worker_preempted": stats.get("involuntary_switches"),
        # Share of the window the worker was runnable but another process had its core.
        "worker_runqueue_wait_share": _round(stats.get("runqueue_wait", 0) / stats["wall"], 3),
        "client_runqueue_wait_share": _round(client_wait / window, 3),
        "listeners_silent": sum(1 for count, _ in counts if count == 0),
        "listeners_not_connected": sum(1 for c in listeners if c.state != "connected"),
        "listeners_not_counting": sum(1 for c in listeners if not c.thin),
        "worker_dropped": stats.get("dropped"),
        "worker_skipped_ticks": stats.get("skipped_ticks"),
        "kernel": stats.get("kernel"),
        "window_s": round(window, 2),
        "gc": stats.get("gc"),
        "worst_listener_ratio": round(
            min((c / max(e, due_per_listener) for c, e in counts), default=0.0), 4
        ),
    }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None or value != value else round(value, digits)


def pin_this_process(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > core:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {core})


def machine() -> dict[str, Any]:
    import aiortc
    import av

    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "aiortc": aiortc.__version__,
        "av": av.__version__,
        "numpy": np.__version__,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


async def run_direct(args: argparse.Namespace, sizes: list[int]) -> list[dict[str, Any]]:
    lifetime = 120 + len(sizes) * args.repeat * (args.seconds + 5) + max(sizes) / 2
    worker = WorkerProcess("direct", core=WORKER_CORE, lifetime=lifetime)
    clients: list[MediaClient] = []
    rows = []
    drainer = Drainer() if args.receive == "bulk" else None
    try:
        speakers = [
            MediaClient(
                worker.exchange(f"speaker{i}", "speaker"),
                send=EncodedToneTrack(440 + 110 * i),
                receive="count",
                name=f"speaker{i}",
            )
            for i in range(args.speakers)
        ]
        clients += speakers
        _, failed = await join_all(speakers, rate=args.join_rate)
        if failed:
            raise RuntimeError(f"a speaker could not join: {failed[0]}")
        listeners: list[MediaClient] = []
        join_failures = 0
        for n in sizes:
            new = [
                MediaClient(
                    worker.exchange(f"listener{i}", "listener"),
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
            if drainer is not None:
                await asyncio.sleep(0.5)  # the thin counters install once ICE has nominated
                drainer.add(connected)
            windows = []
            for _ in range(args.repeat):
                window = await measure(worker, listeners, args.seconds)
                log(f"direct N={n}: {window}")
                windows.append(window)
            row = pick_least_contended(windows)
            row["speakers"] = args.speakers
            row["join_failures"] = join_failures
            row["listeners_requested"] = n
            rows.append(row)
    finally:
        if drainer is not None:
            await drainer.stop()
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        await worker.stop()
    return rows


SUMMARY_KEYS = (
    "us_per_packet",
    "delivery_ratio",
    "p99_added_ms",
    "worker_cpu_share",
    "worker_runqueue_wait_share",
    "worker_skipped_ticks",
)


def pick_least_contended(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """On a shared box, report the window where other processes took the least of our core.

    Every window stays in the output (``windows``), so nothing is hidden.
    """
    least: dict[str, Any] = min(windows, key=lambda w: w.get("worker_runqueue_wait_share") or 0.0)
    chosen = dict(least)
    if len(windows) > 1:
        chosen["windows"] = [{k: w.get(k) for k in SUMMARY_KEYS} for w in windows]
        chosen["chosen"] = f"least contended of {len(windows)} windows"
    return chosen


class JanusWorker:
    """Janus behind the interface ``measure`` uses for our worker: ``reset`` and ``stats``."""

    def __init__(self, janus: Any) -> None:
        self.janus = janus
        self._cpu0 = self._wall0 = self._wait0 = 0.0

    async def call(self, op: str, within: float = 30.0, **kwargs: Any) -> dict[str, Any]:
        if op == "reset":
            self._cpu0 = self.janus.cpu_seconds()
            self._wait0 = self.janus.runqueue_wait()
            self._wall0 = time.perf_counter()
            return {}
        if op == "stats":
            return {
                "cpu": self.janus.cpu_seconds() - self._cpu0,
                "wall": time.perf_counter() - self._wall0,
                "runqueue_wait": self.janus.runqueue_wait() - self._wait0,
                "listener_packets": None,
                "delay_ms": {},
                "threads": self.janus.threads(),
            }
        raise ValueError(op)


async def run_janus(args: argparse.Namespace, sizes: list[int]) -> list[dict[str, Any]]:
    """The same listener harness against Janus's streaming plugin (bench/janus.py)."""
    from bench.janus import Feeder, Janus, Watchers, join_watchers

    janus = Janus(core=WORKER_CORE, event_loops=args.janus_event_loops)
    feeder: Feeder | None = None
    watchers: Watchers | None = None
    clients: list[MediaClient] = []
    rows = []
    drainer = Drainer() if args.receive == "bulk" else None
    try:
        await janus.ready()
        feeder = Feeder(janus.rtp_port)
        feeder.start()
        watchers = Watchers(janus)
        await watchers.open()
        worker = JanusWorker(janus)
        listeners: list[MediaClient] = []
        join_failures = 0
        for n in sizes:
            new = [
                MediaClient(_no_exchange, sendrecv=False, receive="count", name=f"janus{i}")
                for i in range(len(listeners), n)
            ]
            clients += new
            connected, failed = await join_watchers(watchers, new, rate=args.join_rate)
            if failed:
                log(f"janus: {len(failed)} of {len(new)} joins failed, first: {failed[0]}")
            listeners += connected
            join_failures += len(failed)
            if drainer is not None:
                await asyncio.sleep(0.5)
                drainer.add(connected)
            windows = []
            for _ in range(args.repeat):
                window = await measure(worker, listeners, args.seconds)  # type: ignore[arg-type]
                log(f"janus N={n}: {window}")
                windows.append(window)
            row = pick_least_contended(windows)
            row["join_failures"] = join_failures
            row["listeners_requested"] = n
            row["janus_threads"] = janus.threads()
            rows.append(row)
    finally:
        if drainer is not None:
            await drainer.stop()
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        if watchers is not None:
            await watchers.close()
        if feeder is not None:
            await feeder.stop()
        await janus.stop()
        restrict_host_addresses([LOOPBACK])
    return rows


async def _no_exchange(offer: str) -> str:
    raise RuntimeError("Janus listeners answer Janus's offer (bench/janus.py)")


async def run_naive(args: argparse.Namespace) -> dict[str, Any]:
    worker = WorkerProcess(
        "naive", core=WORKER_CORE, lifetime=120 + args.repeat * (args.seconds + 5)
    )
    clients: list[MediaClient] = []
    try:
        speaker = MediaClient(
            worker.exchange("speaker0", "speaker"),
            send=EncodedToneTrack(440),
            receive="none",
            name="speaker0",
        )
        clients.append(speaker)
        await speaker.connect()
        listeners = [
            MediaClient(
                worker.exchange(f"listener{i}", "listener"),
                sendrecv=False,
                receive="count",
                name=f"listener{i}",
            )
            for i in range(args.baseline_listeners)
        ]
        clients += listeners
        listeners, _ = await join_all(listeners, rate=args.join_rate)
        windows = []
        for _ in range(args.repeat):
            window = await measure(worker, listeners, args.seconds)
            log(f"naive N={len(listeners)}: {window}")
            windows.append(window)
        row = pick_least_contended(windows)
        row["speakers"] = 1
        return row
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        await worker.stop()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    restrict_host_addresses([LOOPBACK])
    pin_this_process(CLIENT_CORE)
    sizes = sorted({int(x) for x in args.listeners.split(",") if x.strip()})
    info = machine()
    baseline = await run_naive(args) if args.baseline_listeners > 0 else None
    rows = await run_direct(args, sizes)
    janus_rows: list[dict[str, Any]] = []
    janus_error = None
    if args.janus:
        try:
            janus_rows = await run_janus(args, sizes)
        except Exception as exc:  # no janus installed, or it would not start: say so in the rows
            janus_error = f"{type(exc).__name__}: {exc}"
            log(f"janus: {janus_error}")
    by_size = {row["listeners_requested"]: row for row in janus_rows}
    for row in rows:
        row["baseline_us_per_packet"] = baseline["us_per_packet"] if baseline else None
        row["baseline_delivery_ratio"] = baseline["delivery_ratio"] if baseline else None
        row["baseline_listeners"] = baseline["listeners"] if baseline else None
        janus = by_size.get(row["listeners_requested"])
        row["janus_us_per_packet"] = janus["us_per_packet"] if janus else None
        row["janus_delivery_ratio"] = janus["delivery_ratio"] if janus else None
        row["janus_listeners"] = janus["listeners"] if janus else None
        row["janus_cpu_share"] = janus["worker_cpu_share"] if janus else None
        row["janus_runqueue_wait_share"] = janus["worker_runqueue_wait_share"] if janus else None
        row["janus_over_ours"] = (
            round(janus["us_per_packet"] / row["us_per_packet"], 2)
            if janus and janus["us_per_packet"] and row["us_per_packet"]
            else None
        )
        if janus_error:
            row["janus_error"] = janus_error
    info["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return {
        "benchmark": "media_fanout",
        "machine": info,
        "seconds": args.seconds,
        "speakers": args.speakers,
        "results": rows,
        "baseline": baseline,
        "janus": janus_rows,
    }


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", default="100,200,400", help="comma-separated N")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per N")
    parser.add_argument("--speakers", type=int, choices=(1, 2, 3), default=1)
    parser.add_argument("--baseline-listeners", type=int, default=5, help="0 skips the baseline")
    parser.add_argument("--join-rate", type=float, default=40.0, help="joins per second")
    parser.add_argument(
        "--repeat", type=int, default=1, help="windows per N; the least contended is reported"
    )
    parser.add_argument(
        "--no-janus", dest="janus", action="store_false", help="skip Janus (bench/janus.py)"
    )
    parser.add_argument(
        "--receive",
        choices=("bulk", "callback"),
        default="bulk",
        help="listeners read their sockets in bulk every 20 ms, or one callback per datagram",
    )
    parser.add_argument(
        "--janus-event-loops",
        type=int,
        default=0,
        help="Janus's event_loops setting (0, its default: one loop thread per handle)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.seconds > 600:
        parser.error("--seconds must be in (0, 600]")
    if not 1 <= args.repeat <= 10:
        parser.error("--repeat must be in 1..10")
    return args


def cli(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    sizes = [int(x) for x in args.listeners.split(",") if x.strip()]
    budget = 300 + 2 * (len(sizes) + 1) * args.repeat * (args.seconds + 5) + max(sizes) / 2
    result = asyncio.run(asyncio.wait_for(main(args), budget))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for row in result["results"]:
            print(
                f"N={row['listeners']:5d}  {row['us_per_packet']} us/packet  "
                f"delivery {row['delivery_ratio']:.4f}  p99 added {row['p99_added_ms']} ms  "
                f"baseline {row['baseline_us_per_packet']} us/packet  "
                f"janus {row['janus_us_per_packet']} us/packet  kernel {row['kernel']}"
            )


if __name__ == "__main__":
    cli()
