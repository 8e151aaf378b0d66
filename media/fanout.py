"""Direct RTP forwarding: one encoded payload, many peers, no per-peer queue or task.

Per peer and packet the loop only writes a 12-byte RTP header (the peer's SSRC, sequence number
and timestamp, the negotiated payload type), prepends the header-extension block shared by every
peer with the same negotiated extension ids, applies the peer's SRTP session and hands the
datagram to the peer's nominated ICE socket. A socket that would block, or a peer that is not
connected yet, misses the packet: nothing is ever queued for later.

Two shortcuts keep the per-packet cost down. The datagram goes out through a duplicate of the
ICE socket's descriptor (non-blocking, so "would block" is a ``BlockingIOError`` and a dropped
packet, never an asyncio write buffer), and SRTP is applied by calling libsrtp through
pylibsrtp's cffi binding without its per-call wrapper (falls back to ``Session.protect``).

Two kernels run that loop, byte for byte the same (``tests/media/test_fanout_kernels.py``):
``compiled`` (``media/kernel/fanout.c``, built at install time: header, extensions, SRTP
through pylibsrtp's own ``srtp_protect`` and session, ``sendmmsg`` per run of messages sharing
a socket, all without the interpreter) and ``python`` (the loop below). The choice is made at
import from ``MEDIA_FANOUT_KERNEL`` (``auto``, the default: compiled when its shared object
loads; ``python``; ``compiled``: fail if it cannot), and logged by the worker (``kernel_info``).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import random
import socket
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any

import pylibsrtp
from aiortc import clock
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import (
    RtcpByePacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
)

from media import red

logger = logging.getLogger(__name__)

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"

_HEADER = struct.Struct("!BBHII")

# (mid id, mid bytes, audio-level id, abs-send-time id); 0 means not negotiated.
ExtKey = tuple[int, bytes, int, int]

KERNELS = ("python", "compiled")


class _Compiled:
    """The loaded kernel and the address of pylibsrtp's ``srtp_protect`` it calls."""

    def __init__(self) -> None:
        from pylibsrtp._binding import ffi as srtp_ffi
        from pylibsrtp._binding import lib as srtp_lib

        _fanout = importlib.import_module("media.kernel._fanout")

        self.ffi: Any = _fanout.ffi
        self.lib: Any = _fanout.lib
        self.path = str(getattr(_fanout, "__file__", "?"))
        self.srtp_ffi: Any = srtp_ffi
        self.protect = int(srtp_ffi.cast("uintptr_t", srtp_ffi.addressof(srtp_lib, "srtp_protect")))


_compiled: _Compiled | None = None
_kernel = "python"
_kernel_note = ""


def select_kernel(wanted: str | None = None) -> str:
    """Pick the fan-out kernel (``wanted`` or ``MEDIA_FANOUT_KERNEL``, default ``auto``).

    ``auto`` falls back to the Python loop when the compiled kernel is missing or does not
    load; ``compiled`` raises instead. Peers configured before a switch keep working with
    either kernel as long as the compiled one loaded when they were created.
    """
    global _compiled, _kernel, _kernel_note
    wanted = (wanted or os.environ.get("MEDIA_FANOUT_KERNEL") or "auto").strip().lower()
    if wanted not in (*KERNELS, "auto"):
        raise ValueError(f"MEDIA_FANOUT_KERNEL={wanted!r}: use python, compiled or auto")
    try:
        _compiled = _Compiled()
        reason = ""
    except Exception as exc:  # not built, built for another Python, pylibsrtp changed
        _compiled = None
        reason = f"{type(exc).__name__}: {exc}"
    if wanted == "compiled" and _compiled is None:
        raise RuntimeError(f"the compiled fan-out kernel is not available ({reason})")
    if wanted == "python" or _compiled is None:
        _kernel = "python"
        _kernel_note = "asked for" if wanted == "python" else f"fallback, {reason}"
    else:
        _kernel = "compiled"
        _kernel_note = _compiled.path
    return _kernel


