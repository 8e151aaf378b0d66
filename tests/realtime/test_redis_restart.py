"""Issue 16, item 9: Redis restarts under two live daphne processes.

Before: each process silently dropped its first event after the restart (a PUBLISH on a dead
pooled connection), a subscriber whose reconnect ran while Redis was down never read again, and
acknowledged reaction taps that waited in the cache were lost. Now the next event reaches every
listener (or the fresh snapshot each socket is sent once the process is subscribed again covers
it), and an acknowledged tap is in the database.

These tests run their own redis-server on a free port, which they kill and start again."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from spaces.models import ReactionCount
from tests.factories import SpaceFactory, UserFactory
from tests.realtime.conftest import session_key_for
from tests.realtime.test_distributed import next_of_type, pinned, ws_url
from tests.servers import PrivateRedis, running_daphne, running_redis

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TIMEOUT = 20
LISTENERS = 10
DOWN_SECONDS = 1.0  # long enough for the processes' reconnects to fail at least once


def token(key: str) -> dict[str, str]:
    return {"X-Session-Token": key}


def server_settings(redis: PrivateRedis) -> dict[str, str]:
    return {
        "REDIS_URL": redis.url,
        "CELERY_BROKER_URL": redis.url,
        "SPACES_CHANNEL_LAYER": "pubsub",
        "SPACES_REACTION_RATE": "1000/sec",
    }


async def restart(redis: PrivateRedis) -> None:
    await asyncio.to_thread(redis.kill)
    await asyncio.sleep(DOWN_SECONDS)
    await asyncio.to_thread(redis.start)


async def act(ws: Any, action: str, rid: str, **args: Any) -> dict[str, Any]:
    """Send an action; its ack or error (other messages read meanwhile are skipped)."""
    await ws.send(json.dumps({"action": action, "id": rid, **args}))
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if message.get("id") == rid and message["type"] in ("ack", "error"):
            return message


async def learns_the_end(ws: Any) -> str:
    """How a listener learned that the Space ended: the event, a snapshot saying so, or the
    close code for a Space that is no longer live."""
    try:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            if message["type"] == "space.ended":
                return "event"
            if message["type"] == "space.state" and message["space"]["state"] == "ended":
                return "snapshot"
    except websockets.ConnectionClosed as closed:
        return f"closed {closed.rcvd.code if closed.rcvd else None}"


def test_after_a_redis_restart_the_next_events_reach_every_listener(tmp_path):
    space = SpaceFactory()
    host_key = session_key_for(space.host)
    keys = [session_key_for(UserFactory()) for _ in range(LISTENERS)]
    path = f"/ws/spaces/{space.pk}/"

    async def scenario(redis: PrivateRedis, a: str, b: str) -> tuple[Any, ...]:
        host = await websockets.connect(ws_url(a, path), additional_headers=token(host_key))
        listeners = [
            await websockets.connect(ws_url((a, b)[i % 2], path), additional_headers=token(key))
            for i, key in enumerate(keys)
        ]
        try:
            for ws in (host, *listeners):
                await next_of_type(ws, "space.state")
            await restart(redis)
            pin_ack = await act(host, "pin", "pin-1", text="After the restart")
            heard = await asyncio.gather(*(pinned(ws, "After the restart") for ws in listeners))
            end_ack = await act(host, "end", "end-1")
            ends = await asyncio.gather(*(learns_the_end(ws) for ws in listeners))
        finally:
            for ws in (host, *listeners):
                await ws.close()
        return pin_ack, heard, end_ack, ends

    with (
        running_redis() as redis,
        running_daphne(log_path=tmp_path / "a.log", **server_settings(redis)) as a,
        running_daphne(log_path=tmp_path / "b.log", **server_settings(redis)) as b,
    ):
        pin_ack, heard, end_ack, ends = asyncio.run(scenario(redis, a, b))

    assert pin_ack["type"] == "ack"
    assert all(any(p["text"] == "After the restart" for p in pins) for pins in heard)
    assert end_ack["type"] == "ack"
    assert all(how in ("event", "snapshot", "closed 4409") for how in ends), ends


def test_acknowledged_reactions_are_counted_through_a_redis_restart(tmp_path):
    space = SpaceFactory()
    keys = [session_key_for(UserFactory()) for _ in range(3)]
    path = f"/ws/spaces/{space.pk}/"

    async def scenario(redis: PrivateRedis, a: str, b: str) -> int:
        sockets = [
            await websockets.connect(ws_url((a, b)[i % 2], path), additional_headers=token(key))
            for i, key in enumerate(keys)
        ]
        acked = 0
        try:
            for ws in sockets:
                await next_of_type(ws, "space.state")
            for i in range(30):
                reply = await act(sockets[i % len(sockets)], "react", f"r{i}", emoji="clap")
                acked += reply["type"] == "ack"
            await restart(redis)
        finally:
            for ws in sockets:
                await ws.close()
        return acked

    with (
        running_redis() as redis,
        running_daphne(log_path=tmp_path / "a.log", **server_settings(redis)) as a,
        running_daphne(log_path=tmp_path / "b.log", **server_settings(redis)) as b,
    ):
        acked = asyncio.run(scenario(redis, a, b))

    assert acked == 30
    assert ReactionCount.objects.get(space=space, code="clap").count == 30
