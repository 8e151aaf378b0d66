"""Real server processes for tests that cross process boundaries (sockets, browsers).

`running_daphne()` starts `daphne` in a subprocess on a free loopback port, pointed at the same
database the test uses (the test must use `django_db(transaction=True)` so its rows are committed
and visible to the server) and, in the distributed shape, at the same Redis and channel-layer
prefix. Only 127.0.0.1 is ever used.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
    if db["ENGINE"] == "django.db.backends.postgresql":
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