def kernel() -> str:
    """The fan-out kernel in use: ``compiled`` or ``python``."""
    return _kernel


def kernel_info() -> str:
    """The kernel and why (the shared object, or why the Python loop), for the start-up log."""
    return f"{_kernel} ({_kernel_note})"


def srtp_protector(session: pylibsrtp.Session) -> Callable[[bytes], bytes]:
    """``session.protect`` without pylibsrtp's per-call allocation and checks (same result)."""
    try:
        from pylibsrtp._binding import ffi, lib

        ctx = session._srtp[0]
        cdata = session._cdata
        buf = session._buffer
        limit = len(cdata) - pylibsrtp.SRTP_MAX_TRAILER_LEN
        srtp_protect = lib.srtp_protect
        status_ok = lib.srtp_err_status_ok
    except (ImportError, AttributeError, TypeError):
        return session.protect
    len_p = ffi.new("int *")

    def protect(data: bytes) -> bytes:
        n = len(data)
        if n > limit:
            raise ValueError("packet is too long")
        buf[0:n] = data
        len_p[0] = n
        rc = srtp_protect(ctx, cdata, len_p)
        if rc != status_ok:
            raise pylibsrtp.Error(pylibsrtp.ERRORS[rc])
        return buf[0 : len_p[0]]

    protect.session = session  # type: ignore[attr-defined]  # keeps ctx alive
    return protect


