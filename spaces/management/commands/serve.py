"""`manage.py serve`: the web process (pages, API, sockets) as N Daphne processes on one port.

One Daphne process runs on one core: with 1000 listeners in a Space it writes 1000 frames per
room event on that core. Several processes on one host share the listening port instead (one
socket each, bound with SO_REUSEPORT: the kernel spreads new connections over them), each
writes only to its own sockets, and the hub makes a room event cost one group send per process
(spaces/realtime/hub.py; bench/RESULTS.md, "Room events").

More than one process needs the distributed shape: REDIS_URL (the in-memory channel layer does
not span processes) and MEDIA_EMBEDDED=0 (media in `manage.py media_worker` processes, not one
worker per web process). With one process this is plain `daphne -b HOST -p PORT`. SIGTERM or
SIGINT stops every child; a child that dies stops the others and the command exits non-zero, so
that the supervisor restarts the whole set. Extra Daphne options follow `--`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

STOP_SECONDS = 30.0


def reuseport_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` listening sockets on one address, the kernel balancing connections over them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            if port == 0:  # the first one picked a free port: the others join it
                port = sock.getsockname()[1]
            sock.listen(1024)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class Command(BaseCommand):
    help = "Serve the site and its sockets as N Daphne processes sharing one port."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1", help="address (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
        parser.add_argument(
            "--processes",
            type=int,
            default=settings.SPACES_WEB_PROCESSES,
            help="Daphne processes (default SPACES_WEB_PROCESSES: 1)",
        )
        parser.add_argument("--application", default="spaces_project.asgi:application")
        parser.add_argument("daphne_args", nargs="*", help="after --: more Daphne options")

    def handle(self, *args: Any, **options: Any) -> None:
        count: int = options["processes"]
        if not 1 <= count <= 64:
            raise CommandError("--processes is between 1 and 64.")
        if count > 1 and not settings.REDIS_URL:
            raise CommandError(
                "More than one process needs REDIS_URL: the in-memory channel layer does not "
                "span processes."
            )
        if count > 1 and settings.MEDIA_EMBEDDED:
            raise CommandError(
                "More than one process needs MEDIA_EMBEDDED=0 and `manage.py media_worker` "
                "processes: an embedded media worker per web process would split a Space."
            )
        daphne = [sys.executable, "-m", "daphne", *options["daphne_args"]]
        app, host, port = options["application"], options["bind"], options["port"]
        if count == 1:
            os.execv(sys.executable, [*daphne, "-b", host, "-p", str(port), app])
        sockets = reuseport_sockets(host, port, count)
        port = sockets[0].getsockname()[1]
        children = [
            subprocess.Popen(
                [*daphne, "--fd", str(sock.fileno()), app],
                pass_fds=[sock.fileno()],
            )
            for sock in sockets
        ]
        for sock in sockets:
            sock.close()  # each child holds its own
        pids = " ".join(str(child.pid) for child in children)
        self.stdout.write(f"serving on {host}:{port} with {count} processes: {pids}")
        self.stdout.flush()
        code = self._supervise(children)
        if code:
            raise CommandError(f"a web process exited with {code}; stopped the others")

    def _supervise(self, children: list[subprocess.Popen[bytes]]) -> int:
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            failed = 0
            while not stopping:
                exited = [c for c in children if c.poll() is not None]
                if exited:
                    failed = exited[0].returncode or 1
                    break
                time.sleep(0.2)
            for child in children:
                if child.poll() is None:
                    child.terminate()
            deadline = time.monotonic() + STOP_SECONDS
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            return 0 if stopping else failed
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
