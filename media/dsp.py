"""Sample-level work for the mix, all vectorised with numpy (never a per-sample Python loop)."""

from __future__ import annotations

import ctypes
import ctypes.util
import fractions
import math

import av
import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms at 48 kHz
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
FULL_SCALE = 32767.0
MIN_DBOV = -127.0

Pcm = npt.NDArray[np.float32]  # mono, int16 scale, float32 for headroom while mixing


def frame_to_mono(frame: av.AudioFrame) -> Pcm:
    """Mono float32 samples of a decoded frame, read from its real bytes only.

    aiortc's Opus decoder returns packed s16 stereo whose plane buffer is padded (23,040 bytes
    for 3,840 bytes of audio), so the sample count comes from the frame, not the buffer.
    """
    channels = len(frame.layout.channels)
    fmt = frame.format.name
    if fmt == "s16":
        raw = np.frombuffer(
            memoryview(frame.planes[0]), dtype=np.int16, count=frame.samples * channels
        )
        pcm = raw.astype(np.float32)
    elif fmt == "s16p":
        pcm = np.frombuffer(
            memoryview(frame.planes[0]), dtype=np.int16, count=frame.samples
        ).astype(np.float32)
        channels = 1
    else:
        pcm = frame.to_ndarray().astype(np.float32)
        if fmt in ("flt", "fltp", "dbl", "dblp"):
            pcm *= FULL_SCALE
        pcm = pcm.reshape(-1)
        if fmt.endswith("p"):
            pcm = pcm[: frame.samples]
            channels = 1
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1, dtype=np.float32)
    if frame.sample_rate != SAMPLE_RATE:
        # Opus always decodes at 48 kHz; anything else is resampled linearly (rare path).
        n_out = round(len(pcm) * SAMPLE_RATE / frame.sample_rate)
        x_old = np.linspace(0.0, 1.0, num=len(pcm), endpoint=False)
        x_new = np.linspace(0.0, 1.0, num=n_out, endpoint=False)
        pcm = np.interp(x_new, x_old, pcm).astype(np.float32)
    return pcm


