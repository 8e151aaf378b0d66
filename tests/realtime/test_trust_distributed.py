"""Issue 16 in the distributed shape: two daphne processes on Redis and PostgreSQL. A logout or
a ban made anywhere closes the sockets on every process; the per-user message limit and the
socket cap count a user's sockets on all processes together."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from django.db import connection
from rest_framework.test import APIClient

from accounts.services import user_ban
from tests.factories import SpaceFactory, UserFactory
from tests.realtime.conftest import session_key_for
from tests.realtime.test_distributed import layer_settings, next_of_type, ws_url
from tests.servers import running_daphne

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TIMEOUT = 15


async def closing(ws: Any) -> tuple[str, int | None]:
    """The error code, then the close code, the server ended this socket with."""
    code = ""
    try:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            if message["type"] == "error":
                code = message["code"]
    except websockets.ConnectionClosed as closed:
        return code, closed.rcvd.code if closed.rcvd else None


def token(key: str) -> dict[str, str]:
    return {"X-Session-Token": key}


def in_a_worker_thread(fn: Any, **kwargs: Any) -> Any:
    """Run `fn` as a request or a Celery task would, closing the thread's connection after."""

    def run() -> Any:
        try:
            return fn(**kwargs)
        finally:
            connection.close()

    return asyncio.to_thread(run)


def test_a_logout_and_a_ban_close_the_sockets_on_every_process(settings, tmp_path):
    settings.CHANNEL_LAYERS = layer_settings("pubsub")
    space = SpaceFactory()
    user = UserFactory()
    phone, tablet = session_key_for(user), session_key_for(user)
    path = f"/ws/spaces/{space.pk}/"

    def app_logout() -> Any:
        return APIClient().delete("/_allauth/app/v1/auth/session", HTTP_X_SESSION_TOKEN=phone)

    async def scenario(a: str, b: str) -> tuple[Any, ...]:
        async with (
            websockets.connect(ws_url(a, path), additional_headers=token(phone)) as phone_a,
            websockets.connect(ws_url(b, path), additional_headers=token(phone)) as phone_b,
            websockets.connect(ws_url(b, path), additional_headers=token(tablet)) as tablet_b,
            websockets.connect(ws_url(a, "/ws/feed/"), additional_headers=token(tablet)) as feed,
        ):
            for ws in (phone_a, phone_b, tablet_b):
                await next_of_type(ws, "space.state")
            await next_of_type(feed, "bubbles")
            # Logged out through this process (neither server): both of the phone's sockets go.
            response = await in_a_worker_thread(app_logout)
            logged_out = (await closing(phone_a), await closing(phone_b))
            await tablet_b.send(json.dumps({"action": "heartbeat", "id": "still"}))
            still = await next_of_type(tablet_b, "ack")
            await in_a_worker_thread(user_ban, user=user)
            banned = (await closing(tablet_b), await closing(feed))
        return response, logged_out, still, banned

    with (
        running_daphne(log_path=tmp_path / "a.log") as a,
        running_daphne(log_path=tmp_path / "b.log") as b,
    ):
        response, logged_out, still, banned = asyncio.run(scenario(a, b))

    assert response.status_code == 401
    assert logged_out == (("not_authenticated", 4401), ("not_authenticated", 4401))
    assert still["id"] == "still"
    assert banned == (("account_disabled", 4403), ("account_disabled", 4403))


def test_a_users_limits_count_their_sockets_on_every_process(settings, tmp_path):
    settings.CHANNEL_LAYERS = layer_settings("pubsub")
    space = SpaceFactory()
    user = UserFactory()
    key = session_key_for(user)
    path = f"/ws/spaces/{space.pk}/"

    async def answers(ws: Any, ids: list[str]) -> list[dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        while len(out) < len(ids):
            message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            if message.get("id") in ids:
                out[message["id"]] = message
        return list(out.values())

    async def scenario(a: str, b: str) -> tuple[Any, ...]:
        async with (
            websockets.connect(ws_url(a, path), additional_headers=token(key)) as on_a,
            websockets.connect(ws_url(b, path), additional_headers=token(key)) as on_b,
            websockets.connect(ws_url(a, path), additional_headers=token(key)) as third,
        ):
            await next_of_type(on_a, "space.state")
            await next_of_type(on_b, "space.state")
            refused = await closing(third)
            sent = []
            for name, ws in (("a", on_a), ("b", on_b)):
                ids = [f"{name}-{i}" for i in range(15)]
                for rid in ids:
                    await ws.send(json.dumps({"action": "heartbeat", "id": rid}))
                sent.append((ws, ids))
            replies = [m for ws, ids in sent for m in await answers(ws, ids)]
        return refused, replies

    # Windows of 20 messages that last for days: the count, not the clock, decides.
    env = {
        "SPACES_MAX_SOCKETS_PER_USER": "2",
        "SPACES_WS_USER_RATE": "0.0001",
        "SPACES_WS_USER_BURST": "20",
    }
    with (
        running_daphne(log_path=tmp_path / "a.log", **env) as a,
        running_daphne(log_path=tmp_path / "b.log", **env) as b,
    ):
        refused, replies = asyncio.run(scenario(a, b))

    assert refused == ("too_many_sockets", 4429)
    assert sum(m["type"] == "ack" for m in replies) == 20
    assert sum(m.get("code") == "rate_limited" for m in replies) == 10
