"""A double click on "Schedule" whose two requests run at the same moment, against real
PostgreSQL (pretix-style: prove the race, then the lock that stops it).

Each request runs in its own thread with its own connection and transaction, released together
by a barrier. The first to create its Space is held, transaction open, for a moment: the window
in which the others would look for a repeat, find nothing committed, and create their own."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import User
from scheduling import services
from scheduling.services import schedule as scheduling_schedule
from spaces.models import Space
from tests.concurrency.test_stage_capacity import run_together
from tests.factories import UserFactory, make_followers
from ticketing.models import TicketOffer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CLICKS = 4


@pytest.fixture(autouse=True)
def _fresh_pool() -> None:
    """Every request needs its own pooled connection at the same moment."""
    close_pool = getattr(connection, "close_pool", None)
    if close_pool is not None:
        close_pool()


@pytest.fixture(autouse=True)
def _rules(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.SPACES_HOST_MIN_FOLLOWERS = 1
    settings.SPACES_TICKETED_MIN_FOLLOWERS = 1
    settings.SPACES_MAX_UPCOMING_PER_HOST = 50
    monkeypatch.setattr(scheduling_schedule, "_kick_sweep", lambda: None)


@pytest.fixture
def host(db: None) -> User:
    host = UserFactory()
    make_followers(host, 1)
    return host


def hold_each_create(monkeypatch: pytest.MonkeyPatch, pause: float) -> list[int]:
    """Record every request that created a Space, and hold it (transaction open) for `pause`
    seconds after creating it."""
    created: list[int] = []
    arm = scheduling_schedule._arm_host

    def armed_then_paused(space: Space, **kwargs: Any) -> None:
        arm(space, **kwargs)
        created.append(space.pk)
        time.sleep(pause)

    monkeypatch.setattr(scheduling_schedule, "_arm_host", armed_then_paused)
    return created


def clicks(call: Callable[[], Space]) -> list[Callable[[], int]]:
    return [lambda: call().pk for _ in range(CLICKS)]


def test_concurrent_identical_schedules_make_one_space_and_all_get_it(host, monkeypatch):
    when = timezone.now() + timedelta(hours=2)
    created = hold_each_create(monkeypatch, pause=0.3)

    results = run_together(
        clicks(
            lambda: services.scheduled_space_create(
                host=host, title="Morning show", scheduled_for=when
            )
        )
    )

    assert Counter(kind for kind, _ in results) == {"ok": CLICKS}, results
    assert len(created) == 1
    assert {pk for _, pk in results} == set(created)
    assert Space.objects.filter(host=host).count() == 1


def test_concurrent_identical_sales_make_one_space_on_sale_and_no_refusal(host, monkeypatch):
    when = timezone.now() + timedelta(hours=2)
    created = hold_each_create(monkeypatch, pause=0.3)

    results = run_together(
        clicks(
            lambda: services.scheduled_space_create_for_sale(
                host=host, title="Paid talk", scheduled_for=when, price=500, capacity=10
            )
        )
    )

    assert Counter(kind for kind, _ in results) == {"ok": CLICKS}, results
    assert len(created) == 1
    assert {pk for _, pk in results} == set(created)
    assert Space.objects.filter(host=host).count() == 1
    assert TicketOffer.objects.filter(space__host=host).count() == 1


def test_control_without_the_hosts_lock_concurrent_schedules_make_several_spaces(host, monkeypatch):
    """The same clicks with the host's row lock switched off: each request looks for a repeat
    before the first commits and creates its own Space (the race is real)."""
    when = timezone.now() + timedelta(hours=2)
    monkeypatch.setattr(scheduling_schedule, "lock_rows", lambda qs: qs)
    created = hold_each_create(monkeypatch, pause=0.3)

    results = run_together(
        clicks(
            lambda: services.scheduled_space_create(
                host=host, title="Morning show", scheduled_for=when
            )
        )
    )

    assert Counter(kind for kind, _ in results)["ok"] == CLICKS, results
    assert len(created) > 1, results
    assert Space.objects.filter(host=host).count() == len(created)
