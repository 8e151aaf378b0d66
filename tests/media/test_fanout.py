"""The direct forwarding loop: header rewrite per peer, SRTP per peer, drop instead of queue.

These tests hand the loop fake sockets, which only the Python kernel can use; the compiled
kernel is held to the same rules with real sockets in ``test_fanout_kernels.py``.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest
from aiortc.rtcrtpparameters import (
    RTCRtcpParameters,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from pylibsrtp import Policy, Session

from media import fanout
from media.fanout import (
    AUDIO_LEVEL_URI,
    MID_URI,
    Outbound,
    extension_block,
    fan_out,
    srtp_protector,
)


@pytest.fixture(autouse=True)
def python_kernel() -> Any:
    chosen = fanout.kernel()
    fanout.select_kernel("python")
    yield
    fanout.select_kernel(chosen)


class FakeSocket:
    """Stands in for the duplicated ICE socket; ``blocked`` makes sendto raise EAGAIN."""

    def __init__(self, *, blocked: bool = False) -> None:
        self.blocked = blocked
        self.sent: list[tuple[bytes, Any]] = []

    def sendto(self, data: bytes, addr: Any) -> int:
        if self.blocked:
            raise BlockingIOError
        self.sent.append((data, addr))
        return len(data)

    def close(self) -> None:
        pass


class FakeTransport:
    """What aioice hands over: a datagram transport whose real socket gets duplicated."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def get_extra_info(self, name: str) -> Any:
        return self._sock if name == "socket" else None


def params(pt: int, mid: str, mid_id: int, level_id: int) -> RTCRtpSendParameters:
    return RTCRtpSendParameters(
        codecs=[RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, payloadType=pt)],
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=mid_id, uri=MID_URI),
            RTCRtpHeaderExtensionParameters(id=level_id, uri=AUDIO_LEVEL_URI),
        ],
        muxId=mid,
        rtcp=RTCRtcpParameters(cname="worker"),
    )


def sessions() -> tuple[Session, Session]:
    key = os.urandom(30)
    tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    rx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND))
    return tx, rx


def make(pt: int, mid: str, mid_id: int, level_id: int, **kw: Any) -> tuple[Any, ...]:
    tx, rx = sessions()
    out = Outbound(ssrc=int.from_bytes(os.urandom(4), "big"))
    p = params(pt, mid, mid_id, level_id)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as real:
        out.configure(p, srtp=tx, transport=FakeTransport(real), addr=("127.0.0.1", 9))  # type: ignore[arg-type]
    assert out.sock is not None
    out.sock.close()
    fake = FakeSocket(**kw)
    out.sock = fake  # type: ignore[assignment]
    ext_map = HeaderExtensionsMap()
    ext_map.configure(p)
    return out, fake, rx, ext_map


def test_each_peer_gets_its_own_header_around_the_same_payload() -> None:
    peers = [make(111, "0", 1, 2), make(109, "audio", 4, 9), make(111, "0", 1, 2)]
    payload = b"\xfc" + bytes(range(60))
    for index in (1000, 1001):
        sent, dropped = fan_out([p[0] for p in peers], index, index * 960, payload, 42)
        assert (sent, dropped) == (3, 0)

    for out, transport, rx, ext_map in peers:
        assert len(transport.sent) == 2
        packets = [RtpPacket.parse(rx.unprotect(d), ext_map) for d, _ in transport.sent]
        for index, packet in zip((1000, 1001), packets, strict=True):
            assert packet.ssrc == out.ssrc
            assert packet.payload_type == out.b1
            assert packet.sequence_number == (out.seq0 + index) & 0xFFFF
            assert packet.timestamp == (out.ts0 + index * 960) & 0xFFFFFFFF
            assert packet.payload == payload
            assert packet.extensions.mid == out.ext_key[1].decode()
            assert packet.extensions.audio_level == (False, 42)
        assert out.packets == 2
        assert out.octets == 2 * len(payload)


def test_a_peer_whose_socket_would_block_misses_the_packet_and_nobody_waits() -> None:
    free, blocked = make(111, "0", 1, 2), make(111, "0", 1, 2, blocked=True)
    sent, dropped = fan_out([blocked[0], free[0]], 7, 7 * 960, b"\x01\x02", 0)
    assert (sent, dropped) == (1, 1)
    assert blocked[1].sent == []
    assert blocked[0].dropped == 1
    assert len(free[1].sent) == 1

    # Once the socket drains, the next packet goes out with the sequence number of its tick:
    # the missed one is a gap the receiver conceals, not a delayed packet.
    blocked[1].blocked = False
    fan_out([blocked[0]], 8, 8 * 960, b"\x03", 0)
    packet = RtpPacket.parse(blocked[2].unprotect(blocked[1].sent[0][0]), blocked[3])
    assert packet.sequence_number == (blocked[0].seq0 + 8) & 0xFFFF


def test_a_peer_not_yet_connected_is_skipped() -> None:
    waiting = Outbound(ssrc=1)
    ready = make(111, "0", 1, 2)
    assert fan_out([waiting, ready[0]], 1, 960, b"\x01", 0) == (1, 0)


