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

import re
import signal
from collections import Counter
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.models import Notification
from scheduling import services
from scheduling.models import Delivery
from tests.celery_procs import Proc, celery_stack, wait_until
from tests.scheduling.helpers import bulk_holders, holders

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

BROKER_DB = 5
DELIVERY_TIMEOUT = 120
SWEEP_DONE = re.compile(r"Task scheduling\.tasks\.scheduling_sweep\[[^\]]+\] succeeded")
CLAIMED = re.compile("batch claimed")
COMMITTED = re.compile("batch committed")


def in_batch(proc: Proc) -> bool:
    """Claimed a batch it has not committed yet (lines are written as they happen)."""
    return proc.holds_open(CLAIMED, COMMITTED)


def stack(tmp_path: Path, **env: str) -> AbstractContextManager[list[Proc]]:
    """Beat sends a sweep every second, so sweeps overlap and run on both workers."""
    return celery_stack(
        tmp_path, broker_db=BROKER_DB, prefix="w", SPACES_SCHEDULING_SWEEP_SECONDS="1", **env
    )


def each_recipient(kind: str, space_id: int) -> Counter[int]:
    return Counter(
        Notification.objects.filter(kind=kind, payload__space_id=space_id).values_list(
            "recipient_id", flat=True
        )
    )


def settle(workers: list[Proc], more: int = 4) -> None:
    """Let the live workers finish `more` further sweeps between them after everything was
    sent: that many more chances to send something twice."""
    start = sum(w.count(SWEEP_DONE) for w in workers)
    wait_until(
        lambda: sum(w.count(SWEEP_DONE) for w in workers) >= start + more,
        DELIVERY_TIMEOUT,
        f"{more} more sweeps",
    )


def test_a_reminder_due_in_seconds_is_delivered_exactly_once_by_two_workers(host, tmp_path):
    count = 12
    with stack(tmp_path) as (worker1, worker2, _beat):
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
            lambda: worker1.count(SWEEP_DONE) >= 1 and worker2.count(SWEEP_DONE) >= 1,
            DELIVERY_TIMEOUT,
            "both workers to have run sweeps",
        )

        received = each_recipient(Notification.Kind.SPACE_REMINDER, space.pk)
        print(
            f"\ne2e: {count} holders, {sum(received.values())} reminders, "
            f"sweeps run: w1={worker1.count(SWEEP_DONE)} w2={worker2.count(SWEEP_DONE)}"
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
    with stack(
        tmp_path,
        SPACES_SCHEDULING_BATCH_SIZE=str(batch),
        SPACES_SCHEDULING_TEST_BATCH_DELAY="2",
    ) as (worker1, worker2, _beat):
        services.scheduled_space_start(actor=host, space_id=space.pk)

        wait_until(
            lambda: in_batch(worker1) or in_batch(worker2),
            DELIVERY_TIMEOUT,
            "a worker to be inside a batch",
        )
        victim, survivor = (worker1, worker2) if in_batch(worker1) else (worker2, worker1)
        victim.kill_group(signal.SIGKILL)
        victim.popen.wait(timeout=10)
        assert in_batch(victim), "the killed worker had committed its batch after all"
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
