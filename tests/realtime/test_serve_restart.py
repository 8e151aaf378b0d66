"""`manage.py serve`: a web process that dies is restarted alone; the others keep their sockets."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

from tests.realtime.test_hub_serve import start_serve


def test_a_killed_web_process_is_restarted_and_the_others_keep_their_sockets():
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import ClientConnection, connect

    serve = start_serve(stderr=subprocess.DEVNULL)
    sockets: dict[int, list[ClientConnection]] = {}
    opened = ExitStack()
    try:
        assert serve.stdout is not None
        line = serve.stdout.readline()
        found = re.search(r"serving on [\d.]+:(\d+) with 2 processes: (\d+) (\d+)", line)
        assert found, line
        port = int(found.group(1))
        victim, survivor = int(found.group(2)), int(found.group(3))

        def open_one() -> int | None:
            try:
                ws = opened.enter_context(
                    connect(f"ws://127.0.0.1:{port}/", open_timeout=5, close_timeout=1)
                )
                pid = int(ws.recv(timeout=10))
            except (OSError, TimeoutError, WebSocketException):
                # Still starting, or handed to the killed process as it died.
                time.sleep(0.1)
                return None
            sockets.setdefault(pid, []).append(ws)
            return pid

        deadline = time.monotonic() + 60
        while min(len(sockets.get(victim, [])), len(sockets.get(survivor, []))) < 4:
            assert time.monotonic() < deadline, {pid: len(s) for pid, s in sockets.items()}
            open_one()

        os.kill(victim, signal.SIGKILL)

        # A pid neither of the first two: the dead process's successor takes connections.
        deadline = time.monotonic() + 60
        while not set(sockets) - {victim, survivor}:
            assert time.monotonic() < deadline, "no process took the dead one's place"
            assert serve.poll() is None, f"serve exited with {serve.returncode}"
            try:
                with connect(f"ws://127.0.0.1:{port}/", open_timeout=5, close_timeout=1) as ws:
                    sockets.setdefault(int(ws.recv(timeout=10)), [])
            except (OSError, TimeoutError, WebSocketException):
                pass  # handed to the killed process as it died
            time.sleep(0.1)
        for ws in sockets[survivor]:
            ws.ping().wait(timeout=10)  # still open, still served
            assert ws.close_code is None
        assert serve.poll() is None

        opened.close()
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=40) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in sockets)  # stopped, reaped
    finally:
        opened.close()
        if serve.poll() is None:
            serve.kill()
            serve.wait(timeout=10)
        if serve.stdout:
            serve.stdout.close()
