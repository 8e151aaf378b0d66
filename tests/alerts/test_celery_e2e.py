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

import re
import signal
from collections import Counter
from itertools import pairwise

import pytest

from accounts.models import Follow, Notification, User
from alerts.models import GoLiveAlert, GoLiveChunk
from spaces import services as spaces_services
from tests.celery_procs import Proc, celery_stack, wait_until
from tests.factories import UserFactory, make_followers

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

# The tasks go to the workers, not run here (tests/alerts/conftest.py `eager_tasks`).
REAL_WORKERS = True
BROKER_DB = 9
FANOUT_TIMEOUT = 120
FOLLOWERS, CHUNK = 400, 40
CLAIMED = re.compile(r"alerts: chunk \S+ \S+ of alert \d+ claimed")
COMMITTED = re.compile(r"alerts: chunk \S+ \S+ of alert \d+ committed")


def in_chunk(proc: Proc) -> bool:
    """Claimed a chunk it has not committed (lines are written as they happen)."""
    return proc.holds_open(CLAIMED, COMMITTED)


def test_a_worker_killed_mid_chunk_loses_nobody_and_tells_nobody_twice(tmp_path, settings):
    settings.SPACES_HOST_MIN_FOLLOWERS = 1
    star = UserFactory(username="star")
    fans = make_followers(star, FOLLOWERS)
    muted = fans[::10]
    Follow.objects.filter(followee=star, follower__in=muted).update(alerts=Follow.Alerts.NONE)
    wanted = {fan.pk for fan in fans} - {fan.pk for fan in muted}

    with celery_stack(
        tmp_path,
        broker_db=BROKER_DB,
        prefix="a",
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
                and (in_chunk(worker1) or in_chunk(worker2))
            ),
            FANOUT_TIMEOUT,
            "a worker to be inside a chunk, mid-way",
        )
        victim, survivor = (worker1, worker2) if in_chunk(worker1) else (worker2, worker1)
        victim.kill_group(signal.SIGKILL)
        victim.popen.wait(timeout=10)
        assert in_chunk(victim), "the killed worker had committed its chunk after all"
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
