"""The media worker's metrics (media/metrics.py) and its HTTP endpoint, with real aiortc peers."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping
from typing import Any

import pytest
from prometheus_client import REGISTRY

from media import metrics
from media.client import ToneTrack
from media.worker import MediaWorker
from tests.media.conftest import ClientFactory
from tests.media.mixcheck import until

pytestmark = [pytest.mark.media, pytest.mark.asyncio, pytest.mark.timeout(90)]


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


class Readiness:
    def __init__(self) -> None:
        self.result: Mapping[str, Any] = {"registered": "not registered yet"}

    async def __call__(self) -> Mapping[str, Any]:
        return self.result


async def test_a_join_and_the_ticks_show_on_the_workers_endpoint(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    labels = {"role": "listener", "route": "origin"}
    joins_before = value("spaces_media_joins_total", **labels, result="ok")
    timed_before = value("spaces_media_join_seconds_count", **labels)
    ticks_before = value("spaces_media_tick_seconds_count", kind="origin")
    sent_before = value("spaces_media_packets_sent_total", kind="origin", to="listener")

    await join("host", "speaker", send=ToneTrack(440), receive="none")
    await join("listener", "listener", sendrecv=False, receive="count")
    assert await until(
        lambda: (
            value("spaces_media_packets_sent_total", kind="origin", to="listener")
            >= sent_before + 10
        ),
        20,
    )

    ready = Readiness()
    server = await metrics.serve("127.0.0.1", 0, ready)
    port = server.sockets[0].getsockname()[1]
    try:
        status, headers, body = await get(port, "/metrics")
        assert status == 200
        assert headers["Content-Type"].startswith("text/plain")
        text = body.decode()
        for name in (
            "spaces_media_tick_seconds_bucket",
            "spaces_media_skipped_ticks_total",
            "spaces_media_packets_sent_total",
            "spaces_media_packets_dropped_total",
            "spaces_media_joins_total",
            "spaces_media_join_seconds_bucket",
            "spaces_media_spaces",
            "spaces_media_listeners",
            "spaces_media_stage_members",
        ):
            assert f"\n{name}{{" in text, name
        assert 'spaces_media_listeners{kind="origin"} 1.0' in text
        assert 'spaces_media_stage_members{kind="origin"} 1.0' in text
        assert 'spaces_media_spaces{kind="origin"} 1.0' in text
        assert value("spaces_media_joins_total", **labels, result="ok") == joins_before + 1
        assert value("spaces_media_join_seconds_count", **labels) == timed_before + 1
        assert value("spaces_media_tick_seconds_count", kind="origin") > ticks_before

        status, _, body = await get(port, "/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok", "pid": os.getpid()})

        status, _, body = await get(port, "/readyz")
        assert status == 503
        assert json.loads(body)["checks"]["registered"] == {
            "ok": False,
            "error": "not registered yet",
        }
        ready.result = {"registered": True}
        status, _, body = await get(port, "/readyz")
        assert (status, json.loads(body)) == (
            200,
            {"status": "ok", "checks": {"registered": {"ok": True}}},
        )

        assert (await get(port, "/nothing"))[0] == 404
    finally:
        server.close()
        await server.wait_closed()

    await worker.end_space(space)
    assert metrics.worker_gauges(worker)["listeners"]["origin"] == 0


async def test_a_stalled_loop_counts_skipped_ticks(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    await join("host", "speaker", send=ToneTrack(440), receive="none")
    assert await until(lambda: worker.stats()["ticks"] > 5, 20)
    before = value("spaces_media_skipped_ticks_total", kind="origin")
    # The loop held for well over max_late_ticks (5) ticks of 20 ms: the clock skips ahead.
    time.sleep(0.3)  # noqa: ASYNC251 (the point: the loop itself stalls)
    assert await until(
        lambda: value("spaces_media_skipped_ticks_total", kind="origin") > before, 10
    )
    assert value("spaces_media_skipped_ticks_total", kind="origin") - before >= 5


async def test_a_refused_join_is_counted_by_its_result(worker: MediaWorker, space: str) -> None:
    before = value("spaces_media_joins_total", role="speaker", route="edge", result="refused")
    with pytest.raises(Exception, match="origin"):
        await worker.join(space, "someone", "speaker", "v=0\r\n", edge=True)
    after = value("spaces_media_joins_total", role="speaker", route="edge", result="refused")
    assert after == before + 1
    bad_before = value("spaces_media_joins_total", role="invalid", route="origin", result="error")
    with pytest.raises(ValueError):
        await worker.join(space, "someone", "juggler", "v=0\r\n")
    bad = value("spaces_media_joins_total", role="invalid", route="origin", result="error")
    assert bad == bad_before + 1
