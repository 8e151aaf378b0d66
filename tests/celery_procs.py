"""Real Celery for the tests that kill a worker mid-way (tests/scheduling/test_celery_e2e.py,
tests/alerts/test_celery_e2e.py): two `celery worker` processes and `celery beat` as
subprocesses, each in its own process group (so a kill takes its pool children too), logging to
files the tests read as the lines are written. Each test file has its own Redis database as
broker, emptied first and last. Every wait is bounded; every process is ended in `finally`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from tests.servers import ROOT, server_env

READY_TIMEOUT = 60


def broker_url(db: int) -> str:
    base = settings.REDIS_URL.rsplit("/", 1)[0] if settings.REDIS_URL.count("/") > 2 else ""
    return f"{base or settings.REDIS_URL.rstrip('/')}/{db}"


def purge_broker(url: str) -> None:
    """Empty the broker database's queue and the unacked messages a killed worker of an earlier
    run may have left (they would come back after the visibility timeout)."""
    import redis

    redis.Redis.from_url(url).delete("celery", "unacked", "unacked_index", "unacked_mutex")


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def count(self, pattern: re.Pattern[str]) -> int:
        return len(pattern.findall(self.text()))

    def holds_open(self, claimed: re.Pattern[str], committed: re.Pattern[str]) -> bool:
        """Logged more claims than commits: it is inside a unit of work right now."""
        text = self.text()
        return len(claimed.findall(text)) > len(committed.findall(text))

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill_group(self, sig: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)


@contextmanager
def celery_stack(
    tmp_path: Path, *, broker_db: int, prefix: str, **env: str
) -> Iterator[list[Proc]]:
    """Two workers (prefork, two children each, named `<prefix>1@`, `<prefix>2@`) and beat;
    yields [worker1, worker2, beat]."""
    url = broker_url(broker_db)
    purge_broker(url)
    environment = server_env(
        CELERY_BROKER_URL=url,
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        DJANGO_LOG_LEVEL="INFO",
        **env,
    )
    celery = [sys.executable, "-m", "celery", "-A", "spaces_project"]
    worker = ["worker", "--concurrency=2", "--pool=prefork", "--without-mingle", "--without-gossip"]
    commands = {
        "worker1": [*celery, *worker, "-n", f"{prefix}1@%h"],
        "worker2": [*celery, *worker, "-n", f"{prefix}2@%h"],
        "beat": [
            *celery,
            "beat",
            *["-s", str(tmp_path / "beat-schedule"), "--pidfile", str(tmp_path / "beat.pid")],
            *["--max-interval", "1"],
        ],
    }
    procs: list[Proc] = []
    try:
        for name, command in commands.items():
            log = tmp_path / f"{name}.log"
            with open(log, "wb") as out:
                popen = subprocess.Popen(
                    [*command, "--loglevel=INFO"],
                    cwd=ROOT,
                    env=environment,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: the pool children too
                )
            procs.append(Proc(name, popen, log))
        for proc in procs[:2]:
            wait_until(
                lambda proc=proc: " ready." in proc.text() or not proc.alive(),
                READY_TIMEOUT,
                f"{proc.name} to be ready",
            )
            assert proc.alive(), proc.text()[-3000:]
        yield procs
    finally:
        for proc in procs:
            proc.kill_group(signal.SIGTERM)
        for proc in procs:
            try:
                proc.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill_group(signal.SIGKILL)
                proc.popen.wait(timeout=5)
        purge_broker(url)
