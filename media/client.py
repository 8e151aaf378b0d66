"""A small aiortc client for tests and benchmarks: joins as speaker or listener.

It knows nothing about the transport of signaling: give it ``exchange``, an async callable that
takes the offer SDP and returns the answer SDP (the Space socket, a worker in-process, a bench
control connection...). Receive modes:

- ``"decode"``: aiortc's own receive path (jitter buffer, Opus decoder); frames are recorded.
- ``"rtp"``: RTP packets are recorded with their arrival time, before any jitter buffer, and
  decoded in order on demand: what a packet carried, and when it arrived.
- ``"count"``: a thin peer for benchmarks. After DTLS, datagrams are counted at the socket
  (SRTP sequence numbers are in clear) and only STUN, DTLS and RTCP reach aiortc.
- ``"none"``: receive nothing (a pure sender).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import av
import numpy as np
import numpy.typing as npt
from aiortc import RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket

from media.dsp import FRAME_SAMPLES, SAMPLE_RATE, TIME_BASE, frame_to_mono
from media.ice import rtc_configuration

logger = logging.getLogger(__name__)

Exchange = Callable[[str], Awaitable[str]]
ReceiveMode = Literal["decode", "rtp", "count", "none"]


class ToneTrack(MediaStreamTrack):
    """A sine tone as 20 ms s16 mono frames, paced in real time. ``frequency=0`` is silence."""

    kind = "audio"

    def __init__(self, frequency: float, amplitude: float = 0.3) -> None:
        super().__init__()
        self.frequency = frequency
        self.amplitude = amplitude
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._n / SAMPLE_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        t = (self._n + np.arange(FRAME_SAMPLES)) / SAMPLE_RATE
        pcm = self.amplitude * 32767.0 * np.sin(2.0 * math.pi * self.frequency * t)
        frame = av.AudioFrame.from_ndarray(
            pcm.astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = TIME_BASE
        frame.pts = self._n
        self._n += FRAME_SAMPLES
        return frame


class EncodedToneTrack(MediaStreamTrack):
    """A tone pre-encoded once (one second of Opus packets, looped), paced in real time.

    aiortc's sender packetises an ``av.Packet`` without encoding it, so a benchmark's speakers
    cost almost nothing in the client process.
    """

    kind = "audio"

    def __init__(self, frequency: float, amplitude: float = 0.3, bitrate: int = 32_000) -> None:
        super().__init__()
        codec = av.CodecContext.create("libopus", "w")
        codec.sample_rate = SAMPLE_RATE
        codec.layout = "mono"
        codec.format = "s16"
        codec.bit_rate = bitrate
        codec.time_base = TIME_BASE
        self._payloads: list[bytes] = []
        n = 0
        # One second of a tone with a whole number of cycles loops without a seam.
        tone = ToneTrack(round(frequency), amplitude)
        while len(self._payloads) < 50:
            t = (n + np.arange(FRAME_SAMPLES)) / SAMPLE_RATE
            pcm = tone.amplitude * 32767.0 * np.sin(2.0 * math.pi * tone.frequency * t)
            frame = av.AudioFrame.from_ndarray(
                pcm.astype(np.int16).reshape(1, -1), format="s16", layout="mono"
            )
            frame.sample_rate = SAMPLE_RATE
            frame.pts = n
            n += FRAME_SAMPLES
            self._payloads += [bytes(p) for p in codec.encode(frame)]
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
        packet = av.Packet(self._payloads[self._n % len(self._payloads)])
        packet.pts = self._n * FRAME_SAMPLES
        packet.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._n += 1
        return packet


def wav_track(path: str, *, loop: bool = False) -> MediaStreamTrack:
    """A WAV (or any file FFmpeg reads) as an audio track, paced in real time."""
    from aiortc.contrib.media import MediaPlayer

    player = MediaPlayer(path, loop=loop)
    if player.audio is None:
        raise ValueError(f"{path} has no audio stream")
    return player.audio


@dataclass
class ReceivedFrame:
    arrival: float
    pcm: npt.NDArray[np.float32]


@dataclass
class ReceivedPacket:
    arrival: float
    sequence_number: int
    timestamp: int
    payload: bytes
    connection: int = 0
    """Which of the client's connections it came on: 0, then one more per ``restart``."""


class PacketCounter:
    """Counts RTP datagrams of one peer; the loss seen is the gaps in sequence numbers."""

    __slots__ = ("count", "first", "last")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.first = -1
        self.last = -1

    def add(self, seq: int) -> None:
        if self.first < 0:
            self.first = self.last = seq
        else:
            # unwrap against the last one seen (reordering does not happen on loopback)
            delta = (seq - self.last) & 0xFFFF
            if delta < 0x8000:
                self.last += delta
        self.count += 1

    @property
    def expected(self) -> int:
        return 0 if self.first < 0 else self.last - self.first + 1


