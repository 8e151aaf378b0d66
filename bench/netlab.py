"""Network lab: a media origin and aiortc peers across impaired links, with speech scored by PESQ.

Topology (all namespaces named ``spn-<pid>-*``, removed on exit, on exceptions and on SIGTERM)::

    speaker ns (P) 10.201.2.1 ──┐
                                ├── router ns (R) ── origin ns (S) 10.201.1.1
    listener ns (L) 10.201.3.1 ─┘

Each client sits behind its own link, so a packet from the speaker to the listener crosses two
impaired legs (P→S, S→L), each with the profile's loss and one-way delay. Impairments, in R:

- random loss: nftables ``numgen random mod 100 < N drop`` in R's forward hook, RTP/RTCP only
  (first payload byte 0b10xxxxxx: ICE and DTLS are spared so every run connects);
- bursty loss (Gilbert model, mean burst 3 packets), delay, jitter, reordering and a rate cap:
  a user-space stage. This kernel has no netem qdisc; here policy routing sends every packet
  that R forwards to a TUN device, the stage (a Python process in R) holds it for its due time
  and writes it back, and it is routed on. No package beyond the standard library is needed.

Processes: the origin (``media.worker.MediaWorker``) in S, answering joins over a Unix socket
(namespaces share the file system); the speaker (pre-encoded espeak-ng speech, with in-band
FEC as Chromium sends it) in P; the listener in L, recording every RTP packet with its arrival
time while aiortc's receiver still sends its RTCP receiver reports (the origin's FEC strength
and its RED follow them). Both clients offer RED (RFC 2198) as Chromium does; the speaker sends
it (one earlier frame per packet) when the answer lists it first, and follows the origin's
``reoffer`` as the site's client does (a new connection, then the old one closed). The
listener's audio is decoded afterwards as a browser would: a fixed playout deadline, late
packets lost, a lost frame taken from a later packet's RED copy, else the FEC of the next
packet, else concealment.

``run_profile`` returns PESQ-WB, delivery ratio and delays; ``bench.network`` prints them.
Needs root, ``ip`` (iproute2), ``nft`` (nftables), ``espeak-ng`` and libopus.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import fractions
import heapq
import json
import math
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
SPACE = "netlab"
SERVER_IP = "10.201.1.1"
SPEAKER_IP = "10.201.2.1"
LISTENER_IP = "10.201.3.1"
SIDES = {"s": SERVER_IP, "p": SPEAKER_IP, "l": LISTENER_IP}
TUN = "spt"
LEG_MATCH = {"both": "", "up": f"ip saddr {SPEAKER_IP} ", "down": f"ip daddr {LISTENER_IP} "}
STAGE_TABLE = "100"
LEAD_S = 1.0
MAX_DELAY_S = 1.5
TAIL_S = 1.5
SPEECH = (
    "The quick brown fox jumps over the lazy dog. "
    "Please call Stella and ask her to bring these things with her from the store. "
    "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack "
    "for her brother Bob."
)
Pcm = npt.NDArray[np.float32]


def missing_tools() -> list[str]:
    """What this machine lacks to run the lab (empty: it can)."""
    missing = [t for t in ("ip", "nft", "espeak-ng") if shutil.which(t) is None]
    if os.geteuid() != 0:
        missing.append("root")
    import ctypes.util

    if ctypes.util.find_library("opus") is None:
        missing.append("libopus")
    return missing


@dataclass(frozen=True)
class Impairment:
    """What R does to every packet it forwards, on each leg and in each direction."""

    loss_pct: float = 0.0
    burst: bool = False
    """Loss in bursts (Gilbert model, mean burst ``burst_len`` packets) instead of at random."""
    burst_len: float = 3.0
    delay_ms: float = 0.0
    """One way, per leg."""
    jitter_ms: float = 0.0
    """Extra delay, uniform in [0, jitter]; order kept (a packet never overtakes because of it)."""
    reorder_pct: float = 0.0
    """This share of packets is held ``reorder_ms`` longer and lets later ones overtake it."""
    reorder_ms: float = 30.0
    rate_kbit: float = 0.0
    """Cap of each leg and direction (IP bytes); a packet queued longer than 400 ms is dropped."""
    legs: str = "both"
    """Where random loss applies: ``both``, ``up`` (speaker to origin) or ``down`` (origin to
    listener); for diagnosis, the bench's rows use both."""

    @property
    def needs_stage(self) -> bool:
        return bool(
            (self.burst and self.loss_pct)
            or self.delay_ms
            or self.jitter_ms
            or self.reorder_pct
            or self.rate_kbit
        )


def _sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=20)


