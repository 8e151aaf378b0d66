"""Both fan-out kernels, compiled and Python, on real sockets: the same datagrams, bit for bit,
the same drops, and the Python loop when the compiled one is missing.

The compiled kernel is built by ``make install`` (``python -m media.kernel.build``); where it is
not built its tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
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
    ABS_SEND_TIME_URI,
    AUDIO_LEVEL_URI,
    MID_URI,
    Outbound,
    OutboundList,
    fan_out,
)

AST_NTP = 0x0123_4567_89AB_CDEF


def compiled_available() -> bool:
    try:
        fanout.select_kernel("compiled")
    except RuntimeError:
        return False
    finally:
        fanout.select_kernel("auto")
    return True


def need_compiled() -> None:
    if not compiled_available():
        if os.environ.get("CI") == "true":
            pytest.fail("the compiled fan-out kernel is not built (make install-dev builds it)")
        pytest.skip("the compiled fan-out kernel is not built (python -m media.kernel.build)")


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """abs-send-time comes from the clock: frozen, so both kernels write the same bytes."""
    monkeypatch.setattr(fanout.clock, "current_ntp_time", lambda: AST_NTP)


@pytest.fixture(params=["python", "compiled"])
def kernel(request: pytest.FixtureRequest, frozen_clock: None) -> Iterator[str]:
    """Each test once per kernel."""
    name: str = request.param
    if name == "compiled":
        need_compiled()
    chosen = fanout.kernel()
    fanout.select_kernel(name)
    yield name
    fanout.select_kernel(chosen)


@pytest.fixture
def both(frozen_clock: None) -> Iterator[None]:
    """For comparisons that run each kernel in turn: the kernel in force is restored after."""
    need_compiled()
    chosen = fanout.kernel()
    yield
    fanout.select_kernel(chosen)


class FakeTransport:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def get_extra_info(self, name: str) -> Any:
        return self._sock if name == "socket" else None


def params(pt: int, mid: str, ids: tuple[int, int, int]) -> RTCRtpSendParameters:
    uris = (MID_URI, AUDIO_LEVEL_URI, ABS_SEND_TIME_URI)
    return RTCRtpSendParameters(
        codecs=[RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, payloadType=pt)],
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=i, uri=u)
            for i, u in zip(ids, uris, strict=True)
            if i
        ],
        muxId=mid,
        rtcp=RTCRtcpParameters(cname="worker"),
    )


# Negotiations seen in practice and at the edges: all three extensions, MID + level only, none,
# the longest MID a one-byte element carries, ids at both ends of the one-byte range.
SHAPES = [
    (111, "0", (1, 2, 3)),
    (109, "audio", (4, 9, 0)),
    (111, "0", (0, 0, 0)),
    (96, "a" * 16, (14, 0, 1)),
    (111, "1", (0, 5, 0)),
]


class Peer:
    """A configured Outbound sending to a local UDP receiver, with its decrypting session."""

    def __init__(self, shape: tuple[int, str, tuple[int, int, int]], key: bytes, n: int) -> None:
        pt, mid, ids = shape
        self.receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.receiver.bind(("127.0.0.1", 0))
        self.receiver.settimeout(2)
        self.sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sender.bind(("127.0.0.1", 0))
        self.out = Outbound(ssrc=0x1000_0000 + n)
        self.out.seq0 = 65_530 - n  # wraps during the test
        self.out.ts0 = 0xFFFF_FF00 + n
        tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
        self.rx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND))
        p = params(pt, mid, ids)
        self.ext_map = HeaderExtensionsMap()
        self.ext_map.configure(p)
        self.out.configure(
            p,
            srtp=tx,
            transport=FakeTransport(self.sender),  # type: ignore[arg-type]
            addr=self.receiver.getsockname(),
        )

    def received(self, count: int) -> list[bytes]:
        return [self.receiver.recv(2048) for _ in range(count)]

    def close(self) -> None:
        self.out.close()
        self.sender.close()
        self.receiver.close()


TICKS = [
    (1000, b"\xfc" + bytes(range(60)), 42),
    (1001, b"\x78" * 160, 127),
    (1002, b"", 0),
    (70_000, b"\x01\x02\x03", 200),  # index past 16 bits, level past 7 bits
]


def run_ticks(kernel_name: str, keys: list[bytes]) -> tuple[list[list[bytes]], list[Outbound]]:
    fanout.select_kernel(kernel_name)
    peers = [Peer(shape, key, n) for n, (shape, key) in enumerate(zip(SHAPES, keys, strict=True))]
    try:
        outs = OutboundList(p.out for p in peers)
        for index, payload, level in TICKS:
            assert fan_out(outs, index, index * 960, payload, level) == (len(peers), 0)
        return [p.received(len(TICKS)) for p in peers], [p.out for p in peers]
    finally:
        for p in peers:
            p.close()


def test_both_kernels_send_the_same_datagrams(both: None) -> None:
    """Same keys, SSRCs, sequence numbers, timestamps and extensions: same bytes on the wire."""
    keys = [os.urandom(30) for _ in SHAPES]
    compiled, compiled_outs = run_ticks("compiled", keys)
    python, python_outs = run_ticks("python", keys)
    assert compiled == python
    for a, b in zip(compiled_outs, python_outs, strict=True):
        assert (a.packets, a.octets, a.dropped) == (b.packets, b.octets, b.dropped)
        assert a.packets == len(TICKS)


def test_datagrams_decrypt_to_the_rtp_packet_of_the_tick(kernel: str) -> None:
    keys = [os.urandom(30) for _ in SHAPES]
    peers = [Peer(shape, key, n) for n, (shape, key) in enumerate(zip(SHAPES, keys, strict=True))]
    try:
        for index, payload, level in TICKS:
            fan_out([p.out for p in peers], index, index * 960, payload, level)
        for peer in peers:
            out = peer.out
            for (index, payload, level), data in zip(TICKS, peer.received(len(TICKS)), strict=True):
                packet = RtpPacket.parse(peer.rx.unprotect(data), peer.ext_map)
                assert packet.ssrc == out.ssrc
                assert packet.payload_type == out.b1
                assert packet.sequence_number == (out.seq0 + index) & 0xFFFF
                assert packet.timestamp == (out.ts0 + index * 960) & 0xFFFFFFFF
                assert packet.payload == payload
                mid_id, mid, level_id, ast_id = out.ext_key
                assert packet.extensions.mid == (mid.decode() if mid_id else None)
                assert packet.extensions.audio_level == (
                    (False, level & 0x7F) if level_id else None
                )
                ast = (AST_NTP >> 14) & 0xFFFFFF
                assert packet.extensions.abs_send_time == (ast if ast_id else None)
    finally:
        for p in peers:
            p.close()


def test_peers_not_ready_or_closed_are_skipped(kernel: str) -> None:
    waiting = Outbound(ssrc=1)
    live, gone = Peer(SHAPES[0], os.urandom(30), 0), Peer(SHAPES[0], os.urandom(30), 1)
    try:
        gone.out.close()
        assert fan_out([waiting, gone.out, live.out], 1, 960, b"\x01", 0) == (1, 0)
        assert len(live.received(1)) == 1
        assert (waiting.packets, gone.out.packets, gone.out.dropped) == (0, 0, 0)
    finally:
        live.close()
        gone.close()


def test_a_send_error_drops_that_packet_and_the_loop_goes_on(kernel: str) -> None:
    broken, ok = Peer(SHAPES[0], os.urandom(30), 0), Peer(SHAPES[1], os.urandom(30), 1)
    too_long = Peer(SHAPES[2], os.urandom(30), 2)
    try:
        # Port 0 is refused by the kernel (EINVAL), as a vanished route would be.
        broken.out.addr = ("127.0.0.1", 0)
        if broken.out.kp is not None:
            broken.out._fill_kp(fanout._compiled, broken.out.srtp)  # type: ignore[arg-type]
        assert fan_out([broken.out, ok.out], 1, 960, b"\x01", 0) == (1, 1)
        assert broken.out.dropped == 1
        assert len(ok.received(1)) == 1
        # Longer than the SRTP buffer allows: dropped by both kernels, counted, nothing sent.
        assert fan_out([too_long.out], 2, 1920, b"\x00" * 1400, 0) == (0, 1)
        assert (too_long.out.packets, too_long.out.dropped) == (0, 1)
    finally:
        for p in (broken, ok, too_long):
            p.close()


@pytest.fixture
def unix_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
        yield Path(tmp)


def blocked_peer(path: Path, key: bytes) -> tuple[Outbound, socket.socket, Session, socket.socket]:
    """A peer whose receiver never reads: its datagram socket would block once the queue fills
    (loopback UDP never does: the kernel drops at the receiver instead)."""
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    out = Outbound(ssrc=77)
    out.seq0, out.ts0 = 100, 5000
    tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    rx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND))
    out.configure(
        params(111, "0", (1, 2, 0)),
        srtp=tx,
        transport=FakeTransport(sender),  # type: ignore[arg-type]
        addr=str(path),  # type: ignore[arg-type]
    )
    return out, receiver, rx, sender


def fill_until_blocked(out: Outbound, first: int) -> int:
    """Send ticks from ``first`` until one is dropped; returns how many went out."""
    for index in range(first, first + 5000):
        sent, dropped = fan_out([out], index, index * 960, b"\x55" * 100, 0)
        if dropped:
            assert sent == 0
            return index - first
    raise AssertionError("the socket never filled up")


def test_a_socket_that_would_block_misses_packets_then_resumes_in_sequence(
    kernel: str, unix_dir: Path
) -> None:
    out, receiver, rx, sender = blocked_peer(unix_dir / "peer", os.urandom(30))
    free = Peer(SHAPES[0], os.urandom(30), 1)
    try:
        queued = fill_until_blocked(out, 0)
        assert queued > 0
        assert (out.packets, out.dropped) == (queued, 1)
        # A full peer costs the others nothing: the free one still gets the tick.
        assert fan_out([out, free.out], queued + 1, 0, b"\x01", 0) == (1, 1)
        assert len(free.received(1)) == 1
        # Drain: the next packet carries its own tick's sequence number, the missed ones are a gap.
        receiver.setblocking(False)
        for _ in range(queued):
            receiver.recv(2048)
        assert fan_out([out], 500, 500 * 960, b"\x02", 0) == (1, 0)
        packet = RtpPacket.parse(rx.unprotect(receiver.recv(2048)))
        assert packet.sequence_number == (out.seq0 + 500) & 0xFFFF
    finally:
        out.close()
        for s in (receiver, sender):
            s.close()
        free.close()


def test_both_kernels_block_at_the_same_point(both: None, unix_dir: Path) -> None:
    counts = {}
    for name in ("compiled", "python"):
        fanout.select_kernel(name)
        out, receiver, _, sender = blocked_peer(unix_dir / name, bytes(30))
        try:
            counts[name] = (fill_until_blocked(out, 0), out.packets, out.dropped)
        finally:
            out.close()
            receiver.close()
            sender.close()
    assert counts["compiled"] == counts["python"]


def test_marks_follow_every_nth_send_and_the_last(kernel: str) -> None:
    peers = [Peer(SHAPES[0], os.urandom(30), n) for n in range(5)]
    try:
        marks: list[float] = []
        assert fan_out([p.out for p in peers], 1, 960, b"\x01", 0, marks=marks, mark_every=2) == (
            5,
            0,
        )
        assert len(marks) == 3  # after the 2nd, the 4th, and the 5th (last)
        assert marks == sorted(marks)
    finally:
        for p in peers:
            p.close()


def test_the_python_loop_is_chosen_when_the_compiled_kernel_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chosen = fanout.kernel()
    monkeypatch.setitem(sys.modules, "media.kernel._fanout", None)  # import fails
    try:
        assert fanout.select_kernel("auto") == "python"
        assert fanout.kernel_info().startswith("python (fallback, ModuleNotFoundError")
        with pytest.raises(RuntimeError, match="not available"):
            fanout.select_kernel("compiled")
        # Peers created meanwhile have no C state and the Python loop serves them.
        out = Outbound(ssrc=1)
        assert out.kp is None
        with pytest.raises(ValueError, match="MEDIA_FANOUT_KERNEL"):
            fanout.select_kernel("fast")
    finally:
        monkeypatch.undo()
        fanout.select_kernel(chosen)


def test_the_environment_picks_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = fanout.kernel()
    try:
        monkeypatch.setenv("MEDIA_FANOUT_KERNEL", "python")
        assert fanout.select_kernel() == "python"
        assert fanout.kernel_info() == "python (asked for)"
        monkeypatch.setenv("MEDIA_FANOUT_KERNEL", "auto")
        assert fanout.select_kernel() == ("compiled" if compiled_available() else "python")
    finally:
        fanout.select_kernel(chosen)
