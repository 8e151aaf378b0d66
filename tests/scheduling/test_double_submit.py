"""A double click on "Schedule" is one Space ("bad input loses nothing"): the same host
scheduling the same title at the same time within SCHEDULE_REPEAT_SECONDS gets the Space
already made back, free or on sale; anything else is a new Space. The concurrent case, on
PostgreSQL, is in tests/concurrency/test_schedule_double_submit.py."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest
from django.test import Client

from scheduling import services
from scheduling.models import Delivery, SpaceSchedule
from scheduling.services.schedule import SCHEDULE_REPEAT_SECONDS
from spaces.models import Space
from tests.factories import UserFactory, make_followers
from ticketing.models import TicketOffer

pytestmark = pytest.mark.django_db

NEW = "/spaces/scheduled/new/"


def schedule_twice(host, when, **kwargs: Any) -> tuple[Space, Space]:
    first = services.scheduled_space_create(host=host, title="Morning show", scheduled_for=when)
    second = services.scheduled_space_create(
        host=host, title="Morning show", scheduled_for=when, **kwargs
    )
    return first, second


# --- The service ---------------------------------------------------------------------------


def test_the_same_space_scheduled_twice_at_once_is_one_space(host, clock):
    when = clock.now + timedelta(hours=2)
    first = services.scheduled_space_create(host=host, title="Morning show", scheduled_for=when)
    deliveries = Delivery.objects.filter(space=first).count()
    clock.advance(seconds=2)

    second = services.scheduled_space_create(host=host, title="Morning show", scheduled_for=when)

    assert second.pk == first.pk
    assert Space.objects.filter(host=host).count() == 1
    assert SpaceSchedule.objects.filter(space__host=host).count() == 1
    assert Delivery.objects.filter(space=first).count() == deliveries  # nothing armed twice


def test_a_title_that_only_differs_in_spaces_around_it_is_the_same_space(host, clock):
    when = clock.now + timedelta(hours=2)
    first = services.scheduled_space_create(host=host, title="Morning show", scheduled_for=when)
    second = services.scheduled_space_create(host=host, title="  Morning show ", scheduled_for=when)
    assert second.pk == first.pk


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Evening show"},
        {"minutes": 30},
    ],
)
def test_another_title_or_time_is_another_space(host, clock, change):
    when = clock.now + timedelta(hours=2)
    first = services.scheduled_space_create(host=host, title="Morning show", scheduled_for=when)

    second = services.scheduled_space_create(
        host=host,
        title=change.get("title", "Morning show"),
        scheduled_for=when + timedelta(minutes=change.get("minutes", 0)),
    )

    assert second.pk != first.pk
    assert Space.objects.filter(host=host).count() == 2


def test_the_same_space_after_the_window_is_a_second_space(host, clock):
    when = clock.now + timedelta(hours=2)
    first = services.scheduled_space_create(host=host, title="Morning show", scheduled_for=when)
    clock.advance(seconds=SCHEDULE_REPEAT_SECONDS + 1)

    second = services.scheduled_space_create(host=host, title="Morning show", scheduled_for=when)

    assert second.pk != first.pk


def test_another_hosts_space_of_the_same_name_and_time_is_theirs(host, clock, settings):
    other_host = UserFactory()
    make_followers(other_host, settings.SPACES_HOST_MIN_FOLLOWERS, prefix="other-")
    when = clock.now + timedelta(hours=2)
    mine = services.scheduled_space_create(host=host, title="Morning show", scheduled_for=when)
    theirs = services.scheduled_space_create(
        host=other_host, title="Morning show", scheduled_for=when
    )
    assert theirs.pk != mine.pk
    assert theirs.host_id == other_host.pk


def test_scheduling_again_after_cancelling_makes_a_new_space(host, clock):
    when = clock.now + timedelta(hours=2)
    first = services.scheduled_space_create(host=host, title="Morning show", scheduled_for=when)
    services.scheduled_space_cancel(actor=host, space_id=first.pk)

    second = services.scheduled_space_create(host=host, title="Morning show", scheduled_for=when)

    assert second.pk != first.pk
    assert second.state == Space.State.SCHEDULED


def test_a_double_submit_at_the_upcoming_limit_returns_the_space_not_a_refusal(
    host, clock, settings
):
    settings.SPACES_MAX_UPCOMING_PER_HOST = 1
    when = clock.now + timedelta(hours=2)
    first, second = schedule_twice(host, when)
    assert second.pk == first.pk


@pytest.fixture
def seller(host, settings):
    settings.SPACES_TICKETED_MIN_FOLLOWERS = settings.SPACES_HOST_MIN_FOLLOWERS
    return host


def sell(host, when) -> Space:
    return services.scheduled_space_create_for_sale(
        host=host, title="Paid talk", scheduled_for=when, price=500, capacity=100
    )


def test_a_space_put_on_sale_twice_at_once_is_one_space_on_sale_not_a_refusal(seller, clock):
    when = clock.now + timedelta(hours=2)
    first = sell(seller, when)

    second = sell(seller, when)

    assert second.pk == first.pk
    assert second.is_ticketed
    assert Space.objects.filter(host=seller).count() == 1
    assert TicketOffer.objects.filter(space__host=seller).count() == 1


def test_a_free_space_and_one_on_sale_of_the_same_name_are_two_spaces(seller, clock):
    """Not a double click: the second form asked for something the first did not."""
    when = clock.now + timedelta(hours=2)
    free = services.scheduled_space_create(host=seller, title="Paid talk", scheduled_for=when)

    on_sale = sell(seller, when)

    assert on_sale.pk != free.pk
    assert on_sale.is_ticketed
    assert not Space.objects.get(pk=free.pk).is_ticketed


# --- The page ------------------------------------------------------------------------------


def form(clock, **extra: Any) -> dict[str, str]:
    when = (clock.now + timedelta(days=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    return {
        "title": "Evening chat",
        "scheduled_for": when,
        "topics": "Jazz",
        "speaking_policy": "everyone",
        **extra,
    }


def test_double_clicking_schedule_on_the_form_makes_one_space_and_both_go_to_it(host, clock):
    client = Client()
    client.force_login(host)

    first = client.post(NEW, form(clock))
    second = client.post(NEW, form(clock))

    space = Space.objects.get(host=host)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == f"/spaces/scheduled/{space.pk}/"
    page = client.get(second["Location"])
    assert "Your Space is scheduled for" in page.content.decode()


def test_double_clicking_schedule_with_tickets_makes_one_space_on_sale(seller, clock):
    client = Client()
    client.force_login(seller)
    terms = {"sell_tickets": "on", "price": "5.00", "currency": "usd", "capacity": "100"}

    first = client.post(NEW, form(clock, **terms))
    second = client.post(NEW, form(clock, **terms))

    space = Space.objects.get(host=seller)
    assert first.status_code == second.status_code == 302, second.content.decode()[:500]
    assert first["Location"] == second["Location"] == f"/spaces/scheduled/{space.pk}/"
    assert TicketOffer.objects.get(space=space).price == 500
