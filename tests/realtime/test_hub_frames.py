"""Room events as one frame built per event: the hub, the Space socket, and a real Daphne."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from spaces.realtime import wsframes
from spaces.realtime.hub import SpaceHub
from spaces_project import bus

pytestmark = pytest.mark.asyncio

ROOT = Path(__file__).resolve().parents[2]


def payload_of(frame: bytes) -> str:
    """The text of one unmasked server frame (what a client would read)."""
    assert frame[0] == 0x81  # FIN, text
    assert frame[1] & 0x80 == 0  # servers never mask
    length, start = frame[1] & 0x7F, 2
    if length == 126:
        length, start = int.from_bytes(frame[2:4], "big"), 4
    elif length == 127:
        length, start = int.from_bytes(frame[2:10], "big"), 10
    assert len(frame) == start + length
    return frame[start:].decode("utf-8")


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
async def test_a_text_frame_carries_the_text_whatever_its_length(size):
    text = "é" * (size // 2) + "x" * (size % 2)
    assert payload_of(wsframes.text_frame(text)) == text


class PlainTCP:
    """A Twisted `tcp.Server` on one end of a socket pair, its `write` recorded."""

    def __init__(self) -> None:
        from twisted.internet.tcp import Server as TCPServer

        self.ours, self.peer = socket.socketpair()
        self.ours.setblocking(False)
        self.peer.setblocking(False)
        transport: Any = object.__new__(TCPServer)
        transport.socket = self.ours
        transport.connected = 1
        transport.disconnecting = False
        transport._writeDisconnected = False
        transport._tempDataBuffer = []
        transport.dataBuffer = b""
        transport.offset = 0
        self.written: list[bytes] = []
        transport.write = self.written.append
        self.transport = transport

    def received(self) -> bytes:
        out = b""
        while True:
            try:
                chunk = self.peer.recv(1 << 20)
            except BlockingIOError:
                return out
            if not chunk:
                return out
            out += chunk

    def close(self) -> None:
        self.ours.close()
        self.peer.close()


@pytest.fixture(params=["compiled", "python"])
def sender(request):
    """Each test below runs with both ways `Frame.send` sends: they must behave alike."""
    chosen = wsframes.sender
    wsframes.select_sender(request.param)
    yield request.param
    wsframes.select_sender(chosen)


@pytest.fixture
def plain_tcp(sender):
    conn = PlainTCP()
    yield conn
    conn.close()


def _write(frame: wsframes.Frame, *transports: Any) -> None:
    """What the hub does for one event: every connection offered the frame, then one send."""
    from twisted.internet.tcp import Server as TCPServer

    for transport in transports:
        wsframes.transport_write(transport, frame, TCPServer)
    frame.send()


async def test_with_nothing_waiting_a_frame_goes_straight_to_the_socket(plain_tcp):
    frame = wsframes.Frame("hello")
    _write(frame, plain_tcp.transport)
    assert plain_tcp.received() == frame.data
    assert plain_tcp.written == []


async def test_one_send_reaches_every_connection_that_took_the_frame(sender):
    conns = [PlainTCP() for _ in range(70)]  # more than one batch of anything
    try:
        frame = wsframes.Frame("to all of you")
        _write(frame, *(c.transport for c in conns))
        assert [c.received() for c in conns] == [frame.data] * 70
        assert [c.written for c in conns] == [[]] * 70
        frame.send()  # sent once: nothing is taken twice
        assert [c.received() for c in conns] == [b""] * 70
    finally:
        for conn in conns:
            conn.close()


@pytest.mark.parametrize("threads", [1, 3, 8])
async def test_the_compiled_sender_shares_a_big_space_out_over_threads(monkeypatch, threads):
    if wsframes.sender != "compiled":
        pytest.skip("the compiled kernel is not built here: run `make kernel`")
    monkeypatch.setattr(wsframes, "_threads", threads)
    monkeypatch.setattr(wsframes, "SOCKETS_PER_THREAD", 16)
    count = 3 * 16 + 5  # three threads' worth, not evenly split
    conns = [PlainTCP() for _ in range(count)]
    try:
        conns[40].ours.close()  # one failing socket inside a share
        frame = wsframes.Frame("to a big Space")
        _write(frame, *(c.transport for c in conns))
        for n, conn in enumerate(conns):
            if n == 40:
                assert conn.written == [frame.data]
            else:
                assert (conn.received(), conn.written) == (frame.data, []), n
    finally:
        for conn in conns:
            conn.close()


async def test_behind_waiting_bytes_a_frame_waits_its_turn_in_twisted(plain_tcp):
    plain_tcp.transport._tempDataBuffer = [b"earlier"]
    frame = wsframes.Frame("later")
    _write(frame, plain_tcp.transport)
    assert plain_tcp.received() == b""
    assert plain_tcp.written == [frame.data]


async def test_what_a_full_socket_does_not_take_is_left_to_twisted(plain_tcp):
    frame = wsframes.Frame("x" * (8 << 20))  # far more than a socket buffer
    _write(frame, plain_tcp.transport)
    sent = plain_tcp.received()
    assert 0 < len(sent) < len(frame.data)
    assert sent + b"".join(plain_tcp.written) == frame.data


async def test_a_failing_socket_is_left_to_twisted_whole(sender):
    failing, fine = PlainTCP(), PlainTCP()
    try:
        failing.ours.close()  # any send now fails (EBADF)
        frame = wsframes.Frame("bye")
        _write(frame, failing.transport, fine.transport)
        assert failing.written == [frame.data]
        assert fine.received() == frame.data  # one failing socket costs the others nothing
    finally:
        failing.close()
        fine.close()


async def test_anything_but_plain_tcp_goes_through_twisted(plain_tcp):
    plain_tcp.transport.TLS = True
    frame = wsframes.Frame("secret")
    _write(frame, plain_tcp.transport)
    assert plain_tcp.received() == b""
    assert plain_tcp.written == [frame.data]


async def test_the_compiled_sender_is_chosen_when_built():
    from media import kernel as _  # noqa: F401

    if os.environ.get("CI") and wsframes.sender != "compiled":
        pytest.fail("CI builds media/kernel (`make kernel`): the compiled sender must load")
    if wsframes.sender != "compiled":
        pytest.skip("the compiled kernel is not built here: run `make kernel`")
    assert wsframes.select_sender("auto") == "compiled"
    with pytest.raises(ValueError):
        wsframes.select_sender("fastest")


class FrameSocket:
    def __init__(self, user_id: int, *, takes_frames: bool = True) -> None:
        self.user_id = user_id
        self.takes_frames = takes_frames
        self.frames: list[bytes] = []
        self.messages: list[int] = []

    def room_frame(self, message: dict[str, Any], frame: wsframes.Frame) -> bool:
        if self.takes_frames:
            self.frames.append(frame.data)
        return self.takes_frames

    async def room_message(self, message: dict[str, Any]) -> None:
        self.messages.append(message["event"]["seq"])


def message(space_id: int, seq: int) -> dict[str, Any]:
    return bus.layer_message(
        bus.space_group(space_id), {"type": "captions.toggled", "space_id": space_id, "seq": seq}
    )


async def test_the_hub_builds_one_frame_per_event_for_all_its_sockets(monkeypatch):
    built: list[str] = []
    real = wsframes.text_frame

    def counting(text: str) -> bytes:
        built.append(text)
        return real(text)

    monkeypatch.setattr(wsframes, "text_frame", counting)
    hub = SpaceHub(bus_layer(), asyncio.get_running_loop())
    sockets = [FrameSocket(n) for n in range(5)]
    declining = FrameSocket(99, takes_frames=False)
    for sock in [*sockets, declining]:
        await hub.join(8, sock)
    events = [message(8, seq) for seq in (1, 2, 3)]
    for event in events:
        await hub.route(event)

    assert built == [event["text"] for event in events]  # once per event, not per socket
    for sock in sockets:
        assert [payload_of(f) for f in sock.frames] == built
        assert [id(f) for f in sock.frames] == [id(f) for f in sockets[0].frames]
        assert sock.messages == []
    assert declining.messages == [1, 2, 3]  # a socket that declines gets the message instead
    for sock in [*sockets, declining]:
        await hub.leave(8, sock)


class TCPSocket:
    """A member whose connection is a PlainTCP: it hands the connection to the frame."""

    def __init__(self, user_id: int, conn: PlainTCP, visited: list[PlainTCP]) -> None:
        self.user_id = user_id
        self.conn = conn
        self.visited = visited

    def room_frame(self, message: dict[str, Any], frame: wsframes.Frame) -> bool:
        from twisted.internet.tcp import Server as TCPServer

        wsframes.transport_write(self.conn.transport, frame, TCPServer)
        self.visited.append(self.conn)
        return True

    async def room_message(self, message: dict[str, Any]) -> None:
        raise AssertionError("takes every frame")


async def test_what_a_frame_took_is_sent_before_the_hub_awaits_anything(sender):
    """A socket that declines gets the message through a coroutine, which may yield to the
    event loop (and so to anything that writes to the other connections): by then the frame
    must already be on the sockets that took it."""
    hub = SpaceHub(bus_layer(), asyncio.get_running_loop())
    conns = [PlainTCP() for _ in range(6)]
    visited: list[PlainTCP] = []
    received: dict[int, bytes] = {}
    # For each declining socket: had every connection visited before it got the frame?
    had_it_then: list[list[bool]] = []

    class Declining(FrameSocket):
        async def room_message(self, message: dict[str, Any]) -> None:
            for conn in visited:
                received[id(conn)] = received.get(id(conn), b"") + conn.received()
            had_it_then.append([bool(received.get(id(conn))) for conn in visited])

    members: list[Any] = [TCPSocket(n, conn, visited) for n, conn in enumerate(conns)]
    members[3:3] = [Declining(90, takes_frames=False), Declining(91, takes_frames=False)]
    try:
        for member in members:
            await hub.join(9, member)
        event = message(9, 1)
        await hub.route(event)
        for conn in conns:
            received[id(conn)] = received.get(id(conn), b"") + conn.received()
        assert len(had_it_then) == 2
        assert all(all(each) for each in had_it_then), had_it_then
        assert [len(each) for each in had_it_then] == [3, 3]  # the hub goes in join order
        assert [payload_of(received[id(conn)]) for conn in conns] == [event["text"]] * 6
    finally:
        for member in members:
            await hub.leave(9, member)
        for conn in conns:
            conn.close()


def bus_layer() -> Any:
    from channels.layers import InMemoryChannelLayer

    return InMemoryChannelLayer()


# --- The Space socket: which events leave as the shared frame -----------------------------------


class Recorder:
    """Stands for Daphne's writer: keeps the frames, or declines them all."""

    def __init__(self, accept: bool) -> None:
        self.accept = accept
        self.texts: list[dict[str, Any]] = []

    def __call__(self, frame: wsframes.Frame) -> bool:
        if self.accept:
            self.texts.append(json.loads(payload_of(frame.data)))
        return self.accept