def dbov(frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """RMS level in dBov (RFC 6465: 0 is full scale, -127 is silence), per row of a 2-D array."""
    x = np.atleast_2d(frames)
    energy = np.einsum("ij,ij->i", x, x, dtype=np.float64) / (x.shape[1] * FULL_SCALE * FULL_SCALE)
    level = 10.0 * np.log10(np.maximum(energy, 1e-13))  # 1e-13 is below -127 dB
    return np.clip(level, MIN_DBOV, 0.0)


def dbov_one(pcm: Pcm) -> float:
    """dBov of one mono frame (the cheap path used per packet)."""
    energy = float(np.dot(pcm, pcm)) / (len(pcm) * FULL_SCALE * FULL_SCALE)
    if energy <= 1e-13:
        return MIN_DBOV
    return max(MIN_DBOV, min(0.0, 10.0 * math.log10(energy)))


def to_int16(pcm: Pcm) -> npt.NDArray[np.int16]:
    return np.clip(pcm, -32768.0, 32767.0).astype(np.int16)


class JitterFifo:
    """One speaker's decoded audio between arrival and the mix clock.

    Frames arrive at the sender's pace and phase, the mix takes one 20 ms frame per tick. The
    FIFO primes with ``prime`` frames before it plays (so arrival jitter against the tick does not
    click), holds at most ``max_frames`` (oldest dropped: latency stays bounded), and trims itself
    when it has carried more than one spare frame for a whole second (sender clock drift, bursts).
    """

    def __init__(
        self, *, prime: int = 2, max_frames: int = 6, trim_ticks: int = 50, keep_frames: int = 1
    ) -> None:
        """``keep_frames``: spare frames the trim leaves (how late a frame may be and still
        play: each one is 20 ms more delay)."""
        self._cap = FRAME_SAMPLES * max_frames
        self._keep = FRAME_SAMPLES * keep_frames
        self._buf = np.zeros(self._cap, dtype=np.float32)
        self._len = 0
        self._prime = FRAME_SAMPLES * prime
        self._primed = False
        self._trim_ticks = trim_ticks
        self._ticks = 0
        self._min_len = self._cap
        self.dropped_samples = 0
        self.underruns = 0

    def __len__(self) -> int:
        return self._len

    def clear(self) -> None:
        self._len = 0
        self._primed = False

    def push(self, pcm: Pcm) -> None:
        n = len(pcm)
        if n >= self._cap:
            self.dropped_samples += self._len + n - self._cap
            self._buf[:] = pcm[n - self._cap :]
            self._len = self._cap
            return
        overflow = self._len + n - self._cap
        if overflow > 0:
            self._buf[: self._len - overflow] = self._buf[overflow : self._len]
            self._len -= overflow
            self.dropped_samples += overflow
        self._buf[self._len : self._len + n] = pcm
        self._len += n

    def pop(self) -> Pcm | None:
        """The next 20 ms frame, or None while priming or after an underrun."""
        if not self._primed:
            if self._len < self._prime:
                return None
            self._primed = True
            self._ticks = 0
            self._min_len = self._cap
        if self._len < FRAME_SAMPLES:
            self._primed = False
            self.underruns += 1
            return None
        out = self._buf[:FRAME_SAMPLES].copy()
        remaining = self._len - FRAME_SAMPLES
        self._buf[:remaining] = self._buf[FRAME_SAMPLES : self._len]
        self._len = remaining
        self._min_len = min(self._min_len, remaining)
        self._ticks += 1
        if self._ticks >= self._trim_ticks:
            spare = self._min_len - self._keep
            if spare > 0:
                self._buf[: self._len - spare] = self._buf[spare : self._len]
                self._len -= spare
                self.dropped_samples += spare
            self._ticks = 0
            self._min_len = self._cap
        return out


class OpusEncoder:
    """libopus through PyAV: mono voice, 20 ms frames, one instance per outgoing stream."""

    def __init__(self, *, bitrate: int = 32_000, fec: bool = False, complexity: int = 5) -> None:
        codec = av.CodecContext.create("libopus", "w")
        codec.sample_rate = SAMPLE_RATE
        codec.layout = "mono"
        codec.format = "s16"
        codec.bit_rate = bitrate
        codec.time_base = TIME_BASE
        # Complexity 5 halves libopus's CPU against the default 10 at no audible cost for voice.
        options = {
            "application": "voip",
            "frame_duration": "20",
            "compression_level": str(complexity),
        }
        if fec:
            options.update({"fec": "1", "packet_loss": "5"})
        codec.options = options
        self._codec = codec
        self._pts = 0

    def encode(self, pcm: npt.NDArray[np.int16]) -> list[bytes]:
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = TIME_BASE
        frame.pts = self._pts
        self._pts += len(pcm)
        return [bytes(p) for p in self._codec.encode(frame)]


# -- libopus itself, for what PyAV's codec context cannot do: change the expected loss of a
# running encoder (its options are fixed at open), and decode a lost frame from the in-band FEC
# of the next packet (``decode_fec``), or conceal it, on the receiving side.

_OPUS_APPLICATION_VOIP = 2048
_OPUS_SET_BITRATE = 4002
_OPUS_SET_COMPLEXITY = 4010
_OPUS_SET_INBAND_FEC = 4012
_OPUS_SET_PACKET_LOSS_PERC = 4014
_OPUS_SET_DTX = 4016
_OPUS_SET_SIGNAL = 4024
_OPUS_SIGNAL_VOICE = 3001
_MAX_PACKET = 1500

_libopus: ctypes.CDLL | None = None


def libopus() -> ctypes.CDLL:
    """The system's libopus (Debian ``libopus0``), loaded once; OSError if it is missing."""
    global _libopus
    if _libopus is None:
        name = ctypes.util.find_library("opus")
        if name is None:
            raise OSError("libopus not found (Debian package libopus0)")
        lib = ctypes.CDLL(name)
        lib.opus_encoder_create.restype = ctypes.c_void_p
        lib.opus_encoder_create.argtypes = [
            ctypes.c_int32,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_int),
        ]
        lib.opus_encode.restype = ctypes.c_int32
        lib.opus_encode.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_int32,
        ]
        lib.opus_encoder_destroy.argtypes = [ctypes.c_void_p]
        lib.opus_decoder_create.restype = ctypes.c_void_p
        lib.opus_decoder_create.argtypes = [
            ctypes.c_int32,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_int),
        ]
        lib.opus_decode.restype = ctypes.c_int
        lib.opus_decode.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int32,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
        ]
        lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
        _libopus = lib
    return _libopus


