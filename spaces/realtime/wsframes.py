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
from collections.abc import Callable
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

SCOPE_KEY = "spaces.write_frame"

FrameWriter = Callable[[bytes], bool]


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

    def write(frame: bytes) -> bool:
        if protocol.state != is_open or protocol.send_queue:
            return False
        info = connections.get(protocol)
        if info is None or info.get("disconnected"):
            return False
        transport_write(protocol.transport, frame, TCPServer)
        return True

    return write


def transport_write(transport: Any, frame: bytes, tcp_server: type[Any]) -> None:
    """`transport.write(frame)`, but sent at once when `transport` is a plain TCP connection
    (`tcp_server`: Twisted's `tcp.Server`, not a subclass, not TLS) with nothing waiting."""
    if (
        type(transport) is tcp_server
        and not transport.TLS
        and transport.connected
        and not transport.disconnecting
        and not transport._writeDisconnected
        and not transport._tempDataBuffer
        and transport.offset == len(transport.dataBuffer)
    ):
        try:
            sent = transport.socket.send(frame)
        except OSError:
            sent = 0  # full, or failing: Twisted's own write finds out and handles it
        if sent == len(frame):
            return
        frame = frame[sent:]
    transport.write(frame)


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