class Lab:
    """The namespaces and links; a context manager that always removes them."""

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix or f"spn-{os.getpid()}"
        self.ns = {side: f"{self.prefix}-{side}" for side in ("s", "p", "l", "r")}
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
        self.stage: subprocess.Popen[bytes] | None = None
        self.impairment = Impairment()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._old_handlers: dict[int, Any] = {}

    def __enter__(self) -> Lab:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError):  # not the main thread: the caller cleans up
                self._old_handlers[signum] = signal.signal(signum, self._on_signal)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    def _build(self) -> None:
        r = self.ns["r"]
        for name in self.ns.values():
            _sh("ip", "netns", "add", name)
            _sh("ip", "-n", name, "link", "set", "lo", "up")
        for i, side in enumerate(("s", "p", "l"), start=1):
            ns = self.ns[side]
            ip = SIDES[side]
            gw = ip.rsplit(".", 1)[0] + ".254"
            # Created inside the namespaces: no name in the host namespace to clash with.
            _sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"r{side}",
                "netns", r)  # fmt: skip
            _sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
            _sh("ip", "-n", ns, "link", "set", "eth0", "up")
            _sh("ip", "-n", ns, "route", "add", "default", "via", gw)
            _sh("ip", "-n", r, "addr", "add", f"{gw}/24", "dev", f"r{side}")
            _sh("ip", "-n", r, "link", "set", f"r{side}", "up")
            # Forwarded packets go to the stage's TUN device when it runs (table 100 is empty
            # otherwise, so the lookup falls through to the main table).
            _sh("ip", "-n", r, "rule", "add", "iif", f"r{side}", "lookup", STAGE_TABLE,
                "priority", str(100 + i))  # fmt: skip
        for key in ("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                    "net.ipv4.conf.default.rp_filter=0"):  # fmt: skip
            _sh("ip", "netns", "exec", r, "sysctl", "-qw", key)
        self._nft(0.0)

    def _nft(self, loss_pct: float, legs: str = "both") -> None:
        rule = ""
        if loss_pct > 0:
            leg = LEG_MATCH[legs]
            # RTP and RTCP only (version bits 10), never what the stage writes back.
            rule = (
                f'{leg}iifname != "{TUN}" meta l4proto udp @th,64,2 2 '
                f"numgen random mod 100 < {round(loss_pct)} drop"
            )
        script = (
            "table inet spn\ndelete table inet spn\n"
            "table inet spn {\n chain forward {\n"
            "  type filter hook forward priority 0; policy accept;\n"
            f"  {rule}\n }}\n}}\n"
        )
        subprocess.run(
            ["ip", "netns", "exec", self.ns["r"], "nft", "-f", "-"],
            input=script, check=True, capture_output=True, text=True, timeout=20,
        )  # fmt: skip

    def impair(self, impairment: Impairment) -> None:
        """Apply a profile to both legs from now on (replacing the previous one)."""
        self._stop_stage()
        self.impairment = impairment
        self._nft(0.0 if impairment.burst else impairment.loss_pct, impairment.legs)
        if impairment.needs_stage:
            ready = self.tmp / "stage.ready"
            ready.unlink(missing_ok=True)
            self.stage = self.spawn("r", "stage", json.dumps(asdict(impairment)), str(ready))
            deadline = time.monotonic() + 15
            while not ready.exists():
                if self.stage.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the impairment stage did not start")
                time.sleep(0.05)

    def _stop_stage(self) -> None:
        if self.stage is not None:
            _stop(self.stage)
            self.stage = None

    def spawn(self, side: str, *args: str) -> subprocess.Popen[bytes]:
        """``python -m bench.netlab <args>`` inside one namespace."""
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns[side], sys.executable, "-m", "bench.netlab", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self._procs:
            _stop(proc)
        self._procs.clear()
        self.stage = None
        for name in self.ns.values():
            _sh("ip", "netns", "del", name, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)
        self._old_handlers.clear()


def _stop(proc: subprocess.Popen[bytes], within: float = 5.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(within)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(within)


def leftover_namespaces() -> list[str]:
    """``spn-*`` namespaces of processes that no longer exist (a crashed run)."""
    out = _sh("ip", "netns", "list", check=False).stdout
    stale = []
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name.split("-")
        ours = len(parts) == 3 and parts[0] == "spn" and parts[1].isdigit()
        if ours and not Path(f"/proc/{parts[1]}").exists():
            stale.append(name)
    return stale


# -- the impairment stage (runs in R) ------------------------------------------------------------

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


class Stage:
    """Delay, jitter, reordering, rate cap and bursty loss on every packet R forwards."""

    QUEUE_LIMIT = 0.4

    def __init__(self, imp: Impairment, fd: int, seed: int = 1) -> None:
        self.imp = imp
        self.fd = fd
        self.rng = random.Random(seed)
        self.loop = asyncio.get_running_loop()
        self.link_free: dict[bytes, float] = {}
        self.last_due: dict[bytes, float] = {}
        self.bad: dict[bytes, bool] = {}
        self.heap: list[tuple[float, int, bytes]] = []
        self.n = 0
        self.timer: asyncio.TimerHandle | None = None
        # Gilbert model: loss only in the bad state; r = 1/mean burst, p from the mean loss.
        loss = imp.loss_pct / 100.0 if imp.burst else 0.0
        self.r = 1.0 / max(1.0, imp.burst_len)
        self.p = loss * self.r / (1.0 - loss) if loss < 1 else 1.0

    def on_readable(self) -> None:
        for _ in range(256):
            try:
                packet = os.read(self.fd, 65535)
            except BlockingIOError:
                return
            self.handle(packet)

    def handle(self, packet: bytes) -> None:
        imp = self.imp
        now = self.loop.time()
        if len(packet) < 20 or packet[0] >> 4 != 4:
            return
        leg = packet[12:20]  # source and destination address: one leg and direction
        ihl = (packet[0] & 0x0F) * 4
        media = packet[9] == 17 and len(packet) > ihl + 8 and 128 <= packet[ihl + 8] < 192
        if media and self.p:
            bad = self.bad.get(leg, False)
            bad = (self.rng.random() >= self.r) if bad else (self.rng.random() < self.p)
            self.bad[leg] = bad
            if bad:
                return
        due = now + imp.delay_ms / 1000.0
        if imp.jitter_ms:
            due += self.rng.uniform(0.0, imp.jitter_ms / 1000.0)
        if imp.reorder_pct and media and self.rng.random() * 100.0 < imp.reorder_pct:
            due += imp.reorder_ms / 1000.0
        else:
            due = max(due, self.last_due.get(leg, 0.0))
            self.last_due[leg] = due
        if imp.rate_kbit:
            start = max(due, self.link_free.get(leg, 0.0))
            if start - now > self.QUEUE_LIMIT:
                return  # tail drop: the queue of this link is full
            due = start + len(packet) * 8 / (imp.rate_kbit * 1000.0)
            self.link_free[leg] = due
        self.n += 1
        heapq.heappush(self.heap, (due, self.n, packet))
        self._arm()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.heap:
            self.timer = self.loop.call_at(self.heap[0][0], self._release)

    def _release(self) -> None:
        self.timer = None
        now = self.loop.time()
        while self.heap and self.heap[0][0] <= now + 0.0005:
            _, _, packet = heapq.heappop(self.heap)
            with contextlib.suppress(OSError):
                os.write(self.fd, packet)
        self._arm()


async def _stage_main(spec: str, ready: str) -> None:
    imp = Impairment(**json.loads(spec))
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", TUN.encode(), IFF_TUN | IFF_NO_PI))
    _sh("ip", "link", "set", TUN, "up")
    _sh("sysctl", "-qw", f"net.ipv4.conf.{TUN}.rp_filter=0")
    _sh("ip", "route", "add", "10.201.0.0/16", "dev", TUN, "table", STAGE_TABLE)
    stage = Stage(imp, fd)
    loop = asyncio.get_running_loop()
    loop.add_reader(fd, stage.on_readable)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    Path(ready).touch()  # noqa: ASYNC240 (once, before serving)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), 3600)
    os.close(fd)  # the device and its route go with it


# -- the origin (runs in S) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Protection:
    """Which of the origin's protections are on (``media.config.MediaConfig`` fields)."""

    opus_fec: bool = False
    speaker_fec: bool = False
    opus_dtx: bool = False
    red_distance: int = 0
    red_from_speakers: bool = True
    bitrate: int = 32_000
    """What the origin encodes (``MEDIA_OPUS_BITRATE``)."""
    lossy_speaker_bitrate: int = 0
    """What a speaker whose packets are lost is asked to send (``MEDIA_LOSSY_SPEAKER_BITRATE``);
    otherwise the speaker sends 32 kb/s, as Chromium does."""

    @property
    def label(self) -> str:
        named = [
            ("fec", self.opus_fec),
            ("speaker_fec", self.speaker_fec),
            ("dtx", self.opus_dtx),
            (
                f"red{self.red_distance}" + ("" if self.red_from_speakers else "down"),
                self.red_distance,
            ),
        ]
        parts = [name for name, on in named if on] or ["off"]
        if self.lossy_speaker_bitrate:
            parts.append(f"up{self.lossy_speaker_bitrate // 1000}k")
        if self.bitrate != 32_000:
            parts.append(f"{self.bitrate // 1000}k")
        return "+".join(parts)


OFF = Protection()
FEC = Protection(opus_fec=True, speaker_fec=True)
RED = Protection(opus_fec=True, speaker_fec=True, red_distance=2, lossy_speaker_bitrate=48_000)
"""The product's defaults (``MEDIA_OPUS_FEC``, ``MEDIA_SPEAKER_FEC``, ``MEDIA_RED_DISTANCE``,
``MEDIA_LOSSY_SPEAKER_BITRATE``)."""
RED_32K = replace(RED, lossy_speaker_bitrate=0)
"""The defaults but a lossy speaker's bit rate left at 32 kb/s (what the lever buys)."""
RED_DOWN = Protection(opus_fec=True, speaker_fec=True, red_distance=2, red_from_speakers=False)
"""RED to listeners only (``MEDIA_RED_FROM_SPEAKERS=0``), the speaker left at 32 kb/s."""
CLIENT_RED_PT = 63  # what Chromium offers
OPUS_PT_AIORTC = 96  # the Opus payload type aiortc offers
SPEAKER_RED_DISTANCE = 1  # what Chromium sends
SPEAKER_BITRATE = 32_000  # what Chromium sends unless the answer asks for another rate


async def _server_main(control: str, protection: str) -> None:
    from media.config import MediaConfig
    from media.ice import restrict_host_addresses
    from media.worker import MediaWorker

    restrict_host_addresses([SERVER_IP])
    prot = Protection(**json.loads(protection))
    reoffers: asyncio.Queue[str] = asyncio.Queue()
    worker = MediaWorker(
        MediaConfig(host_addresses=(SERVER_IP,), gc_freeze=False, **asdict(prot)),
        on_reoffer=lambda space, user, reason: reoffers.put_nowait(reason),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    members: dict[str, dict[str, int]] = {}

    async def snapshot() -> None:
        # Members are gone once their clients leave: keep their last counters.
        while True:
            members.update(_member_counters(worker))
            await asyncio.sleep(0.2)

    snapshots = asyncio.ensure_future(snapshot())

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = json.loads(await reader.readline())
            if request["op"] == "join":
                sdp = await worker.join(SPACE, request["user"], request["role"], request["sdp"])
                response: dict[str, Any] = {"sdp": sdp}
            elif request["op"] == "watch":  # the speaker's: its next `reoffer` (one socket each)
                try:
                    response = {"reoffer": await reoffers.get()}
                except asyncio.CancelledError:  # the origin stops: Python 3.11's streams
                    writer.close()  # would log the cancelled handler as an error
                    return
            else:
                response = {"stats": worker.stats(), "members": members}
        except Exception as exc:
            response = {"error": f"{type(exc).__name__}: {exc}"}
        writer.write(json.dumps(response, default=str).encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(handle, control)
    async with server:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 600)
    snapshots.cancel()
    await worker.close()


def offer_red(offer: str, red_pt: int = CLIENT_RED_PT) -> str:
    """``offer`` with RED for its Opus added to the audio section, as Chromium offers it."""
    lines = offer.split("\r\n")
    opus = next(
        (line.split()[0].split(":")[1] for line in lines if "opus/48000" in line.lower()), None
    )
    if opus is None:
        return offer
    out: list[str] = []
    for line in lines:
        if line.startswith("m=audio "):
            line += f" {red_pt}"
        out.append(line)
        if line.lower().startswith(f"a=rtpmap:{opus} opus/48000"):
            out += [f"a=rtpmap:{red_pt} red/48000/2", f"a=fmtp:{red_pt} {opus}/{opus}"]
    return "\r\n".join(out)


def answered_bitrate(answer: str) -> int | None:
    """The Opus ``maxaveragebitrate`` the answer asks for, if any (a browser encodes at it)."""
    for line in answer.split("\r\n"):
        if line.startswith("a=fmtp:") and "maxaveragebitrate=" in line:
            return int(line.split("maxaveragebitrate=")[1].split(";")[0])
    return None


def answered_red(answer: str) -> tuple[int | None, bool]:
    """RED's payload type if the answer took it, and whether it comes first (Chromium sends
    RED only then)."""
    lines = answer.split("\r\n")
    for line in lines:
        if line.startswith("a=rtpmap:") and " red/48000" in line.lower():
            pt = line.split()[0].split(":")[1]
            m_line = next((m for m in lines if m.startswith("m=audio ")), "")
            return int(pt), m_line.split()[3:4] == [pt]
    return None, False


def _member_counters(worker: Any) -> dict[str, dict[str, int]]:
    """Per member: the mix FIFO's underruns and drops, and the packet buffer's counts."""
    origin = worker._origins.get(SPACE)
    found: dict[str, dict[str, int]] = {}
    for user, member in origin.members.items() if origin is not None else ():
        counters = {
            "underruns": member.fifo.underruns,
            "dropped_samples": member.fifo.dropped_samples,
        }
        packets = member.packets
        if packets is not None:
            counters.update(
                decoded=packets.decoded,
                recovered=packets.recovered,
                concealed=packets.concealed,
                late=packets.late,
                trimmed=packets.trimmed,
                repaired=packets.repaired,
            )
        out = member.peer.outbound
        counters["red"] = int(bool(out is not None and out.red))
        counters["red_received"] = member.peer.red_received
        found[str(user)] = counters
    if origin is not None:
        found["origin"] = {
            "encoder_loss_pct": getattr(origin._encoder, "packet_loss", -1),
            "skipped_ticks": origin.stats.skipped_ticks,
        }
    return found


async def _call(control: str, request: dict[str, Any], within: float = 20.0) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        reader, writer = await asyncio.open_unix_connection(control)
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        line = await reader.readline()
        writer.close()
        response: dict[str, Any] = json.loads(line)
        if "error" in response:
            raise RuntimeError(response["error"])
        return response

    return await asyncio.wait_for(go(), within)


# -- speech --------------------------------------------------------------------------------------


def _resample(pcm: npt.NDArray[np.int16], rate_in: int, rate_out: int) -> npt.NDArray[np.int16]:
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate_in
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate_out)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.int16)


def speech_16k(text: str = SPEECH, cache: Path | None = None) -> npt.NDArray[np.int16]:
    """espeak-ng's voice at 16 kHz (PESQ-WB's rate), peak at -3 dBFS."""
    if cache is not None and cache.exists():
        return np.load(cache)
    with tempfile.TemporaryDirectory(prefix="spn-speech-") as tmp:
        wav = Path(tmp) / "speech.wav"
        _sh("espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text)
        with av.open(str(wav)) as container:
            stream = container.streams.audio[0]
            rate = stream.rate
            chunks = [f.to_ndarray().reshape(-1).astype(np.int16) for f in container.decode(stream)]
    pcm = _resample(np.concatenate(chunks), rate, 16_000).astype(np.float32)
    pcm *= 0.7 * 32767.0 / max(1.0, float(np.abs(pcm).max()))
    out = pcm.astype(np.int16)
    if cache is not None:
        np.save(cache, out)
    return out


def encode_talk(
    speech16: npt.NDArray[np.int16], loss_pct: int, bitrate: int = 32_000
) -> list[bytes]:
    """Lead silence, the speech at 48 kHz, tail silence, as 20 ms Opus packets with FEC on and
    the expected loss set as a browser sets it from the receiver reports it gets, at the bit
    rate a browser picks (32 kb/s, or the answer's ``maxaveragebitrate``)."""
    from media.dsp import FRAME_SAMPLES, LibOpusEncoder

    speech48 = _resample(speech16, 16_000, 48_000)
    lead = np.zeros(round(LEAD_S * 48_000), dtype=np.int16)
    tail = np.zeros(round(TAIL_S * 48_000), dtype=np.int16)
    pcm = np.concatenate([lead, speech48, tail])
    pcm = np.pad(pcm, (0, -len(pcm) % FRAME_SAMPLES))
    encoder = LibOpusEncoder(bitrate=bitrate, complexity=10, fec=True, packet_loss=loss_pct)
    return [
        encoder.encode(pcm[i : i + FRAME_SAMPLES])[0] for i in range(0, len(pcm), FRAME_SAMPLES)
    ]


# -- the clients (speaker in P, listener in L) ---------------------------------------------------


async def _speaker_main(control: str, packets_file: str) -> None:
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    from media.client import MediaClient
    from media.dsp import FRAME_SAMPLES
    from media.ice import restrict_host_addresses
    from media.red import RedHistory

    restrict_host_addresses([SPEAKER_IP])
    text = Path(packets_file).read_text()  # noqa: ASYNC240 (once, before connecting)
    # The speech encoded at each bit rate an answer may ask for; as it is, and as aiortc sends
    # it once the answer lists RED first: RED around each payload.
    plain: dict[int, list[bytes]] = {}
    wrapped: dict[int, list[bytes]] = {}
    for rate, hexes in json.loads(text).items():
        plain[int(rate)] = [bytes.fromhex(h) for h in hexes]
        history = RedHistory(SPEAKER_RED_DISTANCE, FRAME_SAMPLES)
        wrapped[int(rate)] = []
        for n, payload in enumerate(plain[int(rate)]):
            wrapped[int(rate)].append(history.wrap(OPUS_PT_AIORTC, n * FRAME_SAMPLES, payload))
            history.add(n * FRAME_SAMPLES, payload)
    frames = len(plain[SPEAKER_BITRATE])
    done = asyncio.Event()
    started: list[float] = []
    reoffers: list[dict[str, Any]] = []  # each: the reason, when asked, how long it took

    class Talk(MediaStreamTrack):
        """The speech in real time from its first frame on; a connection made later (a
        re-offer) joins it where it is, as a microphone track shared by two connections."""

        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self.n = -1
            self.payloads = plain[SPEAKER_BITRATE]

        async def recv(self) -> av.Packet:
            if not started:
                started.append(time.monotonic())
            if self.n < 0:
                self.n = max(0, math.ceil((time.monotonic() - started[0]) / 0.02))
            if self.n >= frames:
                done.set()
                raise MediaStreamError
            wait = started[0] + self.n * 0.02 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            packet = av.Packet(self.payloads[self.n])
            packet.pts = self.n * 960
            packet.time_base = fractions.Fraction(1, 48_000)
            self.n += 1
            return packet

    def connection() -> MediaClient:
        talk = Talk()

        async def exchange(offer: str) -> str:
            join = {"op": "join", "user": "speaker", "role": "speaker", "sdp": offer_red(offer)}
            response = await _call(control, join)
            answer = str(response["sdp"])
            rate = answered_bitrate(answer) or SPEAKER_BITRATE
            talk.payloads = plain[rate]
            pt, first = answered_red(answer)
            if pt is not None and first:
                send_red(client, talk, pt, rate)
            return answer

        client = MediaClient(exchange, send=talk, receive="none", name="speaker")
        return client

    def send_red(client: MediaClient, talk: Talk, pt: int, rate: int) -> None:
        """aiortc sends no RED: wrap each payload and mark the packet as Chromium would."""
        talk.payloads = wrapped[rate]
        transport = client.pc.getTransceivers()[0].sender.transport
        send_rtp = transport._send_rtp

        async def as_red(data: bytes) -> None:
            if len(data) > 1 and data[1] & 0x7F == OPUS_PT_AIORTC:  # RTP, not RTCP
                data = data[:1] + bytes(((data[1] & 0x80) | pt,)) + data[2:]
            await send_rtp(data)

        transport._send_rtp = as_red  # type: ignore[method-assign]

    async def follow_reoffers() -> None:
        """The site's client on a server `reoffer`: a new connection, then the old one goes."""
        while True:
            response = await _call(control, {"op": "watch", "user": "speaker"}, within=600)
            asked = time.monotonic()
            fresh = connection()
            await fresh.connect(within=20)
            reoffers.append(
                {
                    "reason": response["reoffer"],
                    "at_s": round(asked - started[0], 2) if started else None,
                    "connected_s": round(time.monotonic() - asked, 2),
                }
            )
            old, current[0] = current[0], fresh
            await old.close()

    current = [connection()]  # the connection that sends; a re-offer replaces it
    follower = None
    try:
        await current[0].connect(within=20)
        follower = asyncio.ensure_future(follow_reoffers())
        await asyncio.wait_for(done.wait(), frames * 0.02 + 30)
        await asyncio.sleep(0.5)
    finally:
        if follower is not None:
            follower.cancel()
        await current[0].close()
    print(json.dumps({"t0": started[0] if started else None, "reoffers": reoffers}), flush=True)


async def _listener_main(control: str, out: str, stop_file: str) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamError
    from aiortc.rtp import RtpPacket

    from media.ice import restrict_host_addresses, rtc_configuration

    restrict_host_addresses([LISTENER_IP])
    pc = RTCPeerConnection(rtc_configuration([]))
    transceiver = pc.addTransceiver("audio", direction="recvonly")
    receiver = transceiver.receiver
    original = receiver._handle_rtp_packet
    loop = asyncio.get_running_loop()
    got: list[tuple[float, int, int, str]] = []
    red_pt: list[int] = []
    from media import red

    async def record(packet: RtpPacket, arrival_time_ms: int) -> None:
        payload = packet.payload
        if red_pt and packet.payload_type == red_pt[0]:
            # Kept whole for the scoring; aiortc, which has no RED, counts it as its Opus.
            got.append((loop.time(), packet.sequence_number, packet.timestamp, "r" + payload.hex()))
            with contextlib.suppress(red.RedError):
                packet.payload_type, packet.payload = red.unpack(payload)[:2]
        else:
            got.append((loop.time(), packet.sequence_number, packet.timestamp, payload.hex()))
        await original(packet, arrival_time_ms)  # aiortc's statistics feed its receiver reports

    receiver._handle_rtp_packet = record  # type: ignore[method-assign]
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def on_state() -> None:
        if pc.connectionState == "connected":
            connected.set()

    await pc.setLocalDescription(await pc.createOffer())
    response = await _call(control, {"op": "join", "user": "listener", "role": "listener",
                                     "sdp": offer_red(pc.localDescription.sdp)})  # fmt: skip
    pt, _ = answered_red(response["sdp"])
    if pt is not None:
        red_pt.append(pt)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=response["sdp"], type="answer"))
    if red_pt:
        # aiortc routes a payload type it did not negotiate nowhere; a browser negotiated RED.
        router = receiver.transport._rtp_router
        router.payload_type_table.setdefault(red_pt[0], set()).add(receiver)

    async def drain() -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                await receiver.track.recv()

    drainer = asyncio.ensure_future(drain())
    try:
        await asyncio.wait_for(connected.wait(), 20)
        print("ready", flush=True)
        # The harness says stop with a file: the namespaces share the file system only.
        stop = Path(stop_file)
        for _ in range(6000):  # at most 300 s
            if stop.exists():  # noqa: ASYNC240 (a stat every 50 ms)
                break
            await asyncio.sleep(0.05)
    finally:
        drainer.cancel()
        Path(out).write_text(json.dumps(got))  # noqa: ASYNC240 (once, at the end)
        await pc.close()