class LibOpusEncoder:
    """Mono voice, 20 ms frames, with in-band FEC whose strength follows the loss receivers
    report (:meth:`set_packet_loss`), and optional DTX. Same ``encode`` as :class:`OpusEncoder`.

    libopus adds the redundant copy of a frame only when the expected loss is above zero, and
    spends more of the bit rate on it the higher that is: a clean path pays nothing.
    """

    def __init__(
        self,
        *,
        bitrate: int = 32_000,
        complexity: int = 5,
        fec: bool = True,
        packet_loss: int = 0,
        dtx: bool = False,
    ) -> None:
        lib = libopus()
        error = ctypes.c_int(0)
        state = lib.opus_encoder_create(SAMPLE_RATE, 1, _OPUS_APPLICATION_VOIP, ctypes.byref(error))
        if error.value != 0 or not state:
            raise RuntimeError(f"opus_encoder_create failed: {error.value}")
        self._lib = lib
        self._state = state
        self._out = ctypes.create_string_buffer(_MAX_PACKET)
        self.packet_loss = -1
        for request, value in (
            (_OPUS_SET_BITRATE, bitrate),
            (_OPUS_SET_COMPLEXITY, complexity),
            (_OPUS_SET_SIGNAL, _OPUS_SIGNAL_VOICE),
            (_OPUS_SET_INBAND_FEC, int(fec)),
            (_OPUS_SET_DTX, int(dtx)),
        ):
            self._ctl(request, value)
        self.set_packet_loss(packet_loss)

    def _ctl(self, request: int, value: int) -> None:
        # opus_encoder_ctl is variadic: ctypes passes the two ints as C ints.
        rc = self._lib.opus_encoder_ctl(ctypes.c_void_p(self._state), request, ctypes.c_int(value))
        if rc != 0:
            raise RuntimeError(f"opus_encoder_ctl({request}, {value}) failed: {rc}")

    def set_packet_loss(self, percent: int) -> None:
        """The loss (0..100 %) the encoder protects against from the next frame on."""
        percent = max(0, min(100, int(percent)))
        if percent != self.packet_loss:
            self._ctl(_OPUS_SET_PACKET_LOSS_PERC, percent)
            self.packet_loss = percent

    def encode(self, pcm: npt.NDArray[np.int16]) -> list[bytes]:
        data = np.ascontiguousarray(pcm, dtype=np.int16)
        n = self._lib.opus_encode(self._state, data.ctypes.data, len(data), self._out, _MAX_PACKET)
        if n < 0:
            raise RuntimeError(f"opus_encode failed: {n}")
        return [self._out.raw[:n]]

    def __del__(self) -> None:
        state, self._state = getattr(self, "_state", None), None
        if state:
            self._lib.opus_encoder_destroy(state)


Encoder = OpusEncoder | LibOpusEncoder


QUIET_RMS = 32767.0 * 10 ** (-45 / 20)
"""A frame below -45 dBFS RMS: a pause between words, where dropping it is not heard."""


def _quiet(pcm: Pcm) -> bool:
    return float(np.sqrt(np.mean(np.square(pcm)))) < QUIET_RMS


