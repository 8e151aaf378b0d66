"""Real server processes for tests that cross process boundaries (sockets, browsers).

`running_daphne()` starts `daphne` in a subprocess on a free loopback port, pointed at the same
database the test uses (the test must use `django_db(transaction=True)` so its rows are committed
and visible to the server) and, in the distributed shape, at the same Redis and channel-layer
prefix. `running_nginx()` serves a folder of live HLS through Debian's nginx and the deployment's
own `deploy/nginx/live-hls.conf`. Only 127.0.0.1 is ever used.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith(".postgresql"):  # also django_prometheus's wrapper
        user = db.get("USER") or "postgres"
        auth = f"{user}:{db['PASSWORD']}@" if db.get("PASSWORD") else f"{user}@"
        host = db.get("HOST") or "127.0.0.1"
        return f"postgres://{auth}{host}:{db.get('PORT') or 5432}/{db['NAME']}"
    name = str(db["NAME"])
    if name == ":memory:" or "mode=memory" in name:
        raise RuntimeError("a server process cannot share an in-memory SQLite database")
    return f"sqlite:///{name}"


def server_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "spaces_project.settings",
        "DATABASE_URL": _database_url(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    }
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
        env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
        env["SPACES_CHANNEL_PREFIX"] = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
        # One cache with the test process: the per-Space `seq` counters live there, and a
        # server numbering from its own counter would drop this process's events as stale.
        env["SPACES_CACHE_PREFIX"] = settings.CACHES["default"]["KEY_PREFIX"]
    env.update(extra)
    return env


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"server did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def stop(proc: subprocess.Popen[bytes], *, within: float) -> None:
    """Terminate, then kill what is still running `within` seconds later."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=within)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


class PrivateRedis:
    """A redis-server of the test's own on a free port, which the test may restart (as Redis
    restarts in production: nothing kept on disk). Never the shared one on 6379."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("needs redis-server: apt-get install redis-server")
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [binary, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.proc)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@contextmanager
def running_redis() -> Iterator[PrivateRedis]:
    redis = PrivateRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


@contextmanager
def running_daphne(*, log_path: Path | None = None, **env: str) -> Iterator[str]:
    """Yield the base URL (http://127.0.0.1:PORT) of a daphne serving this project."""
    port = free_port()
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "spaces_project.asgi:application",
        ],
        cwd=ROOT,
        env=server_env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc, within=10)
        if log_path:
            log.close()  # type: ignore[union-attr]


def wait_for_media_worker(
    worker_id: str, proc: subprocess.Popen[bytes], timeout: float = 30.0
) -> None:
    """Until the worker's registration is in Redis (spaces.audio.placement), or it dies."""
    import redis

    from spaces.audio.placement import worker_key

    client = redis.Redis.from_url(settings.REDIS_URL)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"media worker exited early with code {proc.returncode}")
            if client.exists(worker_key(worker_id)):
                return
            time.sleep(0.1)
    finally:
        client.close()
    raise TimeoutError(f"media worker {worker_id} did not register within {timeout:.0f}s")


@contextmanager
def running_media_worker(
    worker_id: str, *, log_path: Path | None = None, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A `manage.py media_worker` process on loopback, registered in this run's Redis."""
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "media_worker", "--id", worker_id],
        cwd=ROOT,
        env=server_env(**{"MEDIA_HOST_ADDRESSES": "127.0.0.1", **env}),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_media_worker(worker_id, proc)
        yield proc
    finally:
        stop(proc, within=15)
        if log_path:
            log.close()  # type: ignore[union-attr]


# -- nginx: the live HLS origin -----------------------------------------------------------------

NGINX = "/usr/sbin/nginx"
LIVE_HLS_CONF = ROOT / "deploy" / "nginx" / "live-hls.conf"
RECORDINGS_ROOT_PLACEHOLDER = "${SPACES_RECORDINGS_ROOT}"


class NginxMissing(RuntimeError):
    pass


