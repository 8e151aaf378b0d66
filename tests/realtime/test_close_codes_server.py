"""Close codes as a real client sees them, through a real daphne.

WebsocketCommunicator hands `close(code)` back as-is; daphne passes it to autobahn, which
refuses anything whose type is not exactly `int` (an `IntEnum` member is not), and the socket
then stays open with no close code at all.
"""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
import websockets
from django.db import connection

from spaces import services
from tests.factories import SpaceFactory, UserFactory
from tests.realtime.conftest import session_key_for
from tests.servers import running_daphne

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TIMEOUT = 15


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


async def close_code(url: str, *, token: str | None = None, act=None) -> tuple[list[str], int]:
    """Every message type the server sent, and the close code it closed with."""
    headers = {"X-Session-Token": token} if token else {}
    seen: list[str] = []
    async with websockets.connect(url, additional_headers=headers) as ws:
        try:
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                seen.append(message["type"])
                if message["type"] == "space.state" and act is not None:
                    await asyncio.to_thread(act)
        except websockets.ConnectionClosed:
            pass
    received = ws.protocol.close_rcvd
    assert received is not None, "the server dropped the socket without a close frame"
    return seen, received.code


def in_thread(fn):
    def run() -> None:
        try:
            fn()
        finally:
            connection.close()

    def act() -> None:
        thread = threading.Thread(target=run)
        thread.start()
        thread.join(TIMEOUT)

    return act


def test_real_clients_get_the_documented_close_codes(tmp_path):
    # Guests off: a socket without an account is refused (else it would listen as a guest).
    space = SpaceFactory(guests_allowed=False)
    listener = UserFactory()
    token = session_key_for(listener)

    with running_daphne(log_path=tmp_path / "daphne.log") as base:
        anonymous = asyncio.run(close_code(ws_url(base, f"/ws/spaces/{space.pk}/")))
        unknown = asyncio.run(close_code(ws_url(base, "/ws/spaces/999999/"), token=token))
        ended = asyncio.run(
            close_code(
                ws_url(base, f"/ws/spaces/{space.pk}/"),
                token=token,
                act=in_thread(lambda: services.space_end(actor=space.host, space_id=space.pk)),
            )
        )
        feed = asyncio.run(close_code(ws_url(base, "/ws/feed/")))
        nowhere = asyncio.run(close_code(ws_url(base, "/ws/nowhere/"), token=token))

    log = (tmp_path / "daphne.log").read_text()
    assert anonymous == (["error"], 4401)
    assert unknown == (["error"], 4404)
    assert ended[0][0] == "space.state"
    assert "space.ended" in ended[0]
    assert ended[1] == 4409
    assert feed == (["error"], 4401)
    assert nowhere == (["error"], 4404)
    assert "invalid type" not in log