# -- one measured run ----------------------------------------------------------------------------


@dataclass
class Result:
    pesq_wb: float
    delivery_ratio: float
    delays_ms: list[float] = field(repr=False)
    """One-way, speaker's send to listener's arrival, per packet that carried speech."""
    lag_samples: int = 0
    packets: int = 0
    payload_kbps: float = 0.0
    """RTP payload the listener received, per second of the run (RED and DTX show here)."""
    origin: dict[str, Any] = field(default_factory=dict, repr=False)
    """The origin's counters at the end (``MediaWorker.stats()``)."""
    reoffers: list[dict[str, Any]] = field(default_factory=list)
    """Each time the origin asked the speaker to offer again (a RED uplink that filled)."""


def _readline(proc: subprocess.Popen[bytes], within: float) -> str:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    buf = b""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(BlockingIOError, TypeError):
            chunk = os.read(fd, 4096)
            if not chunk and proc.poll() is not None:
                break
            buf += chunk
            if b"\n" in buf:
                return buf.split(b"\n", 1)[0].decode()
        time.sleep(0.02)
    raise RuntimeError(f"no answer from {proc.args!r} (exit {proc.poll()})")


def run_profile(
    lab: Lab,
    impairment: Impairment,
    protection: Protection,
    speech16: npt.NDArray[np.int16],
    *,
    playout_ms: float = 60.0,
) -> Result:
    """One speaker, one listener, the speech once, through ``impairment`` with ``protection``."""
    lab.impair(impairment)
    tag = f"{impairment.loss_pct}-{int(impairment.burst)}-{protection.label}-{time.monotonic_ns()}"
    control = str(lab.tmp / f"ctl-{tag}.sock")
    talk = lab.tmp / f"talk-{tag}.json"
    heard = lab.tmp / f"heard-{tag}.json"
    stop = lab.tmp / f"stop-{tag}"
    rates = {SPEAKER_BITRATE, protection.lossy_speaker_bitrate or SPEAKER_BITRATE}
    payloads = {rate: encode_talk(speech16, round(impairment.loss_pct), rate) for rate in rates}
    talk.write_text(json.dumps({rate: [p.hex() for p in ps] for rate, ps in payloads.items()}))
    server = lab.spawn("s", "server", control, json.dumps(asdict(protection)))
    try:
        deadline = time.monotonic() + 20
        while not Path(control).exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the origin did not start")
            time.sleep(0.05)
        listener = lab.spawn("l", "listener", control, str(heard), str(stop))
        if _readline(listener, 30) != "ready":
            raise RuntimeError("the listener did not connect")
        speaker = lab.spawn("p", "speaker", control, str(talk))
        said = json.loads(_readline(speaker, len(speech16) / 16_000 + LEAD_S + TAIL_S + 60))
        t0 = said["t0"]
        time.sleep(0.5 + 2 * impairment.delay_ms / 1000.0)
        stop.touch()
        listener.wait(20)
        answer = asyncio.run(_call(control, {"op": "stats"}))
        stats = {**answer["stats"], "members": answer["members"]}
    finally:
        _stop(server)
    if t0 is None:
        raise RuntimeError("the speaker never sent")
    packets = json.loads(heard.read_text())
    # The Space's origin is gone once both clients left: its last snapshot has the skips.
    skipped = stats["members"].get("origin", {}).get("skipped_ticks", stats["skipped_ticks"])
    result = score(packets, speech16, t0 + LEAD_S, playout_ms=playout_ms, skipped=skipped)
    result.origin = stats
    result.reoffers = said["reoffers"]
    return result


