"""Live HLS benchmark (issue 19): thousands of HLS listeners from nginx, and what the origin pays.

    python -m bench.hls --json                          # 5000 HLS listeners, 20 s windows
    python -m bench.hls --quick --json                  # smoke: 200 listeners, 4 s windows

Set-up as in ``bench.recording`` (whose process, control-socket and pinning helpers it shares
through ``bench.media_fanout``): the media worker (``media.MediaWorker``) in its own process
pinned to core 0; everything else on core 1: this process (a speaker sending pre-encoded tone
bursts, the probe listeners, and later the WebRTC listeners), nginx, and the load generator. The
only thing the two sides share is the folder: in production nginx or a CDN is on other machines.

The origin writes the Space's live HLS (``Origin.start_live``, reached through a bench-only
control op: in the product a join carrying ``live=`` starts it) into a temporary folder, each file
through a temporary name and ``os.replace``. nginx serves that folder with the deployment's own
``deploy/nginx/live-hls.conf`` (``tests.servers.serving_live_hls``, started and stopped here).

The load generator: ``--client-processes`` processes of asyncio HTTP/1.1 clients, one keep-alive
connection per listener, started over a ramp of a few seconds at jittered times. Like hls.js, a
listener reloads the playlist one target duration (1 s) after the last load that brought a new
segment, half that after one that did not, and fetches every segment it has not fetched (starting
at the newest one it first sees; the init segment once). Errors, summed over every listener:
an answer other than 200, a connection refused or lost, a body shorter than announced or not a
fragment, a request unanswered within 10 s, and a segment the listener never fetched that left
the playlist before it got to it ("missed").

Windows, one after the other, same Space and speaker:

1. ``hls_0``: live HLS written, no HLS listener (the probes aside);
2. ``hls_N``: the N listeners ramped up and polling;
3. ``hls_0_after``: the listeners gone again, to see how far the box drifted;
4. ``webrtc``: ``--webrtc-listeners`` thin WebRTC listeners joined (RTP counted at the socket):
   the worker's CPU per listener packet delivered, as ``bench.media_fanout`` reports it.

"cpu share" is the worker process's CPU time (every thread: the mix loop, the live writer's
thread) over the window's wall time. Glass to glass: the speaker notes the wall time at which it
hands each burst's first packet to aiortc (0.5 s of 440 Hz every 2.22 s); each probe (a few more
listeners, in this process, started at random phases) keeps every segment with the wall time its
last byte arrived; after the run its segments are decoded in order (PyAV), each burst's first
loud 20 ms found, matched to the burst sent just before (the segment's
``EXT-X-PROGRAM-DATE-TIME`` says when it was mixed), and timed from that send to the arrival of
the segment holding it (a player's own buffer, about three segments for hls.js, comes on top).
``hls_listeners`` counts the load generator's listeners, not the probes. Everything is on
127.0.0.1 and bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import io
import json
import math
import multiprocessing
import os
import random
import re
import resource
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Sequence
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

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
    pin_this_process,
    runqueue_wait_since,
    runqueue_wait_snapshot,
    serve_control,
)
from media.client import MediaClient, dominant_frequency
from media.dsp import FRAME_SAMPLES, SAMPLE_RATE, TIME_BASE, frame_to_mono
from media.ice import restrict_host_addresses
from media.live import INIT, PLAYLIST, SEGMENT_TICKS

TONE_HZ = 440
BURST_TICKS = 25
"""0.5 s of tone..."""
PERIOD_TICKS = 111
"""...every 2.22 s: not a whole number of 1 s segments, so onsets fall all over a segment."""
QUIET_BEFORE_TICKS = 40
"""An onset follows this much silence (0.8 s): a burst's own gaps are not onsets."""
GOAL_LISTENERS = 5000
GOAL_GLASS_TO_GLASS_P50 = 3.0
REQUEST_TIMEOUT = 10.0
RELOAD_SECONDS = 1.0
"""The playlist's target duration: hls.js reloads a live playlist that often when it changed."""
LOUD = 0.05 * 32767
QUIET = 0.01 * 32767
SEGMENT_NAME = re.compile(r"-(\d{6})\.m4s$")
DELAY_BINS = np.arange(0.0, 30.01, 0.01)
"""Histogram of segment delivery delays (seconds, 10 ms bins) merged over processes."""


# -- the speaker --------------------------------------------------------------------------------


