"""The hub's figures on /metrics: each event's fan-out timed once, the sockets it holds."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from channels.layers import InMemoryChannelLayer
from prometheus_client import REGISTRY

from spaces import metrics as spaces_metrics
from spaces.realtime import hub as hub_module
from spaces.realtime.hub import SpaceHub
from tests.realtime.test_hub import FakeSocket, message

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def hub(settings):
    settings.SPACES_WS_REORDER_MS = 5000
    loop = asyncio.get_running_loop()
    found = SpaceHub(InMemoryChannelLayer(), loop)
    hub_module._hubs[loop] = found
    yield found
    hub_module._hubs.pop(loop, None)
    await found._stop()


def fanned_out() -> float:
    return REGISTRY.get_sample_value("spaces_event_fanout_seconds_count") or 0.0


async def test_each_event_is_timed_once_whatever_the_number_of_sockets(hub):
    sockets = [FakeSocket(n) for n in range(1, 6)]
    for sock in sockets:
        await hub.join(7, sock)
    assert spaces_metrics.hub_sockets() == {(): 5.0}
    assert spaces_metrics.hub_spaces() == {(): 1.0}
    before = fanned_out()
    await hub.route(message(7, 1))
    await hub.route(message(7, 2))
    assert all(s.got == [1, 2] for s in sockets)
    assert fanned_out() == before + 2
    for sock in sockets:
        await hub.leave(7, sock)
    assert spaces_metrics.hub_sockets() == {(): 0.0}
