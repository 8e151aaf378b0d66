"""The periodic task: lapsed reservations are marked expired, pending refunds are retried."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory
from ticketing import selectors, services, tasks
from ticketing.models import Order

pytestmark = pytest.mark.django_db


def test_the_sweep_marks_only_lapsed_reservations_expired(ticketed, clock):
    space = ticketed(capacity=3)
    old, _ = services.ticket_reserve(buyer=UserFactory(), space_id=space.pk, provider="offline")
    clock.advance(minutes=10)
    fresh, _ = services.ticket_reserve(buyer=UserFactory(), space_id=space.pk, provider="offline")
    clock.advance(minutes=5)

    result = tasks.reservations_expire.apply().get()

    assert result == {"expired": 1, "refunded": 0}
    assert Order.objects.get(pk=old.pk).state == "expired"
    assert Order.objects.get(pk=fresh.pk).state == "reserved"


def test_the_offer_detail_reads_in_a_fixed_number_of_queries(space, django_assert_num_queries):
    buyer = UserFactory()
    for _ in range(2):
        services.ticket_reserve(buyer=UserFactory(), space_id=space.pk, provider="offline")

    with django_assert_num_queries(3):
        view = selectors.offer_detail(viewer=buyer, space_id=space.pk)

    assert (view.taken, view.available, view.on_sale) == (2, 1, True)
