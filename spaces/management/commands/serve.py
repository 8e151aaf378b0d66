"""`manage.py serve`: the web process (pages, API, sockets) as N Daphne processes on one port.

One Daphne process runs on one core: with 1000 listeners in a Space it writes 1000 frames per
room event on that core. Several processes on one host share the listening port instead (one
socket each, bound with SO_REUSEPORT: the kernel spreads new connections over them), each
writes only to its own sockets, and the hub makes a room event cost one group send per process
(spaces/realtime/hub.py; bench/RESULTS.md, "Room events").

More than one process needs the distributed shape: REDIS_URL (the in-memory channel layer does
not span processes) and MEDIA_EMBEDDED=0 (media in `manage.py media_worker` processes, not one
worker per web process). With one process this is plain `daphne -b HOST -p PORT`. SIGTERM or
SIGINT stops every child. A child that dies is restarted alone, on a fresh socket on the same
port, after a backoff that doubles with each death in a row (RESTART_DELAYS): the others keep
their sockets and the kernel sends new connections to them meanwhile. A child that dies
RESTART_LIMIT times within RESTART_WINDOW seconds is broken, not unlucky: the command stops the
others and exits non-zero for the outer supervisor (systemd...). Extra Daphne options follow `--`.

Watching each process (docs/operations.md): on the shared port a scrape or a probe reaches
whichever process the kernel picks. With `--admin-port P` (SPACES_WEB_ADMIN_PORT) child i also
listens on P+i on `--admin-bind` (loopback by default), the same port for its successors:
Prometheus scrapes each child's /metrics there, and this command probes each child's /healthz
there every SPACES_WEB_HEALTH_INTERVAL seconds (from its first answer, or at the latest
SPACES_WEB_HEALTH_GRACE seconds after its start: Django loads first). A child that fails
HEALTH_FAILURES probes in a row (its event loop stuck: it accepts connections and answers
nothing) is killed, and restarted as a child that died.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

STOP_SECONDS = 30.0
RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)
"""Seconds before restarting a child that died, by how many deaths in a row it had."""
RESTART_LIMIT = 5
RESTART_WINDOW = 60.0
HEALTH_TIMEOUT = 2.0
HEALTH_FAILURES = 3

logger = logging.getLogger(__name__)


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


def healthy(host: str, port: int, timeout: float = HEALTH_TIMEOUT) -> bool:
    """GET /healthz on a child's own port answered 200 within `timeout`."""
    probe_host = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    try:
        with socket.create_connection((probe_host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
            head = sock.recv(64)
    except OSError:
        return False
    return head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200"))


def admin_endpoint(host: str, port: int) -> list[str]:
    """Daphne's extra endpoint (a Twisted server string) for one child's own port."""
    kind = "tcp6" if ":" in host else "tcp"
    interface = host.replace(":", "\\:")
    return ["-e", f"{kind}:port={port}:interface={interface}"]


def daphne_options(extra: list[str]) -> list[str]:
    """Behind trusted proxies (SPACES_TRUSTED_PROXIES, settings.py) Daphne reads the
    X-Forwarded-* headers, so the scheme a socket sees is the one the browser used."""
    if settings.SPACES_TRUSTED_PROXIES and "--proxy-headers" not in extra:
        return ["--proxy-headers", *extra]
    return list(extra)


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
        parser.add_argument(
            "--admin-port",
            type=int,
            default=int(getattr(settings, "SPACES_WEB_ADMIN_PORT", 0) or 0),
            help="child i also serves on this port + i (metrics, health); 0: none",
        )
        parser.add_argument(
            "--admin-bind",
            default=str(getattr(settings, "SPACES_WEB_ADMIN_BIND", "127.0.0.1")),
            help="address of the children's own ports (default 127.0.0.1)",
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
        daphne = [sys.executable, "-m", "daphne", *daphne_options(options["daphne_args"])]
        app, host, port = options["application"], options["bind"], options["port"]
        admin_port, admin_bind = options["admin_port"], options["admin_bind"]
        if admin_port and not 1 <= admin_port <= 65535 - count:
            raise CommandError("--admin-port leaves no room for one port per process.")

        def own(slot: int) -> list[str]:
            return admin_endpoint(admin_bind, admin_port + slot) if admin_port else []

        if count == 1:
            os.execv(sys.executable, [*daphne, *own(0), "-b", host, "-p", str(port), app])
        sockets = reuseport_sockets(host, port, count)
        port = sockets[0].getsockname()[1]

        def spawn(slot: int, sock: socket.socket) -> subprocess.Popen[bytes]:
            try:
                return subprocess.Popen(
                    [*daphne, *own(slot), "--fd", str(sock.fileno()), app],
                    pass_fds=[sock.fileno()],
                )
            finally:
                # The child holds its own copy: when it dies its socket goes with it, and the
                # kernel stops queueing connections nobody will accept there.
                sock.close()

        children = [spawn(slot, sock) for slot, sock in enumerate(sockets)]
        pids = " ".join(str(child.pid) for child in children)
        self.stdout.write(f"serving on {host}:{port} with {count} processes: {pids}")
        if admin_port:
            self.stdout.write(
                f"process {{i}} also on {admin_bind}:{admin_port}+i (/metrics, /healthz, /readyz)"
            )
        self.stdout.flush()
        probe = (lambda slot: healthy(admin_bind, admin_port + slot)) if admin_port else None
        code = self._supervise(
            children, lambda slot: spawn(slot, reuseport_sockets(host, port, 1)[0]), probe
        )
        if code:
            raise CommandError(
                f"a web process exited with {code} {RESTART_LIMIT} times within "
                f"{RESTART_WINDOW:.0f}s; stopped the others"
            )

    def _supervise(
        self,
        children: list[subprocess.Popen[bytes]],
        respawn: Callable[[int], subprocess.Popen[bytes]],
        probe: Callable[[int], bool] | None = None,
    ) -> int:
        """Restart each child that dies, alone; 0 once stopped by a signal, else the exit code
        of the child that died too often. With `probe`, a child that fails it HEALTH_FAILURES
        times in a row is killed (then restarted like any child that died)."""
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
        # Per slot: the child (None while it waits to be restarted), when to restart it, and
        # when it died lately (the backoff and the give-up count).
        slots: list[subprocess.Popen[bytes] | None] = list(children)
        restart_at = [0.0] * len(slots)
        deaths: list[deque[float]] = [deque(maxlen=RESTART_LIMIT) for _ in slots]
        interval = float(getattr(settings, "SPACES_WEB_HEALTH_INTERVAL", 5.0))
        grace = float(getattr(settings, "SPACES_WEB_HEALTH_GRACE", 30.0))
        probe_from = [time.monotonic() + grace] * len(slots)
        next_probe = time.monotonic() + interval
        misses = [0] * len(slots)
        failed = 0
        try:
            while not stopping and not failed:
                now = time.monotonic()
                for i, child in enumerate(slots):
                    if child is None:
                        if now >= restart_at[i]:
                            try:
                                fresh = respawn(i)
                            except OSError:
                                logger.exception("web process slot %d: restart failed", i)
                                restart_at[i] = now + RESTART_DELAYS[-1]
                                continue
                            slots[i] = fresh
                            probe_from[i], misses[i] = time.monotonic() + grace, 0
                            logger.warning("web process slot %d: restarted as pid %d", i, fresh.pid)
                        continue
                    code = child.poll()
                    if code is None:
                        continue
                    recent = deaths[i]
                    recent.append(now)
                    if len(recent) == RESTART_LIMIT and now - recent[0] <= RESTART_WINDOW:
                        logger.error(
                            "web process pid %d exited with %d, %d times in %.0fs: giving up",
                            child.pid,
                            code,
                            RESTART_LIMIT,
                            now - recent[0],
                        )
                        failed = code or 1
                        break
                    in_a_row = sum(1 for t in recent if now - t <= RESTART_WINDOW)
                    delay = RESTART_DELAYS[min(in_a_row, len(RESTART_DELAYS)) - 1]
                    logger.warning(
                        "web process pid %d exited with %d; restarting it in %.1fs",
                        child.pid,
                        code,
                        delay,
                    )
                    slots[i] = None
                    restart_at[i] = now + delay
                if probe is not None and now >= next_probe and not stopping:
                    next_probe = now + interval
                    self._probe(slots, probe, misses, probe_from)
                time.sleep(0.2)
            alive = [c for c in slots if c is not None]
            for child in alive:
                if child.poll() is None:
                    child.terminate()
            deadline = time.monotonic() + STOP_SECONDS
            for child in alive:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            return 0 if stopping else failed
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    @staticmethod
    def _probe(
        slots: list[subprocess.Popen[bytes] | None],
        probe: Callable[[int], bool],
        misses: list[int],
        probe_from: list[float],
    ) -> None:
        """Probe each running child once; kill one that missed HEALTH_FAILURES in a row (the
        loop above then restarts it as a death). Its loop is stuck: SIGKILL, since a stuck
        process may never act on SIGTERM."""
        now = time.monotonic()
        for i, child in enumerate(slots):
            if child is None or child.poll() is not None:
                continue
            if probe(i):
                misses[i] = 0
                probe_from[i] = 0.0  # it answered once: from now on every miss counts
                continue
            if now < probe_from[i]:
                continue  # still starting
            misses[i] += 1
            logger.warning(
                "web process pid %d: /healthz failed (%d of %d)",
                child.pid,
                misses[i],
                HEALTH_FAILURES,
            )
            if misses[i] >= HEALTH_FAILURES:
                logger.error("web process pid %d: not answering; killing it", child.pid)
                child.kill()
                misses[i] = 0