class PacketJitterBuffer:
    """A speaker's Opus packets held until the mix clock takes them, decoded in order there.

    Packets go in as they arrive (``push``), in any order; the tick takes one 20 ms frame
    (``pop``). Decoding at the tick rather than on arrival is what lets a reordered or jittered
    packet still play, and what gives a lost packet's FEC time to arrive: frame ``n`` missing at
    its tick comes from the in-band FEC of packet ``n + 1`` when that is here (libopus
    ``decode_fec``), else it is concealed (PLC).

    Depth adapts: it starts once ``target`` packets wait; when nothing at all waits at a tick
    (the network was late), the frame is concealed *without* moving on, so the late packet still
    plays and the buffer is one frame deeper from then on; when it has held more than ``target``
    frames for a whole ``trim_ticks`` window, it drops one, so latency comes back down: the
    first quiet frame within ``quiet_wait`` ticks (a pause between words, where nobody hears a
    frame missing; in speech a dropped 20 ms is a click), decoded and not played so the decoder
    stays in step, else whatever frame is due when the wait runs out. After
    ``conceal_max`` empty ticks in a row (a speaker who stopped sending: mute, DTX, a pause) it
    stops and starts again on the next packets. aiortc's own jitter buffer, which this replaces
    for speakers, waits for a missing packet until 16 have piled up and then skips them in a
    burst: any loss then broke a speaker's audio (bench/RESULTS.md, "Networks").
    """

    def __init__(
        self,
        *,
        fec: bool = True,
        target: int = 3,
        max_depth: int = 12,
        trim_ticks: int = 50,
        quiet_wait: int = 50,
        conceal_max: int = 10,
    ) -> None:
        self._decoder = FecDecoder(fec=fec)
        self._quiet_wait = quiet_wait
        self._trim_left = 0  # ticks left to find a quiet frame to drop; 0: no trim due
        self._fec = fec
        self._target = target
        self._max_depth = max_depth
        self._trim_ticks = trim_ticks
        self._conceal_max = conceal_max
        self._packets: dict[int, bytes] = {}
        self._highest = -1  # extended sequence number of the newest packet, -1: none yet
        self._next = -1  # extended sequence number of the next frame to play, -1: not playing
        self._empty_ticks = 0
        self._ticks = 0
        self._min_depth = max_depth
        self.decoded = 0
        self.recovered = 0
        self.concealed = 0
        self.late = 0
        self.trimmed = 0
        self.repaired = 0
        """Frames that came only as a RED copy (their own packet lost or not here yet)."""

    def __len__(self) -> int:
        return len(self._packets)

    def clear(self) -> None:
        self._packets.clear()
        self._next = -1
        self._empty_ticks = 0

    def _extend(self, seq: int) -> int:
        if self._highest < 0:
            return seq
        delta = ((seq - self._highest + 0x8000) & 0xFFFF) - 0x8000
        return self._highest + delta

    def push(self, seq: int, payload: bytes, *, copy: bool = False) -> None:
        """``copy``: a frame repeated by RED (media.red): usually here already or played, which
        is then no news (not counted ``late``); when its own packet was lost, it fills in."""
        ext = self._extend(seq)
        if (self._next >= 0 and ext < self._next) or ext in self._packets:
            if not copy:
                self.late += 1  # its frame was played, recovered or concealed already; or a copy
            return
        if copy:
            self.repaired += 1
        self._packets[ext] = payload
        if ext > self._highest:
            self._highest = ext
        if len(self._packets) > 2 * self._max_depth:  # a sender far ahead of the clock
            del self._packets[min(self._packets)]

    def pop_held(self) -> Pcm | None:
        """The next frame if a packet for it (or after it) is here; None, without concealing,
        when the buffer is empty: what a connection being replaced still has to play."""
        return self.pop() if self._packets and self._next >= 0 else None

    def start_at_newest(self) -> None:
        """Before playing starts: keep only the newest ``target`` packets, so that playing
        starts as deep as the buffer aims to be (a connection taking over from another one
        that played the same voice until now)."""
        if self._next < 0:
            for seq in sorted(self._packets)[: -self._target or None]:
                del self._packets[seq]

    def pop(self) -> Pcm | None:
        packets = self._packets
        if self._next < 0:
            if len(packets) < self._target:
                return None
            self._next = min(packets)
            self._ticks = 0
            self._min_depth = self._max_depth
        # Too deep (a burst after a stall, sender clock drift): skip to keep latency bounded.
        while self._highest - self._next >= self._max_depth:
            packets.pop(self._next, None)
            self._next += 1
            self.trimmed += 1
        depth = self._highest - self._next + 1
        self._ticks += 1
        self._min_depth = min(self._min_depth, depth)
        if self._ticks >= self._trim_ticks:
            if self._min_depth > self._target:
                self._trim_left = self._quiet_wait
            self._ticks = 0
            self._min_depth = self._max_depth
        payload = packets.pop(self._next, None)
        if payload is not None:
            self._next += 1
            self._empty_ticks = 0
            self.decoded += 1
            pcm = self._decoder.decode(payload)
            if self._trim_left:
                self._trim_left -= 1
                following = packets.get(self._next)
                if following is not None and (self._trim_left == 0 or _quiet(pcm)):
                    self._trim_left = 0
                    del packets[self._next]
                    self._next += 1
                    self.trimmed += 1
                    self.decoded += 1
                    return self._decoder.decode(following)
            return pcm
        if not packets:
            # Nothing at all here yet: late, not lost. Conceal and wait for it.
            self._empty_ticks += 1
            if self._empty_ticks > self._conceal_max:
                self.clear()
                return None
            self.concealed += 1
            return self._decoder.decode(None)
        following = packets.get(self._next + 1)
        self._next += 1
        self._empty_ticks = 0
        if self._fec and following is not None:
            self.recovered += 1
            return self._decoder.decode(following, fec=True)
        self.concealed += 1
        return self._decoder.decode(None)