def extension_block(key: ExtKey, level: int, abs_send_time: int) -> bytes:
    """RFC 8285 one-byte header extensions for one packet (empty if nothing was negotiated)."""
    mid_id, mid, level_id, ast_id = key
    elements = b""
    if mid_id:
        elements += bytes(((mid_id << 4) | (len(mid) - 1),)) + mid
    if level_id:
        elements += bytes(((level_id << 4), level & 0x7F))
    if ast_id:
        elements += bytes(((ast_id << 4) | 2,)) + (abs_send_time & 0xFFFFFF).to_bytes(3, "big")
    if not elements:
        return b""
    elements += b"\x00" * (-len(elements) % 4)
    return struct.pack("!HH", 0xBEDE, len(elements) // 4) + elements


class Outbound:
    """One peer's outgoing RTP stream, written straight to its SRTP session and socket."""

    __slots__ = (
        "_dropped",
        "_octets",
        "_packets",
        "_ready",
        "addr",
        "b0",
        "b1",
        "cname",
        "ext_key",
        "kp",
        "next_report",
        "opus_pt",
        "protect",
        "red_pt",
        "seq0",
        "sock",
        "srtp",
        "ssrc",
        "transport",
        "ts0",
    )

    def __init__(self, ssrc: int) -> None:
        self.ssrc = ssrc
        # Lower half of the sequence space, as aiortc does: an early wrap confuses SRTP indexes.
        self.seq0 = random.randrange(1 << 15)
        self.ts0 = random.randrange(1 << 32)
        # The compiled kernel's copy of this stream (``struct kpeer``), filled by configure().
        self.kp: Any = _compiled.ffi.new("struct kpeer *") if _compiled is not None else None
        self._ready = False
        self.b0 = 0x80
        self.b1 = 111
        self.opus_pt = 111
        self.red_pt: int | None = None
        """RED's payload type when the peer negotiated RED for this Opus stream (media.red)."""
        self.ext_key: ExtKey = (0, b"", 0, 0)
        self.cname = b""
        self.srtp: pylibsrtp.Session | None = None
        self.protect: Callable[[bytes], bytes] = _not_ready
        self.transport: asyncio.DatagramTransport | None = None
        self.sock: socket.socket | None = None
        self.addr: tuple[str, int] = ("", 0)
        # Each kernel counts in its own place; the stream's counts are the sums.
        self._packets = 0
        self._octets = 0
        self._dropped = 0
        self.next_report = 0

    @property
    def ready(self) -> bool:
        return self._ready

    @ready.setter
    def ready(self, value: bool) -> None:
        self._ready = value
        if self.kp is not None:
            self.kp.ready = 1 if value and self.sock is not None else 0

    @property
    def packets(self) -> int:
        return self._packets + (int(self.kp.packets) if self.kp is not None else 0)

    @property
    def octets(self) -> int:
        return self._octets + (int(self.kp.octets) if self.kp is not None else 0)

    @property
    def dropped(self) -> int:
        return self._dropped + (int(self.kp.dropped) if self.kp is not None else 0)

    def configure(
        self,
        parameters: RTCRtpSendParameters,
        *,
        srtp: pylibsrtp.Session,
        transport: asyncio.DatagramTransport,
        addr: tuple[str, int],
    ) -> None:
        """Take the negotiated payload types, MID and extension ids; start sending."""
        kinds: dict[str, int] = {}
        for c in parameters.codecs:
            kinds.setdefault(c.mimeType.lower(), (c.payloadType or 0) & 0x7F)
        if "audio/opus" not in kinds:
            raise ValueError(f"negotiated codecs are {list(kinds)}, no Opus")
        # RED (media.red) may come first: a browser sends it only then.
        self.opus_pt = kinds["audio/opus"]
        self.red_pt = kinds.get(red.MIME)
        ids = {ext.uri: ext.id for ext in parameters.headerExtensions}
        mid = (parameters.muxId or "").encode("utf-8")

        def one_byte_id(uri: str) -> int:
            ext_id = ids.get(uri, 0)
            return ext_id if 1 <= ext_id <= 14 else 0

        mid_id = one_byte_id(MID_URI) if 1 <= len(mid) <= 16 else 0
        self.ext_key = (
            mid_id,
            mid if mid_id else b"",
            one_byte_id(AUDIO_LEVEL_URI),
            one_byte_id(ABS_SEND_TIME_URI),
        )
        self.b0 = 0x90 if any(self.ext_key[i] for i in (0, 2, 3)) else 0x80
        self.b1 = self.opus_pt
        self.cname = (parameters.rtcp.cname or "").encode("utf-8")
        self.srtp = srtp
        self.protect = srtp_protector(srtp)
        self.transport = transport
        self.addr = addr
        self.sock = _duplicate(transport)
        if self.kp is not None and _compiled is not None:
            self._fill_kp(_compiled, srtp)
        self.ready = True

    def _fill_kp(self, compiled: _Compiled, srtp: pylibsrtp.Session) -> None:
        """Copy what the C loop needs; the stream's SSRC and ts0 are fixed from here on, seq0
        moves only through ``shift_sequence``."""
        kp = self.kp
        assert self.sock is not None
        kp.fd = self.sock.fileno()
        kp.srtp = int(compiled.srtp_ffi.cast("uintptr_t", srtp._srtp[0]))
        kp.ssrc = self.ssrc & 0xFFFFFFFF
        kp.seq0 = self.seq0 & 0xFFFFFFFF
        kp.ts0 = self.ts0 & 0xFFFFFFFF
        kp.b0 = self.b0
        kp.b1 = self.b1
        mid_id, mid, level_id, ast_id = self.ext_key
        kp.mid_id, kp.level_id, kp.ast_id = mid_id, level_id, ast_id
        kp.mid_len = len(mid)
        compiled.ffi.memmove(kp.mid, mid, len(mid))
        name = sockaddr(self.sock.family, self.addr)
        compiled.ffi.memmove(kp.addr, name, len(name))
        kp.addrlen = len(name)

    def shift_sequence(self, delta: int) -> None:
        """Move the sequence numbers by ``delta``, so that they go on without a jump when the
        packet index this stream is sent with changes its count of unsent DTX ticks (a member
        moving between the stage and the audience)."""
        self.seq0 = (self.seq0 + delta) & 0xFFFF
        if self.kp is not None:
            self.kp.seq0 = self.seq0

    @property
    def red(self) -> bool:
        """Whether this stream's packets go out as RED (their payload type says so)."""
        return self.red_pt is not None and self.b1 == self.red_pt

    @red.setter
    def red(self, on: bool) -> None:
        """Send RED from the next packet on (the caller wraps the payloads), or plain Opus."""
        self.b1 = self.red_pt if on and self.red_pt is not None else self.opus_pt
        if self.kp is not None:
            self.kp.b1 = self.b1

    def close(self) -> None:
        self.ready = False  # before the descriptor goes: the C loop must not reuse its number
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send_rtcp(self, payload: bytes) -> None:
        srtp, sock = self.srtp, self.sock
        if srtp is None or sock is None:
            return
        try:
            sock.sendto(srtp.protect_rtcp(payload), self.addr)
        except Exception:  # one peer's RTCP must never break the others
            logger.debug("RTCP to %s failed", self.addr, exc_info=True)

    def sender_report(self, rtp_now: int, ntp: int | None = None) -> None:
        """An RTCP SR (+ SDES CNAME) with this stream's own counters."""
        if ntp is None:
            ntp = clock.current_ntp_time()
        packets: list[Any] = [
            RtcpSrPacket(
                ssrc=self.ssrc,
                sender_info=RtcpSenderInfo(
                    ntp_timestamp=ntp,
                    rtp_timestamp=(self.ts0 + rtp_now) & 0xFFFFFFFF,
                    packet_count=self.packets & 0xFFFFFFFF,
                    octet_count=self.octets & 0xFFFFFFFF,
                ),
            )
        ]
        if self.cname:
            packets.append(
                RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=self.ssrc, items=[(1, self.cname)])])
            )
        self.send_rtcp(b"".join(bytes(p) for p in packets))

    def bye(self) -> None:
        self.send_rtcp(bytes(RtcpByePacket(sources=[self.ssrc])))


