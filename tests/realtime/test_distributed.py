"""The distributed shape: real daphne processes against Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
import redis
import websockets
from django.conf import settings as django_settings
from django.db import connection

from spaces import services
from spaces_project import bus
from tests.factories import SpaceFactory, UserFactory
from tests.realtime.conftest import session_key_for
from tests.servers import running_daphne

TIMEOUT = 15


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


async def next_of_type(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if message["type"] == kind:
            return message


async def pinned(ws: Any, text: str) -> list[dict[str, Any]]:
    """The Space's pins once `text` is among them: from the `pin.added` event, or from a
    `space.state` that already covers it (a socket's own refresh, built after the pin
    committed, raises its floor past the event's seq, and the event is then not sent)."""
    pins: list[dict[str, Any]] = []
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if message["type"] == "space.state":
            pins = list(message["pins"])
        elif message["type"] == "pin.added":
            pins = [*pins, message["pin"]]
        if any(pin["text"] == text for pin in pins):
            return pins


def layer_settings(layer: str) -> dict[str, Any]:
    backend = {
        "core": "channels_redis.core.RedisChannelLayer",
        "pubsub": "spaces_project.layers.SpacesPubSubChannelLayer",
    }[layer]
    config = {
        key: value
        for key, value in django_settings.CHANNEL_LAYERS["default"]["CONFIG"].items()
        if key in ("hosts", "prefix", "capacity")
    }
    return {"default": {"BACKEND": backend, "CONFIG": config}}


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("layer", ["pubsub", "core"])
def test_an_action_through_one_server_reaches_a_client_of_the_other(layer, settings, tmp_path):
    settings.CHANNEL_LAYERS = layer_settings(layer)
    space = SpaceFactory()
    listener = UserFactory()
    host_token, listener_token = session_key_for(space.host), session_key_for(listener)
    path = f"/ws/spaces/{space.pk}/"
    # This process numbered an event of the Space before any server did (as a Celery worker
    # may): every process must count on the one shared counter, or the servers' later counter
    # would make this process's events look older than their snapshots and drop them.
    bus.current_seq(space.pk)

    def pin_in_a_worker_thread() -> None:
        try:
            services.pin_create(user=space.host, space_id=space.pk, text="hi")
        finally:
            connection.close()

    async def scenario(a: str, b: str) -> tuple[dict[str, Any], ...]:
        async with websockets.connect(
            ws_url(b, path), additional_headers={"X-Session-Token": listener_token}
        ) as on_b:
            state_b = await next_of_type(on_b, "space.state")
            async with websockets.connect(
                ws_url(a, path), additional_headers={"X-Session-Token": host_token}
            ) as on_a:
                await next_of_type(on_a, "space.state")
                await on_a.send(json.dumps({"action": "captions", "enabled": True, "id": 1}))
                toggled = await next_of_type(on_b, "captions.toggled")
                # The other way round: the listener's hand reaches the host's server.
                await on_b.send(json.dumps({"action": "raise_hand", "id": 2}))
                hand = await next_of_type(on_a, "hand.raised")
                # And from a process with no sockets at all (like a Celery worker).
                await asyncio.to_thread(pin_in_a_worker_thread)
                pins = (await pinned(on_a, "hi"), await pinned(on_b, "hi"))
        return state_b, toggled, hand, *pins

    env = {"SPACES_CHANNEL_LAYER": layer}
    with (
        running_daphne(log_path=tmp_path / "a.log", **env) as a,
        running_daphne(log_path=tmp_path / "b.log", **env) as b,
    ):
        state_b, toggled, hand, pin_a, pin_b = asyncio.run(scenario(a, b))

    assert toggled["space_id"] == space.pk
    assert toggled["enabled"] is True
    assert toggled["seq"] > state_b["seq"]
    assert hand["request"]["user"]["id"] == listener.pk
    assert [p["text"] for p in pin_a] == [p["text"] for p in pin_b] == ["hi"]
    assert pin_a[0]["id"] == pin_b[0]["id"]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_sync_threads_deliver_through_one_connection_without_leaking(settings, monkeypatch):
    """No server loop in this process (a Celery worker, a command): each delivery from a sync
    thread goes through one long-lived loop and connection, never a new loop per call."""
    settings.CHANNEL_LAYERS = layer_settings("pubsub")
    monkeypatch.setattr(bus, "_server_loop", None)
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    prefix = django_settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    listener = client.pubsub()
    listener.subscribe(f"{prefix}__group__user.424242")
    listener.get_message(timeout=2)  # the subscribe confirmation

    def deliver_in_a_fresh_thread(n: int) -> None:
        thread = threading.Thread(
            target=bus.deliver, args=(bus.user_group(424242), {"type": "probe", "n": n})
        )
        thread.start()
        thread.join(10)

    deliver_in_a_fresh_thread(0)
    before = len(client.client_list())
    for n in range(1, 41):
        deliver_in_a_fresh_thread(n)
    after = len(client.client_list())

    # All 41 arrive (waiting as long as a loaded box needs, bounded), then nothing more.
    received = []
    deadline = time.monotonic() + 30
    while len(received) < 41 and time.monotonic() < deadline:
        message = listener.get_message(timeout=1)
        if message is not None and message["type"] == "message":
            received.append(message)
    while (message := listener.get_message(timeout=0.5)) is not None:
        received.append(message)
    listener.close()
    assert len(received) == 41
    assert after - before <= 1  # other test processes may come and go; 40 new would show
