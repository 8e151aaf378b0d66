"""Co-host handover across processes: two daphne servers against Redis and PostgreSQL, the host's
client killed with SIGKILL (no goodbye, no close frame from it), listeners and co-hosts on both
servers. The grace timer is the database's `last_seen_at`, not any process's memory; the sweep
runs here, as a Celery beat worker would, in a third process."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from typing import Any

import pytest
import websockets
from django.db import connection

from spaces.models import Space
from spaces.realtime import presence
from tests.factories import SpaceFactory, UserFactory, join, make_cohost
from tests.realtime.conftest import session_key_for
from tests.realtime.helpers import HostBelief
from tests.realtime.test_distributed import layer_settings, ws_url
from tests.servers import ROOT, running_daphne

TIMEOUT = 30
SWEEP_TRIES = 60

# The host's app: connects, says when it has the room, then just holds the socket.
HOST_CLIENT = """
import asyncio, json, sys
import websockets

async def main(url, token):
    async with websockets.connect(url, additional_headers={"X-Session-Token": token}) as ws:
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "space.state":
                print("ready", flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


class Watcher(HostBelief):
    """One client's belief about the host (`HostBelief`), read from a real WebSocket."""

    def __init__(self, ws: Any, state: dict[str, Any], user_id: int) -> None:
        self.ws = ws
        self.user_id = user_id
        self.seen: list[str] = []
        super().__init__(state)

    async def read(self, waiting_for: str) -> dict[str, Any]:
        try:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT))
        except TimeoutError as exc:
            raise AssertionError(
                f"user {self.user_id} waited {TIMEOUT}s for {waiting_for}; got {self.seen}"
            ) from exc
        self.seen.append(f"{message['type']}#{message.get('seq')}")
        if message["type"] == "space.state":
            self.reset(message)
        elif "seq" in message:
            self.apply(message)
        return message

    async def until(self, kind: str) -> dict[str, Any]:
        while (message := await self.read(kind))["type"] != kind:
            pass
        return message

    async def until_host(self, expected: int) -> None:
        while not (self.host == expected and self.hosts == {expected}):
            await self.read(f"host {expected}")


def current_host(space_id: int) -> int:
    try:
        return Space.objects.values_list("host_id", flat=True).get(pk=space_id)
    finally:
        connection.close()


def sweep_in_a_worker_thread() -> int:
    try:
        return presence.host_sweep()
    finally:
        connection.close()


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_host_client_killed_hands_over_once_and_every_listener_sees_one_host(
    settings, tmp_path
):
    settings.CHANNEL_LAYERS = layer_settings("pubsub")
    # This process sweeps: a short grace, and a connected window wide enough for servers that
    # refresh presence every second on a loaded machine.
    settings.SPACES_HOST_GRACE_SECONDS = 1
    settings.SPACES_PRESENCE_TOUCH_SECONDS = 3
    space = SpaceFactory()
    host = space.host
    first, second = make_cohost(space), make_cohost(space)
    a, b = join(space, UserFactory()), join(space, UserFactory())
    tokens = {u.pk: session_key_for(u) for u in (host, first, second, a, b)}
    path = f"/ws/spaces/{space.pk}/"

    async def connect(base: str, user_id: int) -> Watcher:
        ws = await websockets.connect(
            ws_url(base, path), additional_headers={"X-Session-Token": tokens[user_id]}
        )
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            if message["type"] == "space.state":
                return Watcher(ws, message, user_id)

    async def scenario(
        server_a: str, server_b: str, host_app: subprocess.Popen[bytes]
    ) -> tuple[list[Watcher], list[int]]:
        watchers: list[Watcher] = []
        try:
            assert host_app.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(host_app.stdout.readline), TIMEOUT)
            assert line.strip() == b"ready"
            watchers = [
                await connect(server_a, first.pk),
                await connect(server_b, second.pk),
                await connect(server_a, a.pk),
                await connect(server_b, b.pk),
            ]
            assert all(w.hosts == {host.pk} for w in watchers)
            host_app.send_signal(signal.SIGKILL)
            host_app.wait(timeout=10)

            outcomes: list[int] = []
            for _ in range(SWEEP_TRIES):
                outcomes.append(await asyncio.to_thread(sweep_in_a_worker_thread))
                if sum(outcomes):
                    break
                await asyncio.sleep(0.5)
            new_host = await asyncio.to_thread(current_host, space.pk)
            for watcher in watchers:
                await watcher.until_host(new_host)
            # A late or duplicate sweep changes nothing more.
            outcomes.append(await asyncio.to_thread(sweep_in_a_worker_thread))
            # Every client's snapshot agrees with what its events said.
            for watcher in watchers:
                await watcher.ws.send(json.dumps({"action": "snapshot", "id": "s"}))
                await watcher.until("ack")
                assert watcher.hosts == {new_host}
            return watchers, outcomes
        finally:
            for watcher in watchers:
                await watcher.ws.close()

    env = {"SPACES_CHANNEL_LAYER": "pubsub", "SPACES_PRESENCE_TOUCH_SECONDS": "1"}
    with (
        running_daphne(log_path=tmp_path / "a.log", **env) as server_a,
        running_daphne(log_path=tmp_path / "b.log", **env) as server_b,
    ):
        host_app = subprocess.Popen(
            [sys.executable, "-c", HOST_CLIENT, ws_url(server_a, path), tokens[host.pk]],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            watchers, outcomes = asyncio.run(scenario(server_a, server_b, host_app))
        finally:
            if host_app.poll() is None:
                host_app.kill()
            host_app.wait(timeout=10)

    assert sum(outcomes) == 1, outcomes
    assert outcomes[-1] == 0
    space.refresh_from_db()
    assert space.state == Space.State.LIVE
    assert space.host_id == first.pk
    for watcher in watchers:
        assert watcher.max_hosts == 1
        assert watcher.hosts == {first.pk}
        if watcher.user_id in (a.pk, b.pk):  # listeners: nothing re-sent them a snapshot
            assert [e["new_host"]["id"] for e in watcher.changes] == [first.pk]
            assert watcher.changes[0]["reason"] == "timeout"
        else:
            assert [e["new_host"]["id"] for e in watcher.changes] in ([], [first.pk])
