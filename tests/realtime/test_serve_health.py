"""`manage.py serve --admin-port`: each web process on a port of its own (metrics, health), and
a process whose loop is stuck is killed and restarted by the command's /healthz probe."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def pid_at(port: int) -> int | None:
    status, body = get(f"http://127.0.0.1:{port}/healthz")
    return int(json.loads(body)["pid"]) if status == 200 else None


def test_each_process_answers_on_its_own_port_and_a_stuck_one_is_replaced() -> None:
    admin = free_port()
    while free_port() == admin + 1:  # the next port must be free too (usually is)
        admin = free_port()
    serve = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "serve",
            "--processes",
            "2",
            "--port",
            "0",
            "--admin-port",
            str(admin),
        ],
        cwd=ROOT,
        env={
            **os.environ,
            # Settings only: /healthz talks to nothing.
            "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/13",
            "MEDIA_EMBEDDED": "0",
            "SPACES_WEB_HEALTH_INTERVAL": "0.5",
            "SPACES_WEB_HEALTH_GRACE": "30",
            "SPACES_TICKER": "0",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert serve.stdout is not None
        line = serve.stdout.readline()
        found = re.search(r"with 2 processes: (\d+) (\d+)", line)
        assert found, line
        children = [int(found.group(1)), int(found.group(2))]

        deadline = time.monotonic() + 60
        while [pid_at(admin), pid_at(admin + 1)] != children:
            assert time.monotonic() < deadline, [pid_at(admin), pid_at(admin + 1)]
            assert serve.poll() is None
            time.sleep(0.2)
        status, body = get(f"http://127.0.0.1:{admin + 1}/metrics")
        assert status == 200
        assert b"spaces_event_fanout_seconds" in body

        # Stuck, not dead: it holds its sockets and answers nothing.
        stuck = children[0]
        os.kill(stuck, signal.SIGSTOP)
        deadline = time.monotonic() + 60
        while pid_at(admin) in (None, stuck):
            assert time.monotonic() < deadline, "the stuck process was not replaced"
            assert serve.poll() is None
            time.sleep(0.2)
        assert (
            not Path(f"/proc/{stuck}").exists()
            or "Z" in Path(f"/proc/{stuck}/stat").read_text().split()[2]
        )
        assert pid_at(admin + 1) == children[1]  # the other one untouched

        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=40) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(timeout=10)
        if serve.stdout:
            serve.stdout.close()
