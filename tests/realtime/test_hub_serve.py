"""`manage.py serve --processes N`: N Daphne processes on one port, each its own hub."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


async def pid_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Served by the processes under test: says which process took the socket."""
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": str(os.getpid())})
    while (await receive())["type"] != "websocket.disconnect":
        pass


PID_APP = ["--application", "tests.realtime.test_hub_serve:pid_app"]


def test_more_than_one_process_needs_the_distributed_channel_layer(settings):
    from django.core.management import CommandError, call_command

    settings.REDIS_URL = ""
    with pytest.raises(CommandError, match="REDIS_URL"):
        call_command("serve", "--processes", "2")


def test_more_than_one_process_needs_media_outside_the_web_processes(settings):
    from django.core.management import CommandError, call_command

    settings.REDIS_URL = "redis://127.0.0.1:6379/13"
    settings.MEDIA_EMBEDDED = True
    with pytest.raises(CommandError, match="MEDIA_EMBEDDED=0"):
        call_command("serve", "--processes", "2")


def _parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def start_serve(*, stderr: int) -> subprocess.Popen[str]:
    """`manage.py serve` with two Daphne processes on a free port, which it prints first."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--processes", "2", "--port", "0", *PID_APP],
        cwd=ROOT,
        env={
            **os.environ,
            # Settings only: nothing here talks to Redis.
            "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/13",
            "MEDIA_EMBEDDED": "0",
        },
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


def test_serve_starts_that_many_processes_sharing_one_port():
    from websockets.sync.client import connect

    serve = start_serve(stderr=subprocess.PIPE)
    try:
        assert serve.stdout is not None
        line = serve.stdout.readline()
        found = re.search(r"serving on [\d.]+:(\d+) with 2 processes: (\d+) (\d+)", line)
        assert found, line + (serve.stderr.read() if serve.poll() is not None else "")
        port = int(found.group(1))
        children = {int(found.group(2)), int(found.group(3))}
        assert {_parent_of(pid) for pid in children} == {serve.pid}

        seen: set[int] = set()
        deadline = time.monotonic() + 60
        while seen != children and time.monotonic() < deadline:
            try:
                with connect(f"ws://127.0.0.1:{port}/", open_timeout=5) as ws:
                    seen.add(int(ws.recv(timeout=5)))
            except OSError:
                time.sleep(0.1)  # the children are still starting
        assert seen == children  # the kernel spreads the connections over both

        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=40) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in children)  # stopped, reaped
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(timeout=10)
        for stream in (serve.stdout, serve.stderr):
            if stream:
                stream.close()
