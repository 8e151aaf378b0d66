"""The distributed shape's endpoints: a real `manage.py media_worker` serving /metrics, /healthz
and /readyz on MEDIA_METRICS_PORT, and a real Daphne (MEDIA_EMBEDDED=0) whose /readyz needs it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.servers import free_port, running_daphne, running_media_worker, stop

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_status(url: str, status: int, within: float = 20.0) -> tuple[int, bytes]:
    deadline = time.monotonic() + within
    found = get(url)
    while found[0] != status and time.monotonic() < deadline:
        time.sleep(0.2)
        found = get(url)
    return found


def test_web_readiness_follows_the_media_worker_and_the_worker_serves_its_own() -> None:
    port = free_port()
    with running_daphne(MEDIA_EMBEDDED="0") as web:
        status, body = get(f"{web}/readyz")
        assert status == 503, body
        assert json.loads(body)["checks"]["media"]["ok"] is False
        assert get(f"{web}/healthz")[0] == 200

        with running_media_worker("metrics-probe", MEDIA_METRICS_PORT=str(port)) as worker:
            own = f"http://127.0.0.1:{port}"
            status, body = wait_status(f"{own}/readyz", 200)
            assert status == 200, body
            assert json.loads(body) == {"status": "ok", "checks": {"registered": {"ok": True}}}
            assert get(f"{own}/healthz") == (
                200,
                json.dumps({"status": "ok", "pid": worker.pid}).encode(),
            )
            status, body = get(f"{own}/metrics")
            text = body.decode()
            assert status == 200
            for name in (
                "spaces_media_spaces",
                "spaces_media_listeners",
                "spaces_media_joins_total",
            ):
                assert f"# TYPE {name} " in text, name
            # The worker serves the default registry only: no database gauge from its loop.
            assert "spaces_live" not in text

            status, body = wait_status(f"{web}/readyz", 200)
            assert status == 200, body
            assert json.loads(body)["checks"]["media"] == {
                "ok": True,
                "ms": json.loads(body)["checks"]["media"]["ms"],
            }
            stop(worker, within=15)  # SIGTERM: the worker deregisters before it exits

        status, body = wait_status(f"{web}/readyz", 503)
        assert status == 503, body