def recording_communicator(path: str, token: str, recorder: Recorder) -> WebsocketCommunicator:
    from tests.realtime.conftest import application

    async def with_writer(scope: dict[str, Any], receive: Any, send: Any) -> Any:
        return await application({**scope, wsframes.SCOPE_KEY: recorder}, receive, send)

    headers = [(b"host", b"localhost"), (b"x-session-token", token.encode())]
    return WebsocketCommunicator(with_writer, path, headers=headers)


async def _read(comm: WebsocketCommunicator, kind: str) -> dict[str, Any]:
    while True:
        output = await comm.receive_output(timeout=10)
        assert output["type"] == "websocket.send", output
        found = json.loads(output["text"])
        if found["type"] == kind:
            return found


async def _wait_for(predicate: Any) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def recorded_listener(*, accept: bool) -> AsyncIterator[tuple[Any, Any, Any, Recorder]]:
    """A listener's socket in a new Space, past its snapshot, whose frame writer `recorder`
    stands in for Daphne's (taking the frames, or declining them). Yields (space, listener,
    communicator, recorder)."""
    from tests.factories import SpaceFactory, UserFactory
    from tests.realtime.conftest import session_key_for, space_path
    from tests.realtime.helpers import db

    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    recorder = Recorder(accept=accept)
    token = await db(session_key_for)(listener)
    comm = recording_communicator(space_path(space.pk), token, recorder)
    try:
        assert (await comm.connect(timeout=10))[0]
        await _read(comm, "space.state")
        yield space, listener, comm, recorder
    finally:
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_room_events_reach_a_daphne_socket_as_the_shared_frame(open_socket):
    from tests.realtime.conftest import space_path

    async with (
        recorded_listener(accept=True) as (space, listener, comm, recorder),
        open_socket(space.host, space_path(space.pk)) as host,
    ):
        await host.until_type("space.state")
        assert (await host.act("captions", enabled=True))["type"] == "ack"
        if not any(m["type"] == "captions.toggled" for m in host.seen):
            await host.until_type("captions.toggled")  # the host's socket has no writer
        await _wait_for(lambda: recorder.texts)
        assert [t["type"] for t in recorder.texts] == ["captions.toggled"]
        assert recorder.texts[0]["enabled"] is True

        # An event about the listener themselves goes the long way: it is followed by
        # their own refreshed view.
        await comm.send_json_to({"action": "raise_hand", "id": "h"})
        raised = await _read(comm, "hand.raised")
        assert raised["request"]["user"]["id"] == listener.pk
        await _read(comm, "space.state")
        assert [t["type"] for t in recorder.texts] == ["captions.toggled"]