class OutboundList(list[Outbound]):
    """The listeners of a Space as the tick sees them; never mutated once built (the origin
    builds a new one on every membership change), so the C kernel's array of ``struct kpeer``
    pointers is built once per list, not once per tick."""

    __slots__ = ("_array",)

    def kernel_array(self, compiled: _Compiled) -> Any:
        array = getattr(self, "_array", None)
        if array is None:
            array = self._array = _peer_array(compiled, self)
        return array


def _peer_array(compiled: _Compiled, outbounds: Iterable[Outbound]) -> Any:
    pointers = [o.kp if o.kp is not None else compiled.ffi.NULL for o in outbounds]
    return compiled.ffi.new("struct kpeer *[]", pointers), len(pointers)


def fan_out(
    outbounds: Iterable[Outbound],
    index: int,
    rtp_ts: int,
    payload: bytes,
    level: int,
    marks: list[float] | None = None,
    mark_every: int = 50,
) -> tuple[int, int]:
    """Send the packet of mix tick ``index`` to every ready peer: (sent, dropped).

    The sequence number derives from ``index`` (the tick index, less the ticks the stream left
    unsent in DTX silence) and the timestamp from ``rtp_ts``, so a packet a peer missed shows
    up at that peer as a gap (loss concealment), never as a shifted stream. With ``marks``,
    the monotonic time after every ``mark_every``-th send (and after the last) is appended.
    Runs the kernel chosen by :func:`select_kernel`.
    """
    if _kernel == "compiled":
        return fan_out_compiled(outbounds, index, rtp_ts, payload, level, marks, mark_every)
    return fan_out_python(outbounds, index, rtp_ts, payload, level, marks, mark_every)