def score(
    packets: list[tuple[float, int, int, str]],
    speech16: npt.NDArray[np.int16],
    speech_sent_at: float,
    *,
    playout_ms: float = 60.0,
    skipped: int = 0,
) -> Result:
    """Decode what the listener got as a browser would, align it with the speech, score it.

    Playout: each packet is due ``playout_ms`` after the fastest transit seen (plus its media
    time); one that arrives later is lost to the decoder. A frame whose packet is lost (or
    late) plays from a RED copy in a later packet (payloads marked ``r``) that came in time;
    a gap left is filled from the next packet's FEC when it carries one (libopus falls back
    to concealment when it does not).
    ``skipped``: ticks the origin skipped (a late loop sends nothing for them), not counted as
    sent in the delivery ratio.
    """
    from pesq import pesq

    from media import red
    from media.dsp import FRAME_SAMPLES, FecDecoder

    if not packets:
        return Result(1.0, 0.0, [])
    # Unwrap sequence numbers and timestamps against the first packet.
    first_seq, first_ts = packets[0][1], packets[0][2]
    rows: dict[int, tuple[float, int, bytes]] = {}
    copies: dict[int, list[tuple[float, int, bytes]]] = {}
    for arrival, seq, ts, hex_payload in packets:
        s = first_seq + ((seq - first_seq + 0x8000) & 0xFFFF) - 0x8000
        t = first_ts + ((ts - first_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        payload = bytes.fromhex(hex_payload.removeprefix("r"))
        if hex_payload.startswith("r"):
            try:
                _, payload, blocks = red.unpack(payload)
            except red.RedError:
                continue
            for offset, _, block in blocks:
                back, rest = divmod(offset, FRAME_SAMPLES)
                if block and back and not rest:
                    copies.setdefault(s - back, []).append((arrival, t - offset, block))
        rows.setdefault(s, (arrival, t, payload))
    seqs = sorted(rows)
    s0 = seqs[0]
    t_base = rows[s0][1]
    delivery = len(seqs) / max(len(seqs), seqs[-1] - s0 + 1 - skipped)
    transit = {s: rows[s][0] - (rows[s][1] - t_base) / 48_000 for s in seqs}
    floor = min(transit.values())
    # Each 20 ms frame (by timestamp: with DTX the sequence numbers skip silence, the
    # timestamps do not) from the first of its copies to arrive, its own packet or a RED copy.
    playable: dict[int, tuple[float, bytes]] = {}
    for s in sorted(set(rows) | set(copies)):
        for arrival, t, payload in [*([rows[s]] if s in rows else []), *copies.get(s, [])]:
            frame = round((t - t_base) / FRAME_SAMPLES)
            due = arrival - (t - t_base) / 48_000
            if frame >= 0 and (frame not in playable or due < playable[frame][0]):
                playable[frame] = (due, payload)
    on_time = [f for f in sorted(playable) if playable[f][0] - floor <= playout_ms / 1000.0]
    decoder = FecDecoder()
    frames: list[Pcm] = []
    previous = on_time[0] - 1 if on_time else 0
    for f in on_time:
        if f - previous - 1 > FecDecoder.MAX_GAP:
            # A pause (DTX) or a long outage: the browser plays that time as quiet, not less.
            frames.append(np.zeros((f - previous - 1) * FRAME_SAMPLES, dtype=np.float32))
        frames += decoder.push(f & 0xFFFF, playable[f][1])
        previous = f
    heard48 = np.concatenate(frames) if frames else np.zeros(960, dtype=np.float32)
    heard16 = _resample(np.clip(heard48, -32768, 32767).astype(np.int16), 48_000, 16_000)
    ref = speech16.astype(np.float32)
    deg = heard16.astype(np.float32)
    # Cross-correlation through the FFT: where the speech starts in what was heard.
    n = 1 << math.ceil(math.log2(len(ref) + len(deg)))
    xc = np.fft.irfft(np.fft.rfft(deg, n) * np.conj(np.fft.rfft(ref, n)), n)
    # Only lags that mean a one-way delay of 0..MAX_DELAY_S count: garbled audio can
    # correlate better somewhere absurd, and the delay figures rest on this lag.
    arrival0 = rows[s0][0]
    lo = max(0, round((speech_sent_at - arrival0) * 16_000))
    hi = min(len(deg), lo + round(MAX_DELAY_S * 16_000))
    lag = lo + int(np.argmax(xc[lo:hi])) if hi > lo else int(np.argmax(xc[: len(deg)]))
    aligned = deg[lag : lag + len(ref)]
    aligned = np.pad(aligned, (0, len(ref) - len(aligned)))
    try:
        quality = float(pesq(16_000, ref, aligned, "wb"))
    except Exception:
        quality = 1.0  # nothing recognisable as speech (PESQ refuses it)
    # Decoded sample k of the 16 kHz stream belongs to the packet of media time k / 16 kHz;
    # the speech's sample 0 sits at ``lag`` and was sent at ``speech_sent_at``.
    delays = []
    for s in seqs:
        media = (rows[s][1] - t_base) / 48_000
        into = media - lag / 16_000  # seconds into the speech
        if 0.0 <= into < len(ref) / 16_000:
            delays.append((rows[s][0] - (speech_sent_at + into)) * 1000.0)
    span = max(1e-3, packets[-1][0] - packets[0][0])
    octets = sum(len(p[3].removeprefix("r")) // 2 for p in packets)
    return Result(quality, delivery, delays, lag, len(seqs), octets * 8 / 1000 / span)


@contextlib.contextmanager
def lab_or_skip() -> Iterator[Lab]:
    """A Lab, after removing namespaces that crashed runs of this harness left behind."""
    for name in leftover_namespaces():
        _sh("ip", "netns", "del", name, check=False)
    with Lab() as lab:
        yield lab


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("stage")
    p.add_argument("spec")
    p.add_argument("ready")
    p = sub.add_parser("server")
    p.add_argument("control")
    p.add_argument("protection")
    p = sub.add_parser("speaker")
    p.add_argument("control")
    p.add_argument("packets")
    p = sub.add_parser("listener")
    p.add_argument("control")
    p.add_argument("out")
    p.add_argument("stop")
    args = parser.parse_args(argv)
    if args.role == "stage":
        asyncio.run(_stage_main(args.spec, args.ready))
    elif args.role == "server":
        asyncio.run(_server_main(args.control, args.protection))
    elif args.role == "speaker":
        asyncio.run(_speaker_main(args.control, args.packets))
    else:
        asyncio.run(_listener_main(args.control, args.out, args.stop))


if __name__ == "__main__":
    main()