class BurstTrack(MediaStreamTrack):
    """440 Hz bursts (0.5 s every 2 s), pre-encoded once and looped, paced in real time.

    ``onsets`` holds the wall time at which each burst's first packet was handed to aiortc,
    which packetises, encrypts and sends it at once (an ``av.Packet`` is not re-encoded)."""

    kind = "audio"

    def __init__(self, amplitude: float = 0.3, bitrate: int = 32_000) -> None:
        super().__init__()
        codec = av.CodecContext.create("libopus", "w")
        codec.sample_rate = SAMPLE_RATE
        codec.layout = "mono"
        codec.format = "s16"
        codec.bit_rate = bitrate
        codec.time_base = TIME_BASE
        payloads: list[bytes] = []
        n = 0
        # Two periods encoded, the second kept: its burst follows silence, as every burst of
        # the loop does (the first one starts from a fresh encoder).
        for tick in range(2 * PERIOD_TICKS + 10):
            t = (n + np.arange(FRAME_SAMPLES)) / SAMPLE_RATE
            on = tick % PERIOD_TICKS < BURST_TICKS
            pcm = amplitude * 32767.0 * np.sin(2.0 * math.pi * TONE_HZ * t) * on
            frame = av.AudioFrame.from_ndarray(
                pcm.astype(np.int16).reshape(1, -1), format="s16", layout="mono"
            )
            frame.sample_rate = SAMPLE_RATE
            frame.pts = n
            n += FRAME_SAMPLES
            payloads += [bytes(p) for p in codec.encode(frame)]
        # The encoder's delay shifts its output: the loop starts at the packet where the second
        # burst is first loud once decoded, so the onset noted below is the one heard.
        decoder = av.CodecContext.create("libopus", "r")
        decoder.sample_rate = SAMPLE_RATE
        decoder.layout = "mono"
        loud = [
            any(float(np.abs(frame_to_mono(f)).max()) > LOUD for f in decoder.decode(av.Packet(p)))
            for p in payloads
        ]
        first = next(i for i in range(PERIOD_TICKS - 5, len(loud)) if loud[i])
        self._payloads = payloads[first : first + PERIOD_TICKS]
        self.onsets: list[float] = []
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._n * FRAME_SAMPLES / SAMPLE_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        position = self._n % PERIOD_TICKS
        packet = av.Packet(self._payloads[position])
        packet.pts = self._n * FRAME_SAMPLES
        packet.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._n += 1
        if position == 0:
            self.onsets.append(time.time())
        return packet


# -- the worker process -------------------------------------------------------------------------