@pytest.mark.django_db(transaction=True)
async def test_a_declined_frame_is_sent_through_asgi_instead(open_socket):
    from tests.realtime.conftest import space_path

    async with (
        recorded_listener(accept=False) as (space, _, comm, _recorder),
        open_socket(space.host, space_path(space.pk)) as host,
    ):
        await host.until_type("space.state")
        await host.act("captions", enabled=True)
        toggled = await _read(comm, "captions.toggled")
        assert toggled["enabled"] is True


# --- A real Daphne: the internals the writer relies on are still there ---------------------------


async def probe_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Served by Daphne in the test below, behind FrameOutlet."""
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    write = scope.get(wsframes.SCOPE_KEY)
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if write is None:
            await send({"type": "websocket.send", "text": "no writer"})
            continue
        # Twisted holds nothing yet: straight to the socket; then behind an ASGI send.
        frame = wsframes.Frame("direct 0")
        write(frame)
        frame.send()
        await send({"type": "websocket.send", "text": "asgi 1"})
        frame = wsframes.Frame("direct 2 é")
        wrote = write(frame)
        frame.send()
        await send({"type": "websocket.send", "text": f"asgi 3 {wrote}"})


probe_application = wsframes.FrameOutlet(probe_app)
PROBE = "tests.realtime.test_hub_frames:probe_application"

# Django first: importing this module imports models.
DAPHNE_WITH_DJANGO = (
    "import sys, django; django.setup(); from daphne.cli import CommandLineInterface; "
    "CommandLineInterface().run(sys.argv[1:])"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _talk_to_a_real_daphne() -> list[str]:
    from websockets.sync.client import connect

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", DAPHNE_WITH_DJANGO, "-b", "127.0.0.1", "-p", str(port), PROBE],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "spaces_project.settings"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert time.monotonic() < deadline, "daphne did not start"
                time.sleep(0.1)
        got: list[str] = []
        with connect(f"ws://127.0.0.1:{port}/", open_timeout=10) as ws:
            for _ in range(2):
                ws.send("go")
                got += [str(ws.recv(timeout=10)) for _ in range(4)]
        return got
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        if server.stderr:
            server.stderr.close()


async def test_under_a_real_daphne_frames_go_out_in_order_with_the_asgi_sends():
    got = await asyncio.to_thread(_talk_to_a_real_daphne)
    assert got == ["direct 0", "asgi 1", "direct 2 é", "asgi 3 True"] * 2
