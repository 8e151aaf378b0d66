"""Janus beside the fan-out benchmark: the same listeners, the same mix, Janus forwarding it.

Debian's ``janus`` (``apt-get install janus``) runs from a temporary config directory with only
its HTTP transport (loopback) and the streaming plugin: one RTP mountpoint fed one Opus stream
(the benchmark's pre-encoded tone, plain RTP on loopback), each listener an aiortc peer that
``watch``es it through the HTTP API (Janus offers, the listener answers) and counts SRTP
datagrams at its socket, exactly as the listeners of our worker do. Janus's CPU (user + system,
all threads, ``/proc/<pid>/stat``) per delivered listener packet is measured over the same kind
of window, with Janus pinned to the worker's core.

libnice (Janus's ICE) never gathers candidates on 127.0.0.1, so its listeners use the host's
own address that Janus offers: datagrams between two addresses of the same host go through the
loopback device all the same, and nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiortc import RTCSessionDescription

from media.client import EncodedToneTrack, MediaClient
from media.ice import restrict_host_addresses

LOOPBACK = "127.0.0.1"
LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
TICK = 0.02
MOUNTPOINT = 1
PR_SET_PDEATHSIG = 1


def janus_binary() -> str | None:
    return shutil.which("janus")


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


class JanusError(RuntimeError):
    pass


class Janus:
    """A Janus process configured for one audio mountpoint; always stopped by ``stop``."""

    def __init__(self, *, core: int | None, event_loops: int = 0) -> None:
        binary = janus_binary()
        if binary is None:
            raise JanusError("janus is not installed (apt-get install janus)")
        self.dir = Path(tempfile.mkdtemp(prefix="bench-janus-"))
        self.http_port = _free_port()
        self.rtp_port = _free_port(socket.SOCK_DGRAM)
        self.event_loops = event_loops
        self._write_config()
        self.log = (self.dir / "janus.log").open("w")
        cmd = [binary, "-F", str(self.dir / "conf"), "-C", str(self.dir / "conf/janus.jcfg"), "-o"]

        def pin_and_tie() -> None:
            # Janus dies with the benchmark, even when the benchmark is killed.
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            if core is not None:
                os.sched_setaffinity(0, {core})

        self.process = subprocess.Popen(
            cmd, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=pin_and_tie
        )
        self.pid = self.process.pid

    def _write_config(self) -> None:
        conf = self.dir / "conf"
        for name in ("conf", "plugins", "transports", "none"):
            (self.dir / name).mkdir()
        (self.dir / "plugins/libjanus_streaming.so").symlink_to(
            LIB / "plugins/libjanus_streaming.so"
        )
        (self.dir / "transports/libjanus_http.so").symlink_to(LIB / "transports/libjanus_http.so")
        loops = f"\tevent_loops = {self.event_loops}\n" if self.event_loops else ""
        (conf / "janus.jcfg").write_text(
            "general: {\n"
            f'\tconfigs_folder = "{conf}"\n'
            f'\tplugins_folder = "{self.dir / "plugins"}"\n'
            f'\ttransports_folder = "{self.dir / "transports"}"\n'
            f'\tevents_folder = "{self.dir / "none"}"\n'
            f'\tloggers_folder = "{self.dir / "none"}"\n'
            "\tdebug_level = 3\n"
            "\tsession_timeout = 0\n"
            f"{loops}"
            "}\n"
            "certificates: {\n}\n"
            'media: {\n\trtp_port_range = "20000-40000"\n}\n'
            "nat: {\n\tnice_debug = false\n}\n"
            "plugins: {\n}\ntransports: {\n}\nevents: {\n\tbroadcast = false\n}\n"
        )
        (conf / "janus.transport.http.jcfg").write_text(
            "general: {\n"
            '\tjson = "compact"\n\tbase_path = "/janus"\n\thttp = true\n'
            f'\tport = {self.http_port}\n\tinterface = "lo"\n\thttps = false\n'
            "}\nadmin: {\n\tadmin_http = false\n}\n"
        )
        (conf / "janus.plugin.streaming.jcfg").write_text(
            "general: {\n}\n"
            "mix: {\n"
            f'\ttype = "rtp"\n\tid = {MOUNTPOINT}\n\tdescription = "bench mix"\n'
            "\taudio = true\n\tvideo = false\n"
            f'\taudioport = {self.rtp_port}\n\taudiopt = 111\n\taudiocodec = "opus"\n'
            f'\taudioiface = "{LOOPBACK}"\n'
            "}\n"
        )

    def cpu_seconds(self) -> float:
        """User + system CPU of every Janus thread so far (exited threads included)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def runqueue_wait(self) -> float:
        """Seconds its threads spent runnable while another process held the core."""
        total = 0
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{self.pid}/task"):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    schedstat = Path(f"/proc/{self.pid}/task/{task}/schedstat").read_text()
                    total += int(schedstat.split()[1])
        return total / 1e9

    def threads(self) -> int:
        with contextlib.suppress(OSError):
            return len(os.listdir(f"/proc/{self.pid}/task"))
        return 0

    async def request(
        self, path: str, body: dict[str, Any] | None = None, within: float = 10.0
    ) -> dict[str, Any]:
        """One HTTP request to the Janus API (POST with ``body``, else a GET long poll)."""

        async def go() -> dict[str, Any]:
            reader, writer = await asyncio.open_connection(LOOPBACK, self.http_port)
            try:
                if body is None:
                    head = f"GET {path} HTTP/1.0\r\nHost: {LOOPBACK}\r\nConnection: close\r\n\r\n"
                    writer.write(head.encode())
                else:
                    data = json.dumps({**body, "transaction": f"{random.getrandbits(48):x}"})
                    payload = data.encode()
                    writer.write(
                        (
                            f"POST {path} HTTP/1.0\r\nHost: {LOOPBACK}\r\n"
                            "Content-Type: application/json\r\nConnection: close\r\n"
                            f"Content-Length: {len(payload)}\r\n\r\n"
                        ).encode()
                        + payload
                    )
                await writer.drain()
                raw = await reader.read()
            finally:
                writer.close()
            _, _, content = raw.partition(b"\r\n\r\n")
            response: Any = json.loads(content) if content.strip() else {}
            if isinstance(response, dict) and response.get("janus") == "error":
                raise JanusError(f"{path}: {response.get('error')}")
            return response

        return await asyncio.wait_for(go(), within)

    async def ready(self, within: float = 15.0) -> None:
        deadline = time.monotonic() + within
        while True:
            if self.process.poll() is not None:
                raise JanusError(f"janus exited: {self.tail()}")
            try:
                await self.request("/janus/info", within=2)
                return
            except (TimeoutError, OSError, json.JSONDecodeError):
                if time.monotonic() > deadline:
                    raise JanusError(f"janus did not answer: {self.tail()}") from None
                await asyncio.sleep(0.2)

    def tail(self, n: int = 15) -> str:
        self.log.flush()
        lines = (self.dir / "janus.log").read_text(errors="replace").splitlines()
        return " | ".join(lines[-n:])

    async def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                await asyncio.get_running_loop().run_in_executor(None, self.process.wait, 15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Feeder:
    """The mix as plain RTP into the mountpoint: one pre-encoded Opus packet every 20 ms."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.payloads = EncodedToneTrack(440)._payloads
        self.task: asyncio.Task[None] | None = None
        self.sent = 0

    def start(self) -> None:
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        ssrc = random.getrandbits(32)
        seq0, ts0 = random.getrandbits(15), random.getrandbits(32)
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            n = 0
            while True:
                payload = self.payloads[n % len(self.payloads)]
                header = struct.pack(
                    "!BBHII", 0x80, 111, (seq0 + n) & 0xFFFF, (ts0 + n * 960) & 0xFFFFFFFF, ssrc
                )
                with contextlib.suppress(BlockingIOError):
                    sock.sendto(header + payload, (LOOPBACK, self.port))
                    self.sent += 1
                n += 1
                delay = start + n * TICK - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
        finally:
            sock.close()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def host_candidate(sdp: str) -> str:
    """The first IPv4 host candidate's address in an SDP."""
    for line in sdp.splitlines():
        parts = line.split()
        if (
            line.startswith("a=candidate:")
            and len(parts) > 7
            and parts[7] == "host"
            and parts[2].lower() == "udp"
            and ":" not in parts[4]
        ):
            return parts[4]
    raise JanusError("Janus offered no IPv4 host candidate")


class Watchers:
    """Janus streaming viewers: one Janus session, one plugin handle and aiortc peer each."""

    def __init__(self, janus: Janus) -> None:
        self.janus = janus
        self.session = 0
        self.offers: dict[int, asyncio.Future[str]] = {}
        self.poller: asyncio.Task[None] | None = None

    async def open(self) -> None:
        created = await self.janus.request("/janus", {"janus": "create"})
        self.session = int(created["data"]["id"])
        self.poller = asyncio.ensure_future(self._poll())

    async def _poll(self) -> None:
        """Long-poll the session's events; hand each handle its JSEP offer."""
        path = f"/janus/{self.session}?maxev=10"
        while True:
            try:
                raw = await self.janus.request(path, within=60)
            except (TimeoutError, OSError, JanusError, json.JSONDecodeError):
                await asyncio.sleep(0.1)
                continue
            events = raw if isinstance(raw, list) else [raw]
            for event in events:
                jsep = event.get("jsep")
                waiter = self.offers.get(int(event.get("sender", 0)))
                if jsep and jsep.get("type") == "offer" and waiter and not waiter.done():
                    waiter.set_result(jsep["sdp"])

    async def watch(self, client: MediaClient, within: float = 20.0) -> None:
        """Attach, ``watch`` the mountpoint, answer Janus's offer, ``start``, wait connected."""
        base = f"/janus/{self.session}"
        attached = await self.janus.request(
            base, {"janus": "attach", "plugin": "janus.plugin.streaming"}
        )
        handle = int(attached["data"]["id"])
        offer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.offers[handle] = offer
        await self.janus.request(
            f"{base}/{handle}",
            {"janus": "message", "body": {"request": "watch", "id": MOUNTPOINT}},
        )
        sdp = await asyncio.wait_for(offer, within)
        # libnice never gathers on 127.0.0.1: the listeners use the host address Janus offers.
        # Between two addresses of this host the traffic still goes through the loopback device.
        restrict_host_addresses([host_candidate(sdp)])
        pc = client.pc
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await self.janus.request(
            f"{base}/{handle}",
            {
                "janus": "message",
                "body": {"request": "start"},
                "jsep": {"type": "answer", "sdp": pc.localDescription.sdp},
            },
        )
        # The answer carries every candidate (aiortc gathers first); Janus still waits to be told.
        await self.janus.request(
            f"{base}/{handle}", {"janus": "trickle", "candidate": {"completed": True}}
        )
        await asyncio.wait_for(client.connected.wait(), within)

    async def close(self) -> None:
        if self.poller is not None:
            self.poller.cancel()
            await asyncio.gather(self.poller, return_exceptions=True)


async def join_watchers(
    watchers: Watchers, clients: Sequence[MediaClient], *, rate: float, concurrency: int = 16
) -> tuple[list[MediaClient], list[str]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(client: MediaClient) -> None:
        async with gate:
            await watchers.watch(client)

    tasks = []
    for client in clients:
        tasks.append(asyncio.ensure_future(one(client)))
        await asyncio.sleep(1.0 / rate)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    connected = [c for c, r in zip(clients, results, strict=True) if r is None]
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    return connected, failures