class FolderSink:
    """A LiveSink on a folder: each file through a temporary name and ``os.replace`` (nginx never
    serves half a file). Called on the live writer's thread only."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.writes = 0
        self.write_seconds: list[float] = []
        self.thread_cpu = 0.0

    def write(self, name: str, data: bytes) -> None:
        started = time.perf_counter()
        temporary = self.folder / f"{name}.partial"
        temporary.write_bytes(data)
        os.replace(temporary, self.folder / name)
        self.write_seconds.append(time.perf_counter() - started)
        self.writes += 1
        self.thread_cpu = time.thread_time()

    def read(self, name: str) -> bytes | None:
        try:
            return (self.folder / name).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)
        self.thread_cpu = time.thread_time()


class HlsServer(DirectServer):
    """media_fanout's DirectServer, plus the ops that start and stop the origin's live HLS."""

    def __init__(self) -> None:
        super().__init__()
        self.sink: FolderSink | None = None
        self._writer_cpu0 = 0.0

    def _origin(self) -> Any:
        # A bench may reach the origin: in the product only a join with live= starts it.
        return self.worker._origins[SPACE]

    async def start_live(self, directory: str) -> dict[str, Any]:
        self.sink = FolderSink(Path(directory))
        writer = self._origin().start_live(self.sink)
        return {"first_index": writer.first_index, "wall_start": writer.wall_start}

    async def stop_live(self, ended: bool) -> dict[str, Any]:
        writer = self.worker.live_writer(SPACE)
        if writer is None or self.sink is None:
            raise RuntimeError("not live")
        writer.close(ended=ended)
        loop = asyncio.get_running_loop()
        finished = await loop.run_in_executor(None, writer.wait_closed, 30.0)
        writes = sorted(self.sink.write_seconds)
        return {
            "finished": finished,
            "segments_written": writer.segments_written,
            "dropped_segments": writer.dropped_segments,
            "files_written": self.sink.writes,
            "write_ms_p50": round(float(np.percentile(writes, 50)) * 1000, 3) if writes else None,
            "write_ms_max": round(writes[-1] * 1000, 3) if writes else None,
        }

    async def reset(self) -> dict[str, Any]:
        self._writer_cpu0 = self.sink.thread_cpu if self.sink else 0.0
        return await super().reset()

    async def stats(self) -> dict[str, Any]:
        found = await super().stats()
        found["writer_cpu"] = (self.sink.thread_cpu if self.sink else 0.0) - self._writer_cpu0
        writer = self.worker.live_writer(SPACE)
        found["live_dropped_segments"] = writer.dropped_segments if writer else None
        return found


def hls_worker_main(core: int | None, pipe: Connection, lifetime: float) -> None:
    if core is not None and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {core})
    asyncio.run(_serve(pipe, lifetime))


async def _serve(pipe: Connection, lifetime: float) -> None:
    restrict_host_addresses([LOOPBACK])
    await serve_control(HlsServer(), pipe, lifetime)


class HlsWorkerProcess(WorkerProcess):
    """media_fanout's worker process, running an HlsServer."""

    def __init__(self, *, core: int | None, lifetime: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self.process = ctx.Process(
            target=hls_worker_main, args=(core, child, lifetime), daemon=True
        )
        self.process.start()
        if not parent.poll(30):
            self.process.kill()
            raise RuntimeError("the worker process did not start")
        self.port = parent.recv()


# -- HLS listeners: raw HTTP/1.1 on asyncio protocols -------------------------------------------

Entry = tuple[int, str, float, float]
"""(media sequence number, uri, wall time of the segment's first tick, duration)"""


def parse_live_playlist(text: str) -> tuple[list[Entry], str, bool]:
    """The segments of a live playlist written by media.live, its map URI, whether it ended."""
    msn = 0
    wall = 0.0
    duration = 0.0
    entries: list[Entry] = []
    map_uri = INIT
    for line in text.splitlines():
        if not line:
            continue
        if line[0] != "#":
            entries.append((msn, line, wall, duration))
            msn += 1
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            wall = datetime.fromisoformat(line[25:]).timestamp()
        elif line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            msn = int(line[22:])
        elif line.startswith("#EXT-X-MAP:URI="):
            map_uri = line[15:].strip('"')
    return entries, map_uri, "#EXT-X-ENDLIST" in text


class LoadGen:
    """This process's listeners and what they saw. Counters only grow; ``snapshot`` reads them."""

    def __init__(self, host: str, port: int, folder_path: str, *, probe: bool = False) -> None:
        self.loop = asyncio.get_running_loop()
        self.host = host
        self.port = port
        self.folder_path = folder_path
        self.probe = probe
        self.listeners: list[Listener] = []
        self.requests = 0
        self.playlists = 0
        self.segments = 0
        self.bytes = 0
        self.reconnects = 0
        self.errors: Counter[str] = Counter()
        self.delays: list[float] = []
        """Per segment fetched: its arrival minus the wall time its last tick was mixed."""
        self.stopping = False
        self._parsed: dict[bytes, tuple[list[Entry], str, bool]] = {}
        self._requests: dict[str, bytes] = {}

    def request(self, name: str) -> bytes:
        found = self._requests.get(name)
        if found is None:
            if len(self._requests) > 256:
                self._requests.clear()
            found = self._requests[name] = (
                f"GET {self.folder_path}{name} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "User-Agent: bench-hls\r\nAccept: */*\r\n\r\n"
            ).encode()
        return found

    def parsed(self, body: bytes) -> tuple[list[Entry], str, bool]:
        # Every listener reads the same few playlists: parse each once.
        found = self._parsed.get(body)
        if found is None:
            if len(self._parsed) > 64:
                self._parsed.clear()
            found = self._parsed[body] = parse_live_playlist(body.decode())
        return found

    def snapshot(self) -> dict[str, Any]:
        active = [x for x in self.listeners if x.started]
        return {
            "listeners": len(active),
            "connected": sum(1 for x in active if x.conn is not None),
            "requests": self.requests,
            "playlists": self.playlists,
            "segments": self.segments,
            "bytes": self.bytes,
            "reconnects": self.reconnects,
            "errors": dict(self.errors),
            "cpu": time.process_time(),
            "fewest_segments": min((x.fetched for x in active), default=0),
            "most_segments": max((x.fetched for x in active), default=0),
        }

    def sweep(self) -> None:
        """Once a second: a request unanswered for REQUEST_TIMEOUT is an error."""
        now = self.loop.time()
        for listener in self.listeners:
            if listener.inflight and now - listener.inflight_since > REQUEST_TIMEOUT:
                listener.fail("timeout")
        if not self.stopping:
            self.loop.call_later(1.0, self.sweep)

    async def stop(self, within: float = 3.0) -> None:
        """No new request; wait for those under way (bounded), then close every connection."""
        self.stopping = True
        for listener in self.listeners:
            listener.stop()
        deadline = self.loop.time() + within
        while any(x.inflight for x in self.listeners) and self.loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        for listener in self.listeners:
            listener.inflight = None  # cut short by the end of the run: not an error
            listener.drop_connection()


class HttpConnection(asyncio.Protocol):
    """One TCP connection of a listener. A listener opens a new one after the server closed
    the last (keepalive_requests) or a request failed; the old one's late callbacks are ignored."""

    __slots__ = ("listener", "transport")

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.listener.conn is self:
            self.listener.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.listener.conn is self:
            self.listener.connection_lost()


class Listener:
    """One HLS listener: one keep-alive connection, the playlist reloaded as hls.js does, every
    new segment fetched in order."""

    def __init__(self, gen: LoadGen) -> None:
        self.gen = gen
        self.conn: HttpConnection | None = None
        self.connecting = False
        self.started = False
        self.stopped = False
        self.buffer = bytearray()
        self.inflight: str | None = None
        """'playlist', 'init' or 'segment' while a request is under way."""
        self.inflight_since = 0.0
        self.header_end = -1
        self.length = -1
        self.status = 0
        self.close_after = False
        self.have_init = False
        self.next_msn: int | None = None
        self.queue: deque[Entry] = deque()
        self.reload_at = 0.0
        self.reload_started = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.fetched = 0
        self.ended = False
        # The probe's record: (entry, body, wall time the last byte arrived).
        self.kept: list[tuple[Entry, bytes, float]] = []
        self.init: bytes = b""

    # -- driving --

    def start(self) -> None:
        self.started = True
        self.reload_at = self.gen.loop.time()
        self.next_step()

    def stop(self) -> None:
        self.stopped = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def next_step(self) -> None:
        self.timer = None
        if self.stopped or self.inflight or self.connecting:
            return
        if self.conn is None:
            self.connecting = True
            self.gen.loop.create_task(self._connect())
        elif not self.have_init:
            self._send("init", INIT)
        elif self.queue:
            self._send("segment", self.queue[0][1])
        elif self.ended:
            self.stop()
        else:
            now = self.gen.loop.time()
            if now >= self.reload_at:
                self.reload_started = now
                self._send("playlist", PLAYLIST)
            else:
                self.timer = self.gen.loop.call_at(self.reload_at, self.next_step)

    async def _connect(self) -> None:
        gen = self.gen
        try:
            _, conn = await asyncio.wait_for(
                gen.loop.create_connection(lambda: HttpConnection(self), gen.host, gen.port),
                REQUEST_TIMEOUT,
            )
        except (OSError, TimeoutError):
            gen.errors["connect"] += 1
            self.connecting = False
            self.later(1.0)  # as a player would, a second later
            return
        self.connecting = False
        if self.stopped:
            if conn.transport is not None:
                conn.transport.close()
            return
        self.conn = conn
        self.next_step()

    def later(self, delay: float) -> None:
        if not self.stopped and self.timer is None:
            self.timer = self.gen.loop.call_later(delay, self.next_step)

    def drop_connection(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    def _send(self, kind: str, name: str) -> None:
        assert self.conn is not None
        assert self.conn.transport is not None
        self.inflight = kind
        self.inflight_since = self.gen.loop.time()
        self.buffer.clear()
        self.header_end = self.length = -1
        self.gen.requests += 1
        self.conn.transport.write(self.gen.request(name))

    # -- the connection's callbacks --

    def connection_lost(self) -> None:
        self.conn = None
        if self.inflight:
            self.inflight = None
            self.gen.errors["short_body" if self.header_end >= 0 else "connection_lost"] += 1
        if not self.stopped:
            self.gen.reconnects += 1
            self.later(0.1)

    def data_received(self, data: bytes) -> None:
        if not self.inflight:
            return
        buffer = self.buffer
        buffer += data
        if self.header_end < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end])
            self.header_end = end + 4
            self.status = int(head[9:12])
            at = head.find(b"\r\nContent-Length: ")
            self.length = int(head[at + 18 : head.index(b"\r\n", at + 2)]) if at >= 0 else 0
            self.close_after = b"\r\nConnection: close" in head
        if len(buffer) - self.header_end < self.length:
            return
        body = bytes(buffer[self.header_end : self.header_end + self.length])
        kind = self.inflight
        self.inflight = None
        self.gen.bytes += len(body)
        if self.close_after:
            # The server closes after this answer (keepalive_requests): a new connection next.
            self.drop_connection()
        if kind == "playlist":
            self._playlist(body)
        elif kind == "init":
            self._init(body)
        else:
            self._segment(body)
        if self.timer is None:
            self.next_step()

    def fail(self, why: str) -> None:
        self.gen.errors[why] += 1
        self.inflight = None
        self.drop_connection()
        self.later(0.1)

    # -- what came back --

    def _playlist(self, body: bytes) -> None:
        self.gen.playlists += 1
        if self.status != 200:
            self.gen.errors[f"status_{self.status}"] += 1
            self.reload_at = self.reload_started + RELOAD_SECONDS
            return
        entries, _, ended = self.gen.parsed(body)
        self.ended = ended
        if not entries:
            self.reload_at = self.reload_started + RELOAD_SECONDS / 2
            return
        first, last = entries[0][0], entries[-1][0]
        if self.next_msn is None:
            self.next_msn = last  # join at the live edge
        elif self.next_msn < first and not self.gen.stopping:
            self.gen.errors["missed"] += first - self.next_msn
            self.next_msn = first
        new = [e for e in entries if e[0] >= self.next_msn]
        self.queue.extend(new)
        if new:
            self.next_msn = new[-1][0] + 1
        self.reload_at = self.reload_started + (RELOAD_SECONDS if new else RELOAD_SECONDS / 2)

    def _init(self, body: bytes) -> None:
        if self.status != 200 or body[4:8] != b"ftyp":
            self.gen.errors[f"init_status_{self.status}"] += 1
            self.reload_at = self.gen.loop.time() + RELOAD_SECONDS
            return
        self.have_init = True
        if self.gen.probe:
            self.init = body

    def _segment(self, body: bytes) -> None:
        entry = self.queue.popleft()
        self.gen.segments += 1
        if self.status != 200:
            self.gen.errors[f"status_{self.status}"] += 1
            return
        if body[4:8] != b"styp":
            self.gen.errors["not_a_segment"] += 1
            return
        self.fetched += 1
        arrived = time.time()
        self.gen.delays.append(arrived - entry[2] - entry[3])
        if self.gen.probe:
            self.kept.append((entry, body, arrived))


def raise_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


def loadgen_main(pipe: Connection, params: dict[str, Any]) -> None:
    """Entry point of a load-generator process: its listeners, until told to stop."""
    raise_file_limit()
    asyncio.run(_loadgen(pipe, params))


async def _loadgen(pipe: Connection, params: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    gen = LoadGen(LOOPBACK, params["port"], params["path"])
    rng = random.Random(params["seed"])
    stop = asyncio.Event()
    messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def on_message() -> None:
        with contextlib.suppress(EOFError, OSError):
            while pipe.poll():
                messages.put_nowait(pipe.recv())

    loop.add_reader(pipe.fileno(), on_message)
    pipe.send({"ready": True})
    deadline = loop.time() + params["lifetime"]
    try:
        go = await asyncio.wait_for(messages.get(), params["lifetime"])
        # Start times spread evenly over the ramp, each jittered by up to a second.
        start_at = go["start_wall"] - time.time() + loop.time()
        for i in range(params["listeners"]):
            listener = Listener(gen)
            gen.listeners.append(listener)
            at = start_at + go["ramp"] * i / params["listeners"] + rng.random()
            loop.call_at(at, listener.start)
        loop.call_later(1.0, gen.sweep)
        while not stop.is_set() and loop.time() < deadline:
            try:
                message = await asyncio.wait_for(messages.get(), deadline - loop.time())
            except TimeoutError:
                break
            if message.get("op") == "snapshot":
                pipe.send(gen.snapshot())
            elif message.get("op") == "stop":
                stop.set()
    finally:
        loop.remove_reader(pipe.fileno())
        await gen.stop()
        result = gen.snapshot()
        counts, _ = np.histogram(np.clip(gen.delays, 0, DELAY_BINS[-1]), bins=DELAY_BINS)
        result["delay_histogram"] = counts.tolist()
        with contextlib.suppress(OSError):
            pipe.send(result)


class LoadGenProcess:
    def __init__(self, *, port: int, path: str, listeners: int, seed: int, lifetime: float):
        ctx = multiprocessing.get_context("spawn")
        self.pipe, child = ctx.Pipe()
        params = {
            "port": port,
            "path": path,
            "listeners": listeners,
            "seed": seed,
            "lifetime": lifetime,
        }
        self.process = ctx.Process(target=loadgen_main, args=(child, params), daemon=True)
        self.process.start()
        if not self.pipe.poll(60):
            self.process.kill()
            raise RuntimeError("a load generator did not start")
        self.pipe.recv()

    def go(self, start_wall: float, ramp: float) -> None:
        self.pipe.send({"start_wall": start_wall, "ramp": ramp})

    async def ask(self, op: str, within: float = 30.0) -> dict[str, Any]:
        self.pipe.send({"op": op})
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, self.pipe.poll, within):
            raise RuntimeError(f"a load generator did not answer {op}")
        answer: dict[str, Any] = self.pipe.recv()
        return answer

    def end(self) -> None:
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


# -- measuring ----------------------------------------------------------------------------------


def proc_cpu(pids: Sequence[int]) -> float:
    """CPU seconds (user + system) of these processes so far; a vanished one counts 0."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


async def cpu_window(
    worker: HlsWorkerProcess, seconds: float, others: dict[str, list[int]]
) -> dict[str, Any]:
    """The worker's CPU share over a window (and the share of each group of ``others``)."""
    await worker.call("reset")
    client_wait0 = runqueue_wait_snapshot()
    others0 = {name: proc_cpu(pids) for name, pids in others.items()}
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    wall = time.perf_counter() - started
    others1 = {name: proc_cpu(pids) for name, pids in others.items()}
    stats = await worker.call("stats")
    return {
        "cpu_share": round(stats["cpu"] / stats["wall"], 4),
        "live_writer_cpu_share": round(stats["writer_cpu"] / stats["wall"], 5),
        "worker_runqueue_wait_share": round(stats["runqueue_wait"] / stats["wall"], 4),
        "worker_preempted": stats["involuntary_switches"],
        "worker_skipped_ticks": stats["skipped_ticks"],
        "p99_wakeup_late_ms": stats.get("tick_start_ms", {}).get("p99"),
        "live_dropped_segments": stats["live_dropped_segments"],
        "bench_process_runqueue_wait_share": round(runqueue_wait_since(client_wait0) / wall, 4),
        **{f"{n}_cpu_share": round((others1[n] - others0[n]) / wall, 4) for n in others},
        "window_s": round(wall, 2),
    }


def glass_to_glass(probe: Listener, onsets_sent: list[float]) -> tuple[list[float], dict[str, Any]]:
    """Decode the probe's segments in order, find each burst's onset, time it from its send."""
    kept = sorted(probe.kept, key=lambda k: k[0][0])
    if not kept or not probe.init:
        return [], {"segments": 0}
    data = probe.init + b"".join(body for _, body, _ in kept)
    # Segment number (from its name) -> its entry and arrival; fMP4 time = number * 1 s.
    by_number: dict[int, tuple[Entry, float]] = {}
    for entry, _, arrived in kept:
        match = SEGMENT_NAME.search(entry[1])
        if match:
            by_number[int(match.group(1))] = (entry, arrived)
    rms: dict[int, float] = {}
    pcm_by_tick: dict[int, np.ndarray] = {}
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            if frame.pts is None or frame.time_base is None:
                continue
            if frame.samples != FRAME_SAMPLES:
                continue  # the first frame, cut short by the Opus pre-skip
            block = frame_to_mono(frame)
            # fMP4 of media.live: a frame's time is its tick's, counted from the writer's start.
            tick = round(float(frame.pts * frame.time_base) * SAMPLE_RATE / FRAME_SAMPLES)
            rms[tick] = float(np.sqrt(np.mean(block**2)))
            pcm_by_tick[tick] = block
    found: list[float] = []
    onsets: list[dict[str, Any]] = []
    ticks = sorted(rms)
    tone: list[np.ndarray] = []
    for tick in ticks:
        if rms[tick] < LOUD:
            continue
        before = [rms.get(tick - k) for k in range(1, QUIET_BEFORE_TICKS + 1)]
        if any(b is None or b > QUIET for b in before):
            continue
        number = tick // SEGMENT_TICKS
        if number not in by_number:
            continue
        entry, arrived = by_number[number]
        mixed = entry[2] + (tick - number * SEGMENT_TICKS) * FRAME_SAMPLES / SAMPLE_RATE
        # The burst sent just before it was mixed: bursts are 2 s apart, transit is ms.
        candidates = [s for s in onsets_sent if mixed - 0.5 <= s <= mixed + 0.1]
        onset: dict[str, Any] = {"segment": number, "tick": tick, "mixed_wall": round(mixed, 3)}
        if candidates:
            sent = max(candidates)
            onset["send_to_mix_s"] = round(mixed - sent, 3)
            onset["glass_to_glass_s"] = round(arrived - sent, 3)
            found.append(arrived - sent)
            tone += [pcm_by_tick[t] for t in range(tick + 2, tick + BURST_TICKS - 2) if t in rms]
        onsets.append(onset)
    covered = (kept[0][0][2], kept[-1][0][2] + kept[-1][0][3])
    sent_while_covered = [s for s in onsets_sent if covered[0] + 0.2 <= s <= covered[1] - 0.3]
    return found, {
        "segments": len(kept),
        "onsets_found": len(onsets),
        "onsets_matched": len(found),
        "onsets_sent_while_probe_covered": len(sent_while_covered),
        "tone_hz": round(dominant_frequency(np.concatenate(tone)), 1) if tone else None,
        "onsets": onsets,
    }


def percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if len(values) else None


def histogram_percentile(counts: np.ndarray, q: float) -> float | None:
    total = counts.sum()
    if not total:
        return None
    index = int(np.searchsorted(np.cumsum(counts), total * q / 100.0))
    return round(float(DELAY_BINS[min(index + 1, len(DELAY_BINS) - 1)]), 3)


# -- the run ------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    from tests.servers import serving_live_hls

    restrict_host_addresses([LOOPBACK])
    pin_this_process(CLIENT_CORE)
    raise_file_limit()
    info = machine()
    folder = f"{SPACE}-{secrets.token_hex(8)}"
    live_root = directory / "live"
    lifetime = 180 + 5 * args.seconds + args.ramp + args.settle + args.warmup + args.listeners / 100
    worker = HlsWorkerProcess(core=WORKER_CORE, lifetime=lifetime)
    clients: list[MediaClient] = []
    gens: list[LoadGenProcess] = []
    windows: dict[str, dict[str, Any]] = {}
    loop = asyncio.get_running_loop()
    track = BurstTrack()
    probe_gen: LoadGen | None = None
    marks: dict[str, float] = {}
    try:
        speaker = MediaClient(
            worker.exchange("speaker", "speaker"), send=track, receive="none", name="speaker"
        )
        clients.append(speaker)
        await speaker.connect(within=20)
        started = await worker.call("start_live", directory=str(live_root / folder))
        playlist = live_root / folder / PLAYLIST
        for _ in range(100):  # the first segment is a second away
            if playlist.exists():
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the origin wrote no playlist within 10 s")

        with serving_live_hls(
            live_root, worker_connections=args.listeners + 1024, access_log=False
        ) as nginx:
            log(f"nginx {nginx.url} pids {nginx.pids()}; live since {started}")
            path = f"/live/{folder}/"
            probe_gen = LoadGen(LOOPBACK, nginx.port, path, probe=True)
            rng = random.Random(7)
            for _ in range(args.probes):
                probe = Listener(probe_gen)
                probe_gen.listeners.append(probe)
                loop.call_later(rng.random(), probe.start)
            loop.call_later(1.0, probe_gen.sweep)
            # Spawned now (their imports take a while), started after the first window.
            per_process = [
                args.listeners // args.client_processes
                + (1 if i < args.listeners % args.client_processes else 0)
                for i in range(args.client_processes)
            ]
            # Off the loop: a process takes a second or two to start, and the speaker must
            # keep sending meanwhile.
            gens = list(
                await asyncio.gather(
                    *(
                        asyncio.to_thread(
                            LoadGenProcess,
                            port=nginx.port,
                            path=path,
                            listeners=n,
                            seed=i,
                            lifetime=lifetime,
                        )
                        for i, n in enumerate(per_process)
                        if n
                    )
                )
            )
            others = {
                "nginx": nginx.pids(),
                "load_generator": [g.process.pid for g in gens if g.process.pid],
            }
            # Unmeasured: the worker's first seconds of live HLS and the probes' first fetches.
            await asyncio.sleep(args.warmup)
            marks["hls_0_start"] = time.time()
            windows["hls_0"] = await cpu_window(worker, args.seconds, others)
            marks["hls_0_end"] = time.time()
            log(f"hls_0: {windows['hls_0']}")

            ramp_start = time.time() + 0.5
            for g in gens:
                g.go(ramp_start, args.ramp)
            # The ramp, each listener's jitter (up to 1 s), then a few seconds to settle.
            await asyncio.sleep(0.5 + args.ramp + 1.0 + args.settle)
            before = [await g.ask("snapshot") for g in gens]
            marks["hls_n_start"] = time.time()
            windows["hls_n"] = await cpu_window(worker, args.seconds, others)
            marks["hls_n_end"] = time.time()
            after = [await g.ask("snapshot") for g in gens]
            log(f"hls_{args.listeners}: {windows['hls_n']}")
            reports = [await g.ask("stop", within=30) for g in gens]
            await asyncio.gather(*(asyncio.to_thread(g.end) for g in gens))
            gens = []
            await asyncio.sleep(1.0)
            windows["hls_0_after"] = await cpu_window(worker, args.seconds, {"nginx": nginx.pids()})
            log(f"hls_0_after: {windows['hls_0_after']}")

            webrtc: dict[str, Any] = {}
            if args.webrtc_listeners:
                thin = [
                    MediaClient(
                        worker.exchange(f"listener{i}", "listener"),
                        sendrecv=False,
                        receive="count",
                        name=f"listener{i}",
                    )
                    for i in range(args.webrtc_listeners)
                ]
                clients += thin
                thin, join_failures = await join_all(thin, rate=args.join_rate)
                webrtc = await measure(worker, thin, args.seconds)
                webrtc["join_failures"] = len(join_failures)
                log(f"webrtc: {webrtc}")

            stopped = await worker.call("stop_live", ended=True, within=40)
            # The probes read the ended playlist and stop by themselves (bounded).
            for _ in range(50):
                if all(p.stopped for p in probe_gen.listeners):
                    break
                await asyncio.sleep(0.1)
            probes_ended = sum(1 for p in probe_gen.listeners if p.ended)
            await probe_gen.stop()
    finally:
        for g in gens:
            with contextlib.suppress(Exception):
                g.pipe.send({"op": "stop"})
            g.end()
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        await worker.stop()
    info["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]

    # -- what the listeners saw --
    errors: Counter[str] = Counter()
    histogram = np.zeros(len(DELAY_BINS) - 1, dtype=np.int64)
    for report in reports:
        errors.update(report["errors"])
        histogram += np.asarray(report["delay_histogram"], dtype=np.int64)
    assert probe_gen is not None
    errors.update(probe_gen.errors)
    segment_errors = sum(errors.values())
    window_n = windows["hls_n"]["window_s"]
    requests_in_window = sum(
        a["requests"] - b["requests"] for a, b in zip(after, before, strict=True)
    )
    segments_in_window = sum(
        a["segments"] - b["segments"] for a, b in zip(after, before, strict=True)
    )
    nginx_share = windows["hls_n"].get("nginx_cpu_share", 0.0)

    delays: list[float] = []
    probes: list[dict[str, Any]] = []
    for probe in probe_gen.listeners:
        found, about = glass_to_glass(probe, track.onsets)
        delays += found
        probes.append(about)
    timed = [o for p in probes for o in p.get("onsets", []) if "glass_to_glass_s" in o]

    def during(window: str) -> list[float]:
        start, end = marks[f"{window}_start"], marks[f"{window}_end"]
        return [o["glass_to_glass_s"] for o in timed if start <= o["mixed_wall"] <= end]

    loaded = during("hls_n")
    quiet = during("hls_0")
    share_0 = windows["hls_0"]["cpu_share"]
    share_n = windows["hls_n"]["cpu_share"]
    p50 = percentile(loaded, 50)
    webrtc_us = webrtc.get("us_per_packet")
    marginal = None
    if webrtc and webrtc.get("delivered_packets"):
        rate = webrtc["delivered_packets"] / webrtc["window_s"]
        marginal = round((webrtc["worker_cpu_share"] - share_0) / rate * 1e6, 1)
    return {
        "benchmark": "hls",
        "machine": info,
        "seconds": args.seconds,
        # The contract.
        "hls_listeners": args.listeners,
        "segment_errors": segment_errors,
        "origin_cpu_share": {"0": share_0, str(args.listeners): share_n},
        "glass_to_glass_p50_s": p50,
        "glass_to_glass_p95_s": percentile(loaded, 95),
        "webrtc_us_per_listener_packet": webrtc_us,
        # Extras.
        "goals": {
            "listeners": GOAL_LISTENERS,
            "listeners_met": args.listeners >= GOAL_LISTENERS,
            "no_segment_error": segment_errors == 0,
            "glass_to_glass_p50_max_s": GOAL_GLASS_TO_GLASS_P50,
            "glass_to_glass_met": p50 is not None and p50 <= GOAL_GLASS_TO_GLASS_P50,
            "origin_cpu_delta": round(share_n - share_0, 4),
            "origin_cpu_drift_0_to_0_after": round(
                windows["hls_0_after"]["cpu_share"] - share_0, 4
            ),
        },
        "segment_errors_by_kind": dict(errors),
        "glass_to_glass_samples": len(loaded),
        "glass_to_glass_without_listeners": {
            "p50_s": percentile(quiet, 50),
            "p95_s": percentile(quiet, 95),
            "samples": len(quiet),
        },
        "glass_to_glass_all": {
            "p50_s": percentile(delays, 50),
            "p95_s": percentile(delays, 95),
            "max_s": round(max(delays), 3) if delays else None,
            "samples": len(delays),
        },
        "segment_arrival_after_its_end_s": {
            "p50": histogram_percentile(histogram, 50),
            "p95": histogram_percentile(histogram, 95),
            "p99": histogram_percentile(histogram, 99),
            "max_bin": histogram_percentile(histogram, 100),
            "segments": int(histogram.sum()),
        },
        "hls_window": {
            "requests_per_s": round(requests_in_window / window_n, 1),
            "segments_per_s": round(segments_in_window / window_n, 1),
            "nginx_cpu_share": nginx_share,
            "nginx_us_per_request": (
                round(nginx_share / (requests_in_window / window_n) * 1e6, 1)
                if requests_in_window
                else None
            ),
            "load_generator_cpu_share": windows["hls_n"].get("load_generator_cpu_share"),
            "listeners_connected_at_end": sum(a["connected"] for a in after),
            "fewest_segments_per_listener": min((a["fewest_segments"] for a in after), default=0),
            "most_segments_per_listener": max((a["most_segments"] for a in after), default=0),
        },
        "load_generator": {
            "processes": len(reports),
            "requests": sum(r["requests"] for r in reports),
            "segments": sum(r["segments"] for r in reports),
            "playlists": sum(r["playlists"] for r in reports),
            "bytes": sum(r["bytes"] for r in reports),
            "reconnects": sum(r["reconnects"] for r in reports),
            "ramp_s": args.ramp,
        },
        "webrtc_listeners": args.webrtc_listeners,
        "webrtc_marginal_us_per_listener_packet": marginal,
        "webrtc_window": webrtc,
        "windows": windows,
        "live_writer": stopped,
        "probes": {
            "count": args.probes,
            "saw_the_ended_playlist": probes_ended,
            "segments": [p["segments"] for p in probes],
            "onsets_found": [p.get("onsets_found") for p in probes],
            "onsets_matched": [p.get("onsets_matched") for p in probes],
            "onsets_sent_while_covered": [p.get("onsets_sent_while_probe_covered") for p in probes],
            "tone_hz": [p.get("tone_hz") for p in probes],
            "first_probe_onsets": probes[0].get("onsets", []) if probes else [],
        },
        "speaker_onsets_sent": len(track.onsets),
    }


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=GOAL_LISTENERS, help="HLS listeners")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--ramp", type=float, default=None, help="seconds to start listeners")
    parser.add_argument("--settle", type=float, default=3.0, help="after the ramp")
    parser.add_argument("--warmup", type=float, default=5.0, help="before the first window")
    parser.add_argument("--client-processes", type=int, default=2, help="load generators")
    parser.add_argument("--webrtc-listeners", type=int, default=100, help="0 skips that window")
    parser.add_argument("--probes", type=int, default=4, help="HLS listeners that decode")
    parser.add_argument("--join-rate", type=float, default=40.0, help="WebRTC joins per second")
    parser.add_argument("--quick", action="store_true", help="smoke: 200 listeners, 4 s windows")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    if args.quick:
        args.listeners, args.seconds, args.webrtc_listeners = 200, 4.0, 10
        args.settle, args.warmup = 2.0, 2.0
    if args.ramp is None:
        args.ramp = min(10.0, max(1.0, args.listeners / 1000))
    if not 2 <= args.seconds <= 600:
        parser.error("--seconds must be in [2, 600]")
    if not 1 <= args.listeners <= 15000:
        parser.error("--listeners must be in 1..15000")
    if not 1 <= args.client_processes <= 4:
        parser.error("--client-processes must be in 1..4")
    if not 1 <= args.probes <= 20:
        parser.error("--probes must be in 1..20")
    if not 0 <= args.webrtc_listeners <= 1000:
        parser.error("--webrtc-listeners must be in 0..1000")
    if not 0 < args.ramp <= 60 or not 0 <= args.settle <= 60 or not 0 <= args.warmup <= 60:
        parser.error("--ramp must be in (0, 60], --settle and --warmup in [0, 60]")
    return args


def summary(result: dict[str, Any]) -> str:
    shares = result["origin_cpu_share"]
    goals = result["goals"]
    window = result["hls_window"]
    return "\n".join(
        [
            f"HLS listeners {result['hls_listeners']}: segment errors {result['segment_errors']} "
            f"{result['segment_errors_by_kind'] or ''}",
            f"origin cpu share: {shares} (delta {goals['origin_cpu_delta']:+.4f}, drift "
            f"{goals['origin_cpu_drift_0_to_0_after']:+.4f})",
            f"glass to glass p50 {result['glass_to_glass_p50_s']} s, p95 "
            f"{result['glass_to_glass_p95_s']} s ({result['glass_to_glass_samples']} onsets; "
            f"goal p50 <= {GOAL_GLASS_TO_GLASS_P50} s: "
            f"{'met' if goals['glass_to_glass_met'] else 'NOT met'})",
            f"nginx {window['requests_per_s']} req/s at {window['nginx_cpu_share']} core "
            f"({window['nginx_us_per_request']} us/request); load generator "
            f"{window['load_generator_cpu_share']} core",
            f"WebRTC: {result['webrtc_us_per_listener_packet']} us per listener packet "
            f"({result['webrtc_listeners']} listeners; marginal "
            f"{result['webrtc_marginal_us_per_listener_packet']} us)",
        ]
    )


def cli(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    budget = 300 + 5 * args.seconds + args.ramp + args.settle + args.warmup + args.listeners / 50
    directory = Path(tempfile.mkdtemp(prefix="bench-hls-"))
    try:
        result = asyncio.run(asyncio.wait_for(run(args, directory), budget))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    log(summary(result))
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    cli()
