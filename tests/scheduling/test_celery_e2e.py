"""The real thing: two `celery worker` processes and `celery beat` against Redis and the test
PostgreSQL database, as subprocesses. No time travel here: the rows are due in real seconds.

- A reminder due in a few seconds reaches every holder exactly once, with two workers and a
  beat that sends a sweep every second (so sweeps overlap and run on both workers).
- A worker killed with SIGKILL in the middle of a batch (each batch is held open a while by a
  test-only setting) loses nothing and duplicates nothing: its open transaction dies with its
  connection, and the surviving worker's sweeps send those rows.

The broker is Redis database 5 (not the shared database 0); its queue is emptied first. Every
wait is bounded; every subprocess is ended in `finally`.
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
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import Notification
from scheduling import services
from scheduling.models import Delivery
from tests.scheduling.helpers import bulk_holders, holders
from tests.servers import ROOT, server_env

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

BROKER_DB = 5
READY_TIMEOUT = 60
DELIVERY_TIMEOUT = 120
SWEEP_DONE = re.compile(r"Task scheduling\.tasks\.scheduling_sweep\[[^\]]+\] succeeded")


def broker_url() -> str:
    base = settings.REDIS_URL.rsplit("/", 1)[0] if settings.REDIS_URL.count("/") > 2 else ""
    return f"{base or settings.REDIS_URL.rstrip('/')}/{BROKER_DB}"


def purge_broker(url: str) -> None:
    """Empty our own broker database's queue and the unacked messages a killed worker of an
    earlier run may have left (they would come back after the visibility timeout)."""
    import redis

    client = redis.Redis.from_url(url)
    client.delete("celery", "unacked", "unacked_index", "unacked_mutex")


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

    def sweeps_done(self) -> int:
        return len(SWEEP_DONE.findall(self.text()))

    def in_batch(self) -> bool:
        """Claimed a batch it has not committed yet (lines are written as they happen)."""
        text = self.text()
        return text.count("batch claimed") > text.count("batch committed")

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
        SPACES_SCHEDULING_SWEEP_SECONDS="1",
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        DJANGO_LOG_LEVEL="INFO",
        **env,
    )
    celery = [sys.executable, "-m", "celery", "-A", "spaces_project"]
    commands = {
        "worker1": [*celery, "worker", "-n", "w1@%h", "--concurrency=2", "--pool=prefork"],
        "worker2": [*celery, "worker", "-n", "w2@%h", "--concurrency=2", "--pool=prefork"],
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
            if name.startswith("worker"):
                command += ["--loglevel=INFO", "--without-mingle", "--without-gossip"]
            else:
                command += ["--loglevel=INFO"]
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


def each_recipient(kind: str, space_id: int) -> Counter[int]:
    return Counter(
        Notification.objects.filter(kind=kind, payload__space_id=space_id).values_list(
            "recipient_id", flat=True
        )
    )


def settle(workers: list[Proc], more: int = 4) -> None:
    """Let the live workers finish `more` further sweeps between them after everything was
    sent: that many more chances to send something twice."""
    start = sum(w.sweeps_done() for w in workers)
    wait_until(
        lambda: sum(w.sweeps_done() for w in workers) >= start + more,
        DELIVERY_TIMEOUT,
        f"{more} more sweeps",
    )


def test_a_reminder_due_in_seconds_is_delivered_exactly_once_by_two_workers(host, tmp_path):
    count = 12
    with celery_stack(tmp_path) as (worker1, worker2, _beat):
        when = timezone.now() + timedelta(minutes=15, seconds=4)
        space = services.scheduled_space_create(host=host, title="Soon", scheduled_for=when)
        people = holders(space, count)
        armed = Delivery.objects.filter(space=space, kind="reminder", state="pending").count()
        assert armed == count

        wait_until(
            lambda: (
                Delivery.objects.filter(space=space, kind="reminder", state="sent").count() == count
            ),
            DELIVERY_TIMEOUT,
            "every reminder to be sent",
        )
        settle([worker1, worker2])
        # Beat's sweeps went to both workers (which one takes a task is the broker's choice).
        wait_until(
            lambda: worker1.sweeps_done() >= 1 and worker2.sweeps_done() >= 1,
            DELIVERY_TIMEOUT,
            "both workers to have run sweeps",
        )

        received = each_recipient(Notification.Kind.SPACE_REMINDER, space.pk)
        print(
            f"\ne2e: {count} holders, {sum(received.values())} reminders, "
            f"sweeps run: w1={worker1.sweeps_done()} w2={worker2.sweeps_done()}"
        )
        assert received == Counter({p.pk: 1 for p in people})
        sent = Delivery.objects.get(space=space, kind="reminder", recipient=people[0])
        assert sent.sent_at is not None
        assert sent.sent_at >= when - timedelta(minutes=15)
        assert "Traceback" not in worker1.text() + worker2.text(), worker1.text()[-3000:]


def test_killing_a_worker_mid_batch_loses_nothing_and_duplicates_nothing(host, tmp_path):
    count, batch = 200, 25
    space = services.scheduled_space_create(
        host=host, title="Crowded", scheduled_for=timezone.now() + timedelta(hours=1)
    )
    people = bulk_holders(space, count)
    with celery_stack(
        tmp_path,
        SPACES_SCHEDULING_BATCH_SIZE=str(batch),
        SPACES_SCHEDULING_TEST_BATCH_DELAY="2",
    ) as (worker1, worker2, _beat):
        services.scheduled_space_start(actor=host, space_id=space.pk)

        wait_until(
            lambda: worker1.in_batch() or worker2.in_batch(),
            DELIVERY_TIMEOUT,
            "a worker to be inside a batch",
        )
        victim, survivor = (worker1, worker2) if worker1.in_batch() else (worker2, worker1)
        victim.kill_group(signal.SIGKILL)
        victim.popen.wait(timeout=10)
        assert victim.in_batch(), "the killed worker had committed its batch after all"
        sent_at_kill = Delivery.objects.filter(space=space, kind="live", state="sent").count()
        assert sent_at_kill < count

        wait_until(
            lambda: (
                Delivery.objects.filter(space=space, kind="live", state="sent").count() == count
            ),
            DELIVERY_TIMEOUT,
            "the surviving worker to send every row",
        )
        settle([survivor])

        received = each_recipient(Notification.Kind.SPACE_LIVE, space.pk)
        text = victim.text()
        print(
            f"\ne2e: killed {victim.name} inside a batch "
            f"({text.count('batch claimed')} claimed, {text.count('batch committed')} "
            f"committed); {sent_at_kill} rows were sent at the kill; "
            f"{sum(received.values())} notifications for {count} holders"
        )
        assert received == Counter({p.pk: 1 for p in people})
        assert (
            not Delivery.objects.filter(space=space).exclude(state__in=["sent", "skipped"]).exists()
        )
