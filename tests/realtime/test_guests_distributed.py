"""Guests counted across server processes (issue 20): real daphne processes on Redis and
PostgreSQL; each counts its own guest sockets into the shared cache windows."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from spaces.models import Space
from tests.factories import SpaceFactory
from tests.realtime.conftest import session_key_for
from tests.servers import running_daphne

TIMEOUT = 20


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


async def counted(ws: Any, guests: int) -> dict[str, Any]:
    """The first `guests.counted` (or snapshot) saying `guests` guests."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        counts = (message.get("counts") or {}) if message["type"] == "guests.counted" else None
        if message["type"] == "space.state":
            counts = {"guests": message["space"]["guest_count"]}
        if counts is not None and counts.get("guests") == guests:
            return message


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_guests_on_two_processes_are_counted_once_each_and_a_dead_one_drops_out(tmp_path):
    space = SpaceFactory()
    host_token = session_key_for(space.host)
    path = f"/ws/spaces/{space.pk}/"
    env = {"SPACES_GUEST_COUNT_SECONDS": "0.5"}

    async def both(a: str, b: str) -> tuple[dict[str, Any], Any]:
        host = await websockets.connect(
            ws_url(a, path), additional_headers={"X-Session-Token": host_token}
        )
        await counted(host, 0)
        on_a = await websockets.connect(ws_url(a, path))
        on_b = await websockets.connect(ws_url(b, path))
        for ws in (on_a, on_b):
            assert json.loads(await ws.recv())["guest"] is True
        two = await counted(host, 2)
        return two, (host, on_a, on_b)

    async def after_b_died(sockets: Any) -> dict[str, Any]:
        host, _on_a, _on_b = sockets
        one = await counted(host, 1)
        for ws in sockets:
            await ws.close()
        return one

    with running_daphne(log_path=tmp_path / "a.log", **env) as a:
        loop = asyncio.new_event_loop()
        try:
            with running_daphne(log_path=tmp_path / "b.log", **env) as b:
                two, sockets = loop.run_until_complete(both(a, b))
            # Process B is gone without a goodbye: its guest leaves the count a window later.
            one = loop.run_until_complete(after_b_died(sockets))
        finally:
            loop.close()

    assert two["counts"]["listeners"] == 2
    assert one["counts"]["listeners"] == 1
    row = Space.objects.get(pk=space.pk)
    assert row.peak_listener_count == 2
