"""The real thing: a go-live fan-out on two `celery worker` processes and `celery beat`, against
Redis and the test PostgreSQL database, as subprocesses, with one worker killed (SIGKILL, its
whole process group) while it holds a chunk open. Each chunk is held open a while by a
test-only setting (SPACES_GOLIVE_TEST_CHUNK_DELAY) so the kill lands inside one.

What must hold: every follower who wants it has exactly one inbox row (the killed chunk's
transaction died with its connection; the sweep on the surviving worker resumed from the
committed cursor), the chunks tile the follower ids with no gap and no overlap, and the
fan-out finishes.

The broker is Redis database 9 (not the shared database 0, nor scheduling's 5); its queue is
emptied first and last. Every wait is bounded; every subprocess is ended in `finally`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
from django.conf import settings

from accounts.models import Follow, Notification, User
from alerts.models import GoLiveAlert, GoLiveChunk
from spaces import services as spaces_services
from tests.factories import UserFactory, make_followers
from tests.servers import ROOT, server_env

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

# The tasks go to the workers, not run here (tests/alerts/conftest.py `eager_tasks`).
REAL_WORKERS = True
BROKER_DB = 9
READY_TIMEOUT = 60
FANOUT_TIMEOUT = 120
FOLLOWERS, CHUNK = 400, 40
CLAIMED = re.compile(r"alerts: chunk \S+ \S+ of alert \d+ claimed")
COMMITTED = re.compile(r"alerts: chunk \S+ \S+ of alert \d+ committed")


def broker_url() -> str:
    base = settings.REDIS_URL.rsplit("/", 1)[0] if settings.REDIS_URL.count("/") > 2 else ""
    return f"{base or settings.REDIS_URL.rstrip('/')}/{BROKER_DB}"


def purge_broker(url: str) -> None:
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

    def in_chunk(self) -> bool:
        """Claimed a chunk it has not committed (lines are written as they happen)."""
        text = self.text()
        return len(CLAIMED.findall(text)) > len(COMMITTED.findall(text))

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill_group(self, sig: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)


@contextmanager
def celery_stack(tmp_path: Path, **env: str) -> Iterator[list[Proc]]:
    """Two workers (prefork, two children each) and beat; yields [worker1, worker2, beat]."""
    url = broker_url()
    purge_broker(url)
    environment = server_env(
        CELERY_BROKER_URL=url,
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        DJANGO_LOG_LEVEL="INFO",
        **env,
    )
    celery = [sys.executable, "-m", "celery", "-A", "spaces_project"]
    commands = {
        "worker1": [*celery, "worker", "-n", "a1@%h", "--concurrency=2", "--pool=prefork"],
        "worker2": [*celery, "worker", "-n", "a2@%h", "--concurrency=2", "--pool=prefork"],
        "beat": [
            *celery,
            "beat",
            "-s",
            str(tmp_path / "beat-schedule"),
            "--pidfile",
            str(tmp_path / "beat.pid"),
            "--max-interval",
            "1",
        ],
    }
    procs: list[Proc] = []
    try:
        for name, command in commands.items():
            command = [*command, "--loglevel=INFO"]
            if name.startswith("worker"):
                command += ["--without-mingle", "--without-gossip"]
            log = tmp_path / f"{name}.log"
            with open(log, "wb") as out:
                popen = subprocess.Popen(
                    command,
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


def test_a_worker_killed_mid_chunk_loses_nobody_and_tells_nobody_twice(tmp_path, settings):
    settings.SPACES_HOST_MIN_FOLLOWERS = 1
    star = UserFactory(username="star")
    fans = make_followers(star, FOLLOWERS)
    muted = fans[::10]
    Follow.objects.filter(followee=star, follower__in=muted).update(alerts=Follow.Alerts.NONE)
    wanted = {fan.pk for fan in fans} - {fan.pk for fan in muted}

    with celery_stack(
        tmp_path,
        SPACES_HOST_MIN_FOLLOWERS="1",
        SPACES_GOLIVE_CHUNK=str(CHUNK),
        SPACES_GOLIVE_TEST_CHUNK_DELAY="0.7",
        SPACES_GOLIVE_SWEEP_SECONDS="1",
        SPACES_GOLIVE_STALL_SECONDS="3",
    ) as (worker1, worker2, _beat):
        # The go-live commits here; its alert and first fan-out task go to the broker.
        space = spaces_services.space_start(host=star, title="Crowded")
        alert = GoLiveAlert.objects.get(space=space)

        # Mid-way: some chunks committed, and a worker inside the next one.
        wait_until(
            lambda: (
                GoLiveChunk.objects.filter(alert=alert).count() >= 3
                and (worker1.in_chunk() or worker2.in_chunk())
            ),
            FANOUT_TIMEOUT,
            "a worker to be inside a chunk, mid-way",
        )
        victim, survivor = (worker1, worker2) if worker1.in_chunk() else (worker2, worker1)
        victim.kill_group(signal.SIGKILL)
        victim.popen.wait(timeout=10)
        assert victim.in_chunk(), "the killed worker had committed its chunk after all"
        alert.refresh_from_db()
        at_kill = alert.cursor
        assert alert.status == GoLiveAlert.Status.RUNNING
        assert 0 < at_kill < max(fan.pk for fan in fans)

        wait_until(
            lambda: GoLiveAlert.objects.get(pk=alert.pk).status != GoLiveAlert.Status.RUNNING,
            FANOUT_TIMEOUT,
            "the surviving worker to finish the fan-out",
        )

        alert.refresh_from_db()
        rows = Notification.objects.filter(kind=Notification.Kind.FOLLOWED_LIVE)
        received = Counter(rows.values_list("recipient_id", flat=True))
        chunks = list(GoLiveChunk.objects.filter(alert=alert).order_by("after_id"))
        print(
            f"\ne2e: killed {victim.name} inside a chunk at cursor {at_kill}; "
            f"{len(chunks)} chunks, {sum(received.values())} inbox rows for {len(wanted)} wanted; "
            f"survivor committed {len(COMMITTED.findall(survivor.text()))} chunks"
        )
        assert alert.status == GoLiveAlert.Status.DONE
        assert received == Counter(dict.fromkeys(wanted, 1))
        assert alert.inbox_count == len(wanted)
        assert chunks[0].after_id == 0
        assert all(a.last_id == b.after_id for a, b in pairwise(chunks))
        assert chunks[-1].last_id == max(fan.pk for fan in fans)
        assert alert.cursor == chunks[-1].last_id
        # Web Push is off in this test's environment (no VAPID key): each chunk's send still
        # ran through its claim, once, to the end.
        wait_until(
            lambda: not GoLiveChunk.objects.filter(alert=alert, push_state="pending").exists(),
            FANOUT_TIMEOUT,
            "every chunk's push to be claimed",
        )
        assert "Traceback" not in survivor.text(), survivor.text()[-3000:]
        assert User.objects.filter(pk__in=wanted).count() == len(wanted)