class FecDecoder:
    """One incoming Opus stream decoded in sequence order, recovering what was lost.

    ``push(seq, payload)`` returns the 20 ms frames (mono int16 scale, float32) that are due
    now: when one packet is missing, its frame comes from the in-band FEC the next packet
    carries (libopus ``decode_fec=1``), and any further gap is concealed (PLC); a packet older
    than the last one decoded is dropped (it was recovered or concealed already).
    """

    MAX_GAP = 10
    """A longer gap (a pause, a restart) is not concealed frame by frame."""

    def __init__(self, *, fec: bool = True) -> None:
        lib = libopus()
        error = ctypes.c_int(0)
        state = lib.opus_decoder_create(SAMPLE_RATE, 1, ctypes.byref(error))
        if error.value != 0 or not state:
            raise RuntimeError(f"opus_decoder_create failed: {error.value}")
        self._lib = lib
        self._state = state
        self._fec = fec
        self._pcm = np.zeros(5760, dtype=np.int16)  # 120 ms, the longest Opus packet
        self.last = -1
        self.decoded = 0
        self.recovered = 0
        self.concealed = 0
        self.late = 0

    def decode(self, payload: bytes | None, fec: bool = False) -> Pcm:
        """One packet's audio; with ``fec``, the frame *before* it from its in-band FEC; with no
        payload, a concealed frame."""
        lib = self._lib
        if payload is None:
            n = lib.opus_decode(self._state, None, 0, self._pcm.ctypes.data, FRAME_SAMPLES, 0)
        else:
            n = lib.opus_decode(
                self._state,
                payload,
                len(payload),
                self._pcm.ctypes.data,
                FRAME_SAMPLES if fec else len(self._pcm),
                int(fec),
            )
        if n < 0:
            n = 0
        return self._pcm[:n].astype(np.float32)

    def push(self, seq: int, payload: bytes) -> list[Pcm]:
        out: list[Pcm] = []
        if self.last >= 0:
            gap = (seq - self.last - 1) & 0xFFFF
            if gap >= 0x8000:
                self.late += 1
                return out
            if 0 < gap <= self.MAX_GAP:
                for _ in range(gap - 1):
                    out.append(self.decode(None))
                    self.concealed += 1
                if self._fec:
                    out.append(self.decode(payload, fec=True))
                    self.recovered += 1
                else:
                    out.append(self.decode(None))
                    self.concealed += 1
        self.last = seq
        pcm = self.decode(payload)
        if len(pcm):
            out.append(pcm)
            self.decoded += 1
        return [p for p in out if len(p)]

    def __del__(self) -> None:
        state, self._state = getattr(self, "_state", None), None
        if state:
            self._lib.opus_decoder_destroy(state)
