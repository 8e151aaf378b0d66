"""Thousands of holders cost a fixed number of queries: arming is one INSERT ... SELECT, and
a batch of deliveries is one claim, one INSERT of notifications per (Space, kind), one UPDATE.
Each test runs the same action for a few holders and for many and compares the counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Notification
from scheduling import services
from scheduling.models import Delivery
from tests.scheduling.helpers import at, bulk_holders, deliveries

pytestmark = pytest.mark.django_db

FEW, MANY = 3, 120


def queries(action) -> int:
    with CaptureQueriesContext(connection) as captured:
        action()
    return len(captured)


def _sweep_count(schedule, clock, sweep, host, n: int) -> tuple[int, int, int]:
    space = schedule(minutes=60, title=f"Space for {n}")
    bulk_holders(space, n)
    start = queries(lambda: services.scheduled_space_start(actor=host, space_id=space.pk))
    sent = queries(sweep)
    assert Notification.objects.filter(kind="space_live", payload__space_id=space.pk).count() == n
    from spaces import services as spaces_services

    spaces_services.space_end(actor=host, space_id=space.pk)
    return start, sent, n


def test_going_live_and_sending_to_holders_costs_the_same_for_few_and_many(
    schedule, clock, sweep, host
):
    few = _sweep_count(schedule, clock, sweep, host, FEW)
    many = _sweep_count(schedule, clock, sweep, host, MANY)
    assert few[:2] == many[:2]


def test_cancelling_and_moving_cost_the_same_for_few_and_many(schedule, clock, host):
    counts = []
    for n in (FEW, MANY):
        moved, cancelled = schedule(minutes=60, title=f"M{n}"), schedule(minutes=70, title=f"C{n}")
        bulk_holders(moved, n, prefix=f"m{n}-")
        bulk_holders(cancelled, n, prefix=f"c{n}-")
        move = queries(
            lambda moved=moved: services.scheduled_space_update(
                actor=host, space_id=moved.pk, scheduled_for=at(moved, 30)
            )
        )
        cancel = queries(
            lambda cancelled=cancelled: services.scheduled_space_cancel(
                actor=host, space_id=cancelled.pk
            )
        )
        assert len(deliveries(moved, kind="changed")) == n
        assert len(deliveries(moved, kind="reminder", version=2)) == n
        assert len(deliveries(cancelled, kind="cancelled")) == n
        counts.append((move, cancel))
    assert counts[0] == counts[1]


def test_the_sweep_sends_in_batches_of_the_configured_size(schedule, clock, sweep, host, settings):
    settings.SPACES_SCHEDULING_BATCH_SIZE = 10
    space = schedule(minutes=60)
    people = bulk_holders(space, 25)
    services.scheduled_space_start(actor=host, space_id=space.pk)

    result = sweep()

    assert (result["sent"], result["batches"]) == (25, 3)
    got = Notification.objects.filter(kind="space_live").values_list("recipient_id", flat=True)
    assert sorted(got) == sorted(p.pk for p in people)


def test_a_sweep_stops_after_max_batches_and_the_next_one_goes_on(
    schedule, clock, sweep, host, settings
):
    settings.SPACES_SCHEDULING_BATCH_SIZE = 10
    settings.SPACES_SCHEDULING_MAX_BATCHES = 2
    space = schedule(minutes=60)
    bulk_holders(space, 25)
    services.scheduled_space_start(actor=host, space_id=space.pk)

    assert sweep()["sent"] == 20
    assert Delivery.objects.filter(state="pending").count() == 5
    assert sweep()["sent"] == 5
    assert Notification.objects.filter(kind="space_live").count() == 25
