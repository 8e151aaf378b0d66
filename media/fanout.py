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
"""

from __future__ import annotations

import asyncio
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

logger = logging.getLogger(__name__)

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"

_HEADER = struct.Struct("!BBHII")

# (mid id, mid bytes, audio-level id, abs-send-time id); 0 means not negotiated.
ExtKey = tuple[int, bytes, int, int]


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
        "addr",
        "b0",
        "b1",
        "cname",
        "dropped",
        "ext_key",
        "next_report",
        "octets",
        "packets",
        "protect",
        "ready",
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
        self.ready = False
        self.b0 = 0x80
        self.b1 = 111
        self.ext_key: ExtKey = (0, b"", 0, 0)
        self.cname = b""
        self.srtp: pylibsrtp.Session | None = None
        self.protect: Callable[[bytes], bytes] = _not_ready
        self.transport: asyncio.DatagramTransport | None = None
        self.sock: socket.socket | None = None
        self.addr: tuple[str, int] = ("", 0)
        self.packets = 0
        self.octets = 0
        self.dropped = 0
        self.next_report = 0

    def configure(
        self,
        parameters: RTCRtpSendParameters,
        *,
        srtp: pylibsrtp.Session,
        transport: asyncio.DatagramTransport,
        addr: tuple[str, int],
    ) -> None:
        """Take the negotiated payload type, MID and extension ids; start sending."""
        codec = parameters.codecs[0]
        if codec.mimeType.lower() != "audio/opus":
            raise ValueError(f"negotiated codec is {codec.mimeType}, not Opus")
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
        self.b1 = (codec.payloadType or 0) & 0x7F
        self.cname = (parameters.rtcp.cname or "").encode("utf-8")
        self.srtp = srtp
        self.protect = srtp_protector(srtp)
        self.transport = transport
        self.addr = addr
        self.sock = _duplicate(transport)
        self.ready = True

    def close(self) -> None:
        self.ready = False
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

    Sequence number and timestamp derive from the tick index, so a packet a peer missed shows
    up at that peer as a gap (loss concealment), never as a shifted stream. With ``marks``,
    the monotonic time after every ``mark_every``-th send (and after the last) is appended.
    """
    bodies: dict[ExtKey, bytes] = {}
    ast = (clock.current_ntp_time() >> 14) & 0xFFFFFF
    pack = _HEADER.pack
    plen = len(payload)
    sent = dropped = 0
    for out in outbounds:
        if not out.ready:
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
            out.dropped += 1
            dropped += 1
            continue
        except Exception:  # a broken peer must never stop the loop
            out.dropped += 1
            dropped += 1
            continue
        out.packets += 1
        out.octets += plen
        sent += 1
        if marks is not None and sent % mark_every == 0:
            marks.append(time.monotonic())
    if marks is not None and sent % mark_every:
        marks.append(time.monotonic())
    return sent, dropped


def _not_ready(data: bytes) -> bytes:
    raise ConnectionError("not connected")


def _duplicate(transport: asyncio.DatagramTransport) -> socket.socket:
    """A second, non-blocking handle on the ICE socket, used only to send (and closed by us)."""
    original = transport.get_extra_info("socket")
    sock = socket.socket(fileno=os.dup(original.fileno()))
    sock.setblocking(False)
    return sock
