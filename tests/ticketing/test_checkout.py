"""Checkout through the offline provider: a reservation holds a seat for a limited time, a
payment makes it a ticket, and each forbidden purchase is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from accounts.models import Block, Notification
from scheduling import services as scheduling_services
from tests.factories import UserFactory
from tests.helpers import assert_error
from tests.ticketing.conftest import buy
from ticketing import services
from ticketing.models import Order, Refund, TicketOffer

pytestmark = pytest.mark.django_db


def checkout(client, space, provider="offline"):
    return client.post(
        f"/api/v1/spaces/{space.pk}/tickets/checkout", {"provider": provider}, format="json"
    )


def test_a_buyer_reserves_pays_offline_and_holds_a_ticket(client_for, space, clock):
    buyer = UserFactory()
    client = client_for(buyer)

    reserved = checkout(client, space)
    assert reserved.status_code == 201, reserved.json()
    order = reserved.json()
    assert order["state"] == "reserved"
    assert (order["amount"], order["currency"]) == (1999, "usd")
    assert order["checkout_url"] == f"/tickets/checkout/{order['id']}/"
    assert order["expires_at"].startswith((clock.now + timedelta(minutes=15)).isoformat()[:16])
    assert client.get(f"/api/v1/spaces/{space.pk}/tickets").json()["taken"] == 1

    paid = client.post(
        f"/api/v1/orders/{order['id']}/offline", {"outcome": "confirm"}, format="json"
    )

    assert paid.status_code == 200
    assert paid.json()["state"] == "paid"
    assert TicketOffer.objects.get(pk=space.pk).sold == 1
    mine = client.get("/api/v1/tickets/mine").json()["results"]
    assert [o["id"] for o in mine] == [order["id"]]
    note = Notification.objects.get(recipient=buyer, kind=Notification.Kind.TICKET)
    assert "confirmed" in note.payload["message"]


def test_checking_out_again_while_reserved_returns_the_same_reservation(client_for, space):
    client = client_for(UserFactory())

    first = checkout(client, space)
    second = checkout(client, space)

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert Order.objects.filter(offer_id=space.pk).count() == 1


def test_buying_twice_is_refused(client_for, space):
    buyer = UserFactory()
    buy(space, buyer)

    response = checkout(client_for(buyer), space)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_has_ticket"
    assert Order.objects.filter(offer_id=space.pk, buyer=buyer).count() == 1


def test_the_host_cannot_buy_a_ticket_to_their_own_space(client_for, seller, space):
    response = checkout(client_for(seller), space)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "own_space"


def test_someone_the_host_blocked_cannot_buy(client_for, seller, space):
    blocked = UserFactory()
    Block.objects.create(blocker=seller, blocked=blocked)

    response = checkout(client_for(blocked), space)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "blocked"


def test_buying_after_the_start_time_is_refused(client_for, space, clock):
    clock.travel(space.scheduled_for)

    response = checkout(client_for(UserFactory()), space)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "sales_closed"


def test_buying_after_the_host_started_early_is_refused(client_for, seller, space):
    scheduling_services.scheduled_space_start(actor=seller, space_id=space.pk)

    response = checkout(client_for(UserFactory()), space)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "sales_closed"


def test_buying_after_the_sales_close_is_refused(client_for, ticketed, clock):
    space = ticketed(sales_close_at=clock.now + timedelta(minutes=30))
    client = client_for(UserFactory())
    assert checkout(client, space).status_code == 201

    clock.advance(minutes=30)
    late = checkout(client_for(UserFactory()), space)

    assert late.status_code == 409
    assert late.json()["error"]["code"] == "sales_closed"


def test_the_seat_after_the_last_is_sold_out(client_for, ticketed):
    space = ticketed(capacity=2)
    buy(space)
    services.ticket_reserve(buyer=UserFactory(), space_id=space.pk, provider="offline")

    response = checkout(client_for(UserFactory()), space)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "sold_out"


def test_an_expired_reservation_frees_its_seat(client_for, ticketed, clock):
    space = ticketed(capacity=1)
    services.ticket_reserve(buyer=UserFactory(), space_id=space.pk, provider="offline")
    assert checkout(client_for(UserFactory()), space).status_code == 409

    clock.advance(minutes=15)

    assert checkout(client_for(UserFactory()), space).status_code == 201


def test_a_failed_offline_payment_frees_the_seat(client_for, ticketed, settings):
    settings.DEBUG = True  # failing on purpose is a developer's tool
    space = ticketed(capacity=1)
    buyer = UserFactory()
    order, _ = services.ticket_checkout_start(buyer=buyer, space_id=space.pk, provider="offline")

    failed = client_for(buyer).post(
        f"/api/v1/orders/{order.pk}/offline", {"outcome": "fail"}, format="json"
    )

    assert failed.status_code == 200
    assert failed.json()["state"] == "failed"
    assert checkout(client_for(UserFactory()), space).status_code == 201


def test_failing_an_offline_payment_on_purpose_is_refused_without_debug(client_for, ticketed):
    space = ticketed(capacity=1)
    buyer = UserFactory()
    order, _ = services.ticket_checkout_start(buyer=buyer, space_id=space.pk, provider="offline")

    failed = client_for(buyer).post(
        f"/api/v1/orders/{order.pk}/offline", {"outcome": "fail"}, format="json"
    )

    assert_error(failed, 403, "debug_only")
    order.refresh_from_db()
    assert order.state == "reserved"


def test_a_late_payment_gets_the_seat_if_it_is_still_free(ticketed, clock):
    space = ticketed(capacity=1)
    buyer = UserFactory()
    order, _ = services.ticket_checkout_start(buyer=buyer, space_id=space.pk, provider="offline")
    clock.advance(minutes=20)
    services.reservations_expire()

    paid = services.order_offline_settle(buyer=buyer, order_id=order.pk, outcome="confirm")

    assert paid.state == Order.State.PAID
    assert TicketOffer.objects.get(pk=space.pk).sold == 1


def test_a_late_payment_after_the_seat_went_to_someone_else_is_refunded(
    ticketed, clock, django_capture_on_commit_callbacks
):
    space = ticketed(capacity=1)
    late = UserFactory()
    order, _ = services.ticket_checkout_start(buyer=late, space_id=space.pk, provider="offline")
    clock.advance(minutes=16)
    buy(space)

    with django_capture_on_commit_callbacks(execute=True):
        result = services.order_offline_settle(buyer=late, order_id=order.pk, outcome="confirm")

    assert result.state == Order.State.REFUNDED
    refund = Refund.objects.get(order=order)
    assert (refund.reason, refund.state, refund.amount) == ("sold_out", "done", 1999)
    offer = TicketOffer.objects.get(pk=space.pk)
    assert offer.sold == offer.capacity == 1
    assert "refunded" in Notification.objects.get(recipient=late).payload["message"]


def test_an_unknown_provider_is_refused(client_for, space):
    response = checkout(client_for(UserFactory()), space, provider="paypal")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_provider"
    assert not Order.objects.exists()


def test_someone_elses_order_cannot_be_paid(client_for, space):
    order, _ = services.ticket_reserve(buyer=UserFactory(), space_id=space.pk, provider="offline")

    response = client_for(UserFactory()).post(
        f"/api/v1/orders/{order.pk}/offline", {"outcome": "confirm"}, format="json"
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "order_not_found"
    assert Order.objects.get(pk=order.pk).state == Order.State.RESERVED
