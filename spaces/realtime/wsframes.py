"""Room events written to Daphne's connections as one WebSocket frame built once per event.

Through ASGI, every copy of a room event costs a chain of coroutines (consumer `send`, the
session wrapper, Daphne's `handle_reply`), then autobahn's `sendMessage`, which frames the
payload again for each socket and eagerly formats the arguments of debug log lines that are
never printed (`hltype`/`hlval` → `click.style` on every `sendData`: no log level avoids it, the
arguments are built before the call), then Twisted's transport, which buffers the bytes, asks
the asyncio loop to watch the socket for writability and, one loop turn later, sends and stops
watching (two `epoll_ctl` and a callback per frame). Measured with a trivial app on this
project's Daphne: ~51 µs of server CPU per frame that way, ~14 µs this way (bench/RESULTS.md,
"Room events"). With 1000 listeners in a Space that is most of the server's cost per event.

So the hub builds the frame bytes once per event (autobahn's own `PreparedMessage`: the bytes
`sendMessage` would write) and each socket's writer sends them on its TCP socket at once when
Twisted holds nothing unsent for it, which is what Twisted itself would do a loop turn later.
Anything else (bytes already waiting, a partial send, a full or failing socket) goes to
`transport.write`, behind what is waiting, so the order of everything a socket sends is kept
(ASGI sends under Daphne reach the transport synchronously too) and Twisted alone notices a
lost connection and closes it as usual.

`FrameOutlet` is an ASGI middleware, the outermost one on the socket path, so it sees the `send`
Daphne gave the application: `functools.partial(Server.handle_reply, protocol)`. When that is
what it finds, it puts a writer for that connection in the scope under `SCOPE_KEY`. Under any
other server (or in tests with `WebsocketCommunicator`) nothing is added and consumers use the
ASGI `send` as usual. The writer declines (returns False, and the caller sends through ASGI)
whenever a plain ASGI send could behave differently: the socket is not open, autobahn queued
data of its own, or Daphne already saw it disconnect. `SPACES_WS_DIRECT_FRAMES = False` turns the
whole path off.

Relies on Daphne 4.2, autobahn and Twisted internals (pinned in requirements.txt);
tests/realtime/test_hub_frames.py checks, with a real Daphne, that they are still there.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

SCOPE_KEY = "spaces.write_frame"

FrameWriter = Callable[["Frame"], bool]


def text_frame(text: str) -> bytes:
    """One unmasked, unfragmented, uncompressed WebSocket text frame carrying `text`."""
    from autobahn.websocket.protocol import PreparedMessage

    return bytes(PreparedMessage(text.encode("utf-8"), False, False, True).payloadHybi)


def daphne_writer(send: Any) -> FrameWriter | None:
    """A writer for the Daphne connection behind `send`, or None if `send` is not Daphne's."""
    if not (isinstance(send, functools.partial) and len(send.args) == 1 and not send.keywords):
        return None
    try:
        from daphne.server import Server
        from daphne.ws_protocol import WebSocketProtocol
        from twisted.internet.tcp import Server as TCPServer
    except ImportError:
        return None
    server = getattr(send.func, "__self__", None)
    protocol = send.args[0]
    if not (isinstance(server, Server) and isinstance(protocol, WebSocketProtocol)):
        return None
    connections: dict[Any, dict[str, Any]] = server.connections
    is_open = WebSocketProtocol.STATE_OPEN

    def write(frame: Frame) -> bool:
        if protocol.state != is_open or protocol.send_queue:
            return False
        info = connections.get(protocol)
        if info is None or info.get("disconnected"):
            return False
        transport_write(protocol.transport, frame, TCPServer)
        return True

    return write


def transport_write(transport: Any, frame: Frame, tcp_server: type[Any]) -> None:
    """`transport.write(frame.data)`, but taken by `frame` to send at once when `transport` is a
    plain TCP connection (`tcp_server`: Twisted's `tcp.Server`, not a subclass, not TLS) with
    nothing waiting."""
    if (
        type(transport) is tcp_server
        and not transport.TLS
        and transport.connected
        and not transport.disconnecting
        and not transport._writeDisconnected
        and not transport._tempDataBuffer
        and transport.offset == len(transport.dataBuffer)
    ):
        frame.take(transport)
    else:
        transport.write(frame.data)