def test_a_peer_that_raises_does_not_stop_the_loop() -> None:
    broken, ok = make(111, "0", 1, 2), make(111, "0", 1, 2)

    def explode(data: bytes, addr: Any) -> None:
        raise OSError("gone")

    broken[1].sendto = explode
    assert fan_out([broken[0], ok[0]], 1, 960, b"\x01", 0) == (1, 1)
    assert len(ok[1].sent) == 1


def test_packets_reach_a_real_socket_and_decrypt_there() -> None:
    tx, rx = sessions()
    p = params(111, "0", 1, 2)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
    ):
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(2)
        sender.bind(("127.0.0.1", 0))
        out = Outbound(ssrc=1234)
        out.configure(p, srtp=tx, transport=FakeTransport(sender), addr=receiver.getsockname())  # type: ignore[arg-type]
        assert fan_out([out], 3, 3 * 960, b"opus", 5) == (1, 0)
        data, addr = receiver.recvfrom(2048)
        assert addr == sender.getsockname()  # sent from the ICE socket's own address
        packet = RtpPacket.parse(rx.unprotect(data))
        assert packet.ssrc == 1234
        assert packet.payload == b"opus"
        out.close()
        assert out.sock is None
        sender.sendto(b"x", receiver.getsockname())  # the original is still open


def test_fast_protect_matches_pylibsrtp() -> None:
    key = os.urandom(30)
    plain = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    fast = srtp_protector(Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND)))
    for seq in range(5):
        packet = RtpPacket(payload_type=111, sequence_number=seq, ssrc=7, payload=b"ab").serialize()
        assert fast(packet) == plain.protect(packet)


def test_extension_blocks_follow_rfc_8285_one_byte_headers() -> None:
    block = extension_block((1, b"0", 2, 0), 30, 0)
    assert block == bytes([0xBE, 0xDE, 0x00, 0x01, 0x10, ord("0"), 0x20, 30])
    assert extension_block((0, b"", 0, 0), 30, 0) == b""


def test_sender_reports_carry_the_streams_own_counters() -> None:
    out, transport, rx, _ = make(111, "0", 1, 2)
    fan_out([out], 5, 5 * 960, b"\x01\x02\x03", 0)
    out.sender_report(5 * 960)
    from aiortc.rtp import RtcpPacket, RtcpSdesPacket, RtcpSrPacket

    report = RtcpPacket.parse(rx.unprotect_rtcp(transport.sent[-1][0]))
    sr = next(p for p in report if isinstance(p, RtcpSrPacket))
    assert sr.ssrc == out.ssrc
    assert sr.sender_info.packet_count == 1
    assert sr.sender_info.octet_count == 3
    assert sr.sender_info.rtp_timestamp == (out.ts0 + 5 * 960) & 0xFFFFFFFF
    assert any(isinstance(p, RtcpSdesPacket) for p in report)


@pytest.mark.parametrize("codec", ["audio/PCMU", "audio/G722"])
def test_only_opus_is_forwarded(codec: str) -> None:
    p = params(0, "0", 1, 2)
    p.codecs[0] = RTCRtpCodecParameters(mimeType=codec, clockRate=8000, payloadType=0)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as real,
        pytest.raises(ValueError, match="Opus"),
    ):
        Outbound(1).configure(p, srtp=sessions()[0], transport=FakeTransport(real), addr=("", 0))  # type: ignore[arg-type]


def test_red_switches_the_payload_type_and_a_shift_keeps_the_numbering_gapless() -> None:
    """RED first in the negotiated codecs (as the worker answers a lossy speaker): Opus is
    still the stream's codec, RED's payload type is used while ``red`` is on, and
    ``shift_sequence`` moves the numbering (in the compiled kernel's copy too)."""
    tx, rx = sessions()
    p = params(111, "0", 1, 2)
    p.codecs.insert(
        0,
        RTCRtpCodecParameters(
            mimeType="audio/red", clockRate=48000, payloadType=63, parameters={"111/111": None}
        ),
    )
    out = Outbound(ssrc=7)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as real:
        out.configure(p, srtp=tx, transport=FakeTransport(real), addr=("127.0.0.1", 9))  # type: ignore[arg-type]
    assert out.sock is not None
    out.sock.close()
    fake = FakeSocket()
    out.sock = fake  # type: ignore[assignment]
    ext_map = HeaderExtensionsMap()
    ext_map.configure(p)
    assert (out.opus_pt, out.red_pt, out.red) == (111, 63, False)

    fan_out([out], 10, 10 * 960, b"plain", 0)
    out.red = True
    fan_out([out], 11, 11 * 960, b"wrapped", 0)
    out.shift_sequence(-5)  # five ticks fewer skipped on the stream it is now sent with
    fan_out([out], 17, 17 * 960, b"after", 0)
    if out.kp is not None:
        assert out.kp.seq0 == out.seq0
        assert out.kp.b1 == 63
    got = [RtpPacket.parse(rx.unprotect(d), ext_map) for d, _ in fake.sent]
    assert [g.payload_type for g in got] == [111, 63, 63]
    seqs = [g.sequence_number for g in got]
    assert [(s - seqs[0]) & 0xFFFF for s in seqs] == [0, 1, 2]