@dataclass
class Nginx:
    """A private nginx on loopback: ``url`` is its ``/live/``; ``pids()`` its master and workers."""

    url: str
    port: int
    prefix: Path
    proc: subprocess.Popen[bytes]

    def pids(self) -> list[int]:
        pid = self.proc.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        return [pid, *(int(c) for c in children)]

    def error_log(self) -> str:
        try:
            return (self.prefix / "error.log").read_text(errors="replace")
        except OSError:
            return ""


def nginx_config(
    prefix: Path,
    *,
    port: int,
    recordings_root: Path,
    worker_connections: int = 8192,
    access_log: bool = True,
) -> str:
    """nginx.conf for a private nginx: every path in ``prefix``, one worker, and the deployment's
    live HLS block (its placeholder replaced) in a server on 127.0.0.1:``port``."""
    block = LIVE_HLS_CONF.read_text()
    if RECORDINGS_ROOT_PLACEHOLDER not in block:
        raise RuntimeError(f"{LIVE_HLS_CONF} lost its {RECORDINGS_ROOT_PLACEHOLDER} placeholder")
    (prefix / "live-hls.conf").write_text(
        block.replace(RECORDINGS_ROOT_PLACEHOLDER, str(recordings_root))
    )
    # A master started as root hands its workers to `nobody`, who could not read a test's
    # private temporary folders: the workers run as whoever started nginx.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    log = f"access_log {prefix}/access.log;" if access_log else "access_log off;"
    temp = "\n".join(
        f"    {kind}_temp_path {prefix}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}
worker_processes 1;
worker_rlimit_nofile {2 * worker_connections + 64};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections {worker_connections};
}}
http {{
    {log}
{temp}
    keepalive_timeout 65;
    server {{
        listen 127.0.0.1:{port};
        server_name _;
        include {prefix}/live-hls.conf;
    }}
}}
"""


@contextmanager
def serving_live_hls(
    live_root: Path, *, worker_connections: int = 8192, access_log: bool = True
) -> Iterator[Nginx]:
    """nginx serving ``live_root`` (a folder named ``live``, as in the recordings storage) at
    ``http://127.0.0.1:<port>/live/``; stopped on exit, within seconds. Raises NginxMissing."""
    if not os.access(NGINX, os.X_OK):
        raise NginxMissing(f"needs nginx ({NGINX}): apt-get install nginx")
    if live_root.name != "live":
        raise ValueError(f"the folder served at /live/ must be named live, not {live_root.name}")
    prefix = Path(tempfile.mkdtemp(prefix="nginx-"))
    port = free_port()
    (prefix / "nginx.conf").write_text(
        nginx_config(
            prefix,
            port=port,
            recordings_root=live_root.resolve().parent,
            worker_connections=worker_connections,
            access_log=access_log,
        )
    )
    with open(prefix / "stderr.log", "wb") as stderr:
        command = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
        # -e: the error log before the configuration is read (else /var/log/nginx).
        command += ["-e", str(prefix / "error.log"), "-g", "daemon off;"]
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    server = Nginx(f"http://127.0.0.1:{port}/live/", port, prefix, proc)
    try:
        try:
            wait_for_port(port, proc, timeout=15)
        except (RuntimeError, TimeoutError) as exc:
            said = (prefix / "stderr.log").read_text(errors="replace") + server.error_log()
            raise RuntimeError(f"nginx did not start: {exc}\n{said}") from exc
        yield server
    finally:
        _stop_nginx(server)
        shutil.rmtree(prefix, ignore_errors=True)


def _stop_nginx(server: Nginx) -> None:
    """SIGTERM is nginx's fast shutdown: the master stops its workers and exits. A master that
    must be killed would leave its workers running, so then they are killed by their pids."""
    proc = server.proc
    workers = server.pids()[1:]
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=10)
        return
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    for pid in workers:
        try:
            if b"nginx: worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass  # already gone


@contextmanager
def running_nginx(live_root: Path) -> Iterator[str]:
    """Yield the base URL (``http://127.0.0.1:PORT/live/``) of nginx serving ``live_root``.

    Without nginx the test is skipped, saying how to install it; under CI=true it fails."""
    import pytest

    try:
        with serving_live_hls(live_root) as server:
            yield server.url
    except NginxMissing as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true and this test {exc}", pytrace=False)
        pytest.skip(str(exc))