class Frame:
    """One room event's frame and the connections that take it straight, sent by `send`.

    Collecting first and sending once lets one compiled call (`send_same` in
    media/kernel/fanout.c) do the sends for the whole Space, with Python's lock released while
    the kernel copies the bytes (about half of a delivery's CPU: ~11 µs of kernel per loopback
    TCP send, bench/RESULTS.md), so the process's database threads (the next comment's service)
    run on the other core meanwhile instead of waiting for the fan-out.

    Order: a connection is taken only while Twisted holds nothing for it, and nothing can be
    written to it between `take` and `send` as long as the caller does not yield to the event
    loop in between: the hub calls `send` before any `await` and at the end of each event.
    """

    __slots__ = ("_transports", "data")

    def __init__(self, text: str) -> None:
        self.data = text_frame(text)
        self._transports: list[Any] = []

    def take(self, transport: Any) -> None:
        self._transports.append(transport)

    def send(self) -> None:
        """Send to every connection taken so far; what a socket does not take (full, failing)
        goes to `transport.write`, so Twisted queues it or notices the lost connection."""
        transports = self._transports
        if not transports:
            return
        self._transports = []
        data = self.data
        results = _send_same(transports, data)
        for transport, sent in zip(transports, results, strict=True):
            if sent != len(data):
                transport.write(data[sent:] if sent > 0 else data)


def _send_python(transports: list[Any], data: bytes) -> list[int]:
    results = []
    for transport in transports:
        try:
            results.append(transport.socket.send(data))
        except OSError:
            results.append(0)  # full, or failing: Twisted's own write finds out and handles it
    return results


# A thread of the compiled sender takes at least this many sockets: below it, starting a thread
# (~20-50 µs) costs more than the sends it would take over (~5-15 µs each).
SOCKETS_PER_THREAD = 128


def _send_threads() -> int:
    """`SPACES_WS_SEND_THREADS`, default the cores there are, at most 4."""
    configured = os.environ.get("SPACES_WS_SEND_THREADS", "")
    return max(1, int(configured)) if configured else min(4, os.cpu_count() or 1)


def _send_compiled(transports: list[Any], data: bytes) -> list[int]:
    n = len(transports)
    fds = _ffi.new("int[]", [t.socket.fileno() for t in transports])
    sent = _ffi.new("int[]", n)
    # Nearly all of a send is the kernel's work for that one socket, so a big Space's sends are
    # shared out over threads (other cores), each a contiguous share; the GIL is released.
    threads = min(_threads, n // SOCKETS_PER_THREAD)
    _lib.send_same_threads(fds, n, data, len(data), sent, threads)
    return list(sent)


def select_sender(wanted: str | None = None) -> str:
    """Pick how `Frame.send` sends: `compiled` (media/kernel, built by `make install`) or
    `python`; `auto` (the default, `SPACES_WS_SEND`) takes the compiled one when it loads."""
    global _send_same, _ffi, _lib, _threads, sender
    wanted = wanted or os.environ.get("SPACES_WS_SEND", "auto")
    if wanted not in ("auto", "compiled", "python"):
        raise ValueError(f"SPACES_WS_SEND must be auto, compiled or python, not {wanted!r}")
    lib = None
    if wanted != "python":
        try:
            from media.kernel import _fanout  # type: ignore[attr-defined]

            lib = _fanout.lib
            _ffi = _fanout.ffi
        except ImportError:
            lib = None
        if lib is not None and not hasattr(lib, "send_same_threads"):
            lib = None  # built before the sender was added to the kernel
        if lib is None and wanted == "compiled":
            raise RuntimeError("the compiled sender is not built: run `make kernel`")
    if lib is None:
        _send_same, sender = _send_python, "python"
    else:
        _lib, _send_same, sender = lib, _send_compiled, "compiled"
        _threads = _send_threads()
    logger.debug(
        "room event frames sent by the %s sender%s",
        sender,
        f" (up to {_threads} threads)" if sender == "compiled" else "",
    )
    return sender


_ffi: Any = None
_lib: Any = None
_threads = 1
_send_same: Callable[[list[Any], bytes], list[int]] = _send_python
sender = "python"
select_sender()


class FrameOutlet:
    """ASGI middleware: offers sockets a direct frame writer when the server is Daphne."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and getattr(settings, "SPACES_WS_DIRECT_FRAMES", True):
            writer = daphne_writer(send)
            if writer is not None:
                scope = {**scope, SCOPE_KEY: writer}
        return await self.inner(scope, receive, send)