def fan_out_compiled(
    outbounds: Iterable[Outbound],
    index: int,
    rtp_ts: int,
    payload: bytes,
    level: int,
    marks: list[float] | None = None,
    mark_every: int = 50,
) -> tuple[int, int]:
    """:func:`fan_out` in C (``media/kernel/fanout.c``): one call per tick, whatever N."""
    compiled = _compiled
    if compiled is None:
        raise RuntimeError("the compiled fan-out kernel is not loaded")
    if isinstance(outbounds, OutboundList):
        array, n = outbounds.kernel_array(compiled)
    else:
        array, n = _peer_array(compiled, outbounds)
    ffi = compiled.ffi
    ast = (clock.current_ntp_time() >> 14) & 0xFFFFFF
    cap = n // mark_every + 2 if marks is not None and mark_every > 0 else 0
    times = ffi.new("double[]", cap) if cap else ffi.NULL
    counts = ffi.new("int[2]")
    sent = compiled.lib.fanout_tick(
        array,
        n,
        payload,
        len(payload),
        level & 0x7F,
        ast,
        index & 0xFFFFFFFF,
        rtp_ts & 0xFFFFFFFF,
        compiled.protect,
        times,
        cap,
        mark_every,
        counts,
        counts + 1,
    )
    if marks is not None and cap:
        marks.extend(times[0 : counts[0]])
    return sent, counts[1]


def fan_out_python(
    outbounds: Iterable[Outbound],
    index: int,
    rtp_ts: int,
    payload: bytes,
    level: int,
    marks: list[float] | None = None,
    mark_every: int = 50,
) -> tuple[int, int]:
    """:func:`fan_out` in Python: the fallback where the compiled kernel is not built."""
    bodies: dict[ExtKey, bytes] = {}
    ast = (clock.current_ntp_time() >> 14) & 0xFFFFFF
    pack = _HEADER.pack
    plen = len(payload)
    sent = dropped = 0
    for out in outbounds:
        if not out._ready:
            continue
        key = out.ext_key
        body = bodies.get(key)
        if body is None:
            body = bodies[key] = extension_block(key, level, ast) + payload
        try:
            out.sock.sendto(  # type: ignore[union-attr]
                out.protect(
                    pack(
                        out.b0,
                        out.b1,
                        (out.seq0 + index) & 0xFFFF,
                        (out.ts0 + rtp_ts) & 0xFFFFFFFF,
                        out.ssrc,
                    )
                    + body
                ),
                out.addr,
            )
        except BlockingIOError:
            # The socket's send buffer is full: this peer misses the packet, nobody waits.
            out._dropped += 1
            dropped += 1
            continue
        except Exception:  # a broken peer must never stop the loop
            out._dropped += 1
            dropped += 1
            continue
        out._packets += 1
        out._octets += plen
        sent += 1
        if marks is not None and sent % mark_every == 0:
            marks.append(time.monotonic())
    if marks is not None and sent % mark_every:
        marks.append(time.monotonic())
    return sent, dropped


def _not_ready(data: bytes) -> bytes:
    raise ConnectionError("not connected")


def sockaddr(family: int, addr: Any) -> bytes:
    """``addr`` as the C ``struct sockaddr`` that ``sendto(data, addr)`` would use (IP literals,
    as ICE gives them, or an AF_UNIX path)."""
    if family == socket.AF_INET:
        host, port = addr[0], addr[1]
        return (
            struct.pack("=H", socket.AF_INET)
            + struct.pack("!H", port)
            + socket.inet_pton(socket.AF_INET, host)
            + bytes(8)
        )
    if family == socket.AF_INET6:
        host, port = addr[0], addr[1]
        flowinfo = addr[2] if len(addr) > 2 else 0
        scope = addr[3] if len(addr) > 3 else 0
        return (
            struct.pack("=H", socket.AF_INET6)
            + struct.pack("!HI", port, flowinfo)
            + socket.inet_pton(socket.AF_INET6, host)
            + struct.pack("=I", scope)
        )
    if family == socket.AF_UNIX:
        path = os.fsencode(addr)
        return struct.pack("=H", socket.AF_UNIX) + path + b"\x00"
    raise ValueError(f"address family {family} is not supported by the compiled kernel")


def _duplicate(transport: asyncio.DatagramTransport) -> socket.socket:
    """A second, non-blocking handle on the ICE socket, used only to send (and closed by us)."""
    original = transport.get_extra_info("socket")
    sock = socket.socket(fileno=os.dup(original.fileno()))
    sock.setblocking(False)
    return sock


select_kernel()