class MediaClient:
    def __init__(
        self,
        exchange: Exchange,
        *,
        send: MediaStreamTrack | None = None,
        sendrecv: bool = True,
        receive: ReceiveMode = "decode",
        ice_servers: Sequence[RTCIceServer] = (),
        relay_only: bool = False,
        name: str = "client",
    ) -> None:
        """``sendrecv``: offer a sending direction even without a track (promotable listener).
        ``relay_only``: iceTransportPolicy "relay" (only TURN-relayed paths)."""
        self.name = name
        self.exchange = exchange
        self.receive_mode: ReceiveMode = receive
        self._ice_servers = tuple(ice_servers)
        self._relay_only = relay_only
        self.restarts = 0
        """How many times ``restart`` replaced the connection."""
        self.last_heard: float | None = None
        """Loop time of the last packet ("rtp") or frame ("decode") received."""
        self.pc = self._new_pc()
        self.frames: list[ReceivedFrame] = []
        self.packets: list[ReceivedPacket] = []
        self.counter = PacketCounter()
        self.closed = asyncio.Event()
        self.connected = asyncio.Event()
        self.offer_to_connected: float | None = None
        self.thin = False
        """"count" mode: True once packets are counted at the socket."""
        self._send = send
        self._sendrecv = sendrecv or send is not None
        self._reader: asyncio.Task[None] | None = None
        self._track: MediaStreamTrack | None = None

    def _new_pc(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(rtc_configuration(self._ice_servers, relay_only=self._relay_only))
        pc.on("connectionstatechange", lambda: self._on_state(pc))
        return pc

    @property
    def state(self) -> str:
        return str(self.pc.connectionState)

    def _on_state(self, pc: RTCPeerConnection) -> None:
        if pc is not self.pc:
            return  # a connection that a restart replaced
        state = pc.connectionState
        if state == "connected":
            self.connected.set()
            if self.receive_mode == "count":
                self._go_thin()
        elif state in ("closed", "failed"):
            self.closed.set()

    async def connect(self, within: float = 10.0) -> float:
        """Offer, exchange, wait until connected; returns offer-to-connected seconds."""
        pc = self.pc
        direction = "sendrecv" if self._sendrecv else "recvonly"
        transceiver = pc.addTransceiver("audio", direction=direction)
        if self._send is not None:
            transceiver.sender.replaceTrack(self._send)
        if self.receive_mode == "rtp":
            receiver = transceiver.receiver
            loop = asyncio.get_running_loop()
            connection = self.restarts

            async def record(packet: RtpPacket, arrival_time_ms: int) -> None:
                self.last_heard = now = loop.time()
                self.packets.append(
                    ReceivedPacket(
                        now,
                        packet.sequence_number,
                        packet.timestamp,
                        packet.payload,
                        connection,
                    )
                )

            receiver._handle_rtp_packet = record  # type: ignore[method-assign]
        await pc.setLocalDescription(await pc.createOffer())
        started = time.perf_counter()
        answer = await self.exchange(pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        track = transceiver.receiver.track
        if self.receive_mode == "decode" and track is not None:
            self._track = track
            self._reader = asyncio.ensure_future(self._read(track))
        elif self.receive_mode == "none" and track is not None:
            self._reader = asyncio.ensure_future(self._drain(track))
        await asyncio.wait_for(self.connected.wait(), within)
        self.offer_to_connected = time.perf_counter() - started
        return self.offer_to_connected

    async def _read(self, track: MediaStreamTrack) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await track.recv()
                self.last_heard = now = loop.time()
                self.frames.append(ReceivedFrame(now, frame_to_mono(frame)))  # type: ignore[arg-type]
        except (MediaStreamError, asyncio.CancelledError):
            pass

    async def _drain(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                await track.recv()
        except (MediaStreamError, asyncio.CancelledError):
            pass

    async def restart(self, within: float = 10.0) -> float:
        """An ICE restart as this project does it (aiortc has no ``restartIce``): a new peer
        connection offers through the same ``exchange``, and the worker swaps it in for the old
        one without taking this participant out of the Space's mix (``MediaWorker._restart``).

        The old connection stays open (it may still work, on another network) until the new one
        is connected, then is closed; the sending track moves to the new one at once. Received
        audio goes on into the same ``frames`` / ``packets`` (``ReceivedPacket.connection`` tells
        them apart); a "count" client's counter starts again. Returns offer-to-connected seconds.
        """
        old, old_reader = self.pc, self._reader
        for transceiver in old.getTransceivers():
            transceiver.sender.replaceTrack(None)  # one reader of the track at a time
        self.restarts += 1
        self.pc = self._new_pc()
        self.connected = asyncio.Event()
        self.thin = False
        self.counter.reset()
        try:
            return await self.connect(within)
        finally:
            if old_reader is not None:
                old_reader.cancel()
            try:
                await asyncio.wait_for(old.close(), 2.0)
            except Exception:  # a broken path may not even close cleanly
                logger.debug("%s: closing the old connection failed", self.name, exc_info=True)

    async def keep_alive(
        self,
        *,
        stall: float = 0.4,
        within: float = 5.0,
        backoff: float = 0.5,
        max_restarts: int = 5,
    ) -> None:
        """Restart whenever nothing was heard for ``stall`` seconds ("rtp" and "decode").

        The worker sends every listener a packet per 20 ms tick, so silence from it means the
        path broke long before ICE consent (30 s in aioice) would say so. A restart that does
        not connect within ``within`` is retried after ``backoff`` seconds, doubling. Run it as
        a task and cancel it to stop; it returns after ``max_restarts``.
        """
        loop = asyncio.get_running_loop()
        delay = backoff
        while self.restarts < max_restarts:
            await asyncio.sleep(min(0.05, stall / 4))
            heard = self.last_heard
            if heard is None or loop.time() - heard < stall:
                continue
            try:
                await self.restart(within)
                delay = backoff
                self.last_heard = loop.time()  # give the new connection its own stall window
            except (TimeoutError, OSError):
                logger.info("%s: restart failed, next in %.1f s", self.name, delay)
                await asyncio.sleep(delay)
                delay *= 2

    def _go_thin(self, attempt: int = 0) -> None:
        """Count RTP at the socket; let STUN (consent), DTLS and RTCP through to aiortc."""
        if self.thin or self.pc.connectionState != "connected":
            return
        transceiver = self.pc.getTransceivers()[0]
        pair = transceiver.receiver.transport.transport._connection._nominated.get(1)
        if pair is None:
            if attempt < 50:
                asyncio.get_running_loop().call_later(0.02, self._go_thin, attempt + 1)
            else:
                logger.warning("%s: no nominated ICE pair, cannot count packets", self.name)
            return
        protocol = pair.protocol
        original = protocol.datagram_received
        counter = self.counter

        def datagram_received(data: bytes | str, addr: tuple[Any, ...]) -> None:
            if (
                isinstance(data, bytes)
                and len(data) >= 12
                and 127 < data[0] < 192
                and not 192 <= data[1] <= 208
            ):
                counter.add((data[2] << 8) | data[3])
            else:
                original(data, addr)

        protocol.datagram_received = datagram_received  # type: ignore[method-assign]
        self.thin = True

    def pause_reading(self) -> None:
        """Stop reading the socket (a stalled listener): datagrams pile up in the kernel."""
        for transceiver in self.pc.getTransceivers():
            pair = transceiver.receiver.transport.transport._connection._nominated.get(1)
            if pair is not None:
                cast(Any, pair.protocol.transport).pause_reading()

    def resume_reading(self) -> None:
        for transceiver in self.pc.getTransceivers():
            pair = transceiver.receiver.transport.transport._connection._nominated.get(1)
            if pair is not None:
                cast(Any, pair.protocol.transport).resume_reading()

    # -- what was heard --

    def audio(self, since: float | None = None) -> npt.NDArray[np.float32]:
        """Decoded audio ("decode" mode) that arrived at or after loop time ``since``."""
        chunks = [f.pcm for f in self.frames if since is None or f.arrival >= since]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)

    def decoded_packets(self) -> list[ReceivedFrame]:
        """Decode the recorded RTP ("rtp" mode) in sequence order, one frame per packet."""
        decoder = opus_decoder()
        out: list[ReceivedFrame] = []
        seen: set[int] = set()
        for p in self.packets:
            if p.sequence_number in seen:
                continue
            seen.add(p.sequence_number)
            packet = av.Packet(p.payload)
            pcm = [frame_to_mono(f) for f in decoder.decode(packet)]
            if pcm:
                out.append(ReceivedFrame(p.arrival, np.concatenate(pcm)))
        return out

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.pc.close()
        self.closed.set()


def opus_decoder() -> av.AudioCodecContext:
    """A libopus decoder for one received stream, as a browser decodes it (48 kHz mono s16)."""
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate = SAMPLE_RATE
    decoder.layout = "mono"
    decoder.format = "s16"
    return decoder


def tone_amplitude(pcm: npt.NDArray[np.float32], frequency: float) -> float:
    """Amplitude (fraction of full scale) of one frequency in a block, Hann-windowed."""
    if len(pcm) == 0:
        return 0.0
    n = np.arange(len(pcm))
    window = np.hanning(len(pcm))
    basis = np.exp(-2j * math.pi * frequency * n / SAMPLE_RATE)
    return float(2.0 * abs(np.dot(pcm * window, basis)) / window.sum() / 32767.0)


def dominant_frequency(pcm: npt.NDArray[np.float32]) -> float:
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    spectrum[0] = 0.0
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(pcm))
