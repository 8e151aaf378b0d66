"""Refunds when a ticketed Space is cancelled by its host or expires: every ticket through its
own provider, once, with the buyer told; provider calls only after commit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from accounts.models import Notification
from scheduling import services as scheduling_services
from tests.factories import UserFactory
from tests.ticketing.conftest import buy, session_event, sign
from ticketing import services
from ticketing.models import Order, Refund, TicketOffer

pytestmark = pytest.mark.django_db


@pytest.fixture
def stripe_ticket(client_for, space, fake_stripe, post_webhook):
    buyer = UserFactory()
    client_for(buyer).post(
        f"/api/v1/spaces/{space.pk}/tickets/checkout", {"provider": "stripe"}, format="json"
    )
    order = Order.objects.get(buyer=buyer)
    payload = session_event(order, event_id=f"evt_{order.pk}")
    assert post_webhook(payload, sign(payload)).status_code == 200
    order.refresh_from_db()
    assert order.state == "paid"
    return order


def test_cancelling_refunds_every_ticket_through_its_provider_and_tells_each_buyer(
    seller, space, stripe_ticket, fake_stripe, django_capture_on_commit_callbacks
):
    offline = buy(space)
    reserved, _ = services.ticket_reserve(
        buyer=UserFactory(), space_id=space.pk, provider="offline"
    )

    with django_capture_on_commit_callbacks(execute=True):
        scheduling_services.scheduled_space_cancel(actor=seller, space_id=space.pk)

    refunds = {r.order_id: r for r in Refund.objects.all()}
    assert set(refunds) == {offline.pk, stripe_ticket.pk}
    assert all(r.state == "done" and r.reason == "space_cancelled" for r in refunds.values())
    assert refunds[offline.pk].provider_ref == f"offline-refund-{refunds[offline.pk].pk}"
    assert [r["payment_intent"] for r in fake_stripe.refunds] == [f"pi_{stripe_ticket.pk}"]
    assert Order.objects.get(pk=reserved.pk).state == "cancelled"
    for order in (offline, stripe_ticket):
        assert Order.objects.get(pk=order.pk).state == "refunded"
        note = Notification.objects.filter(recipient=order.buyer).latest("pk")
        assert "cancelled" in note.payload["message"]
        assert "refunded" in note.payload["message"]
    assert TicketOffer.objects.get(pk=space.pk).sold == 0


def test_expiry_refunds_every_ticket(space, clock, settings, django_capture_on_commit_callbacks):
    order = buy(space)
    clock.travel(space.scheduled_for + timedelta(hours=settings.SPACES_SCHEDULED_EXPIRE_HOURS))

    with django_capture_on_commit_callbacks(execute=True):
        assert scheduling_services.scheduled_spaces_expire() == 1

    refund = Refund.objects.get(order=order)
    assert (refund.state, refund.reason) == ("done", "space_expired")
    message = Notification.objects.filter(recipient=order.buyer).latest("pk").payload["message"]
    assert "did not start" in message


def test_a_refund_asked_twice_is_recorded_and_paid_once(
    seller, space, stripe_ticket, fake_stripe, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        scheduling_services.scheduled_space_cancel(actor=seller, space_id=space.pk)
        scheduling_services.scheduled_space_cancel(actor=seller, space_id=space.pk)
    space.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        services.tickets_refund_for_space(space, "host")
    refund = Refund.objects.get()
    services.refund_execute(refund_id=refund.pk)

    assert Refund.objects.count() == 1
    assert len(fake_stripe.refunds) == 1


def test_no_refund_leaves_before_the_cancel_commits(
    seller, space, stripe_ticket, fake_stripe, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        scheduling_services.scheduled_space_cancel(actor=seller, space_id=space.pk)

    assert fake_stripe.refunds == []
    assert Refund.objects.get().state == "pending"
    for callback in callbacks:
        callback()
    assert len(fake_stripe.refunds) == 1


def test_a_refund_the_provider_fails_stays_pending_and_is_retried(
    seller, space, stripe_ticket, fake_stripe, clock, django_capture_on_commit_callbacks
):
    fake_stripe.fail_refunds = True
    with django_capture_on_commit_callbacks(execute=True):
        scheduling_services.scheduled_space_cancel(actor=seller, space_id=space.pk)
    refund = Refund.objects.get()
    assert (refund.state, refund.attempts) == ("pending", 1)
    assert "network down" in refund.last_error

    fake_stripe.fail_refunds = False
    clock.advance(minutes=2)

    assert services.refunds_retry_pending() == 1
    refund.refresh_from_db()
    assert (refund.state, refund.attempts) == ("done", 2)
    assert len(fake_stripe.refunds) == 1


def test_a_payment_arriving_after_the_cancel_is_refunded(
    seller, space, client_for, fake_stripe, post_webhook, django_capture_on_commit_callbacks
):
    buyer = UserFactory()
    client_for(buyer).post(
        f"/api/v1/spaces/{space.pk}/tickets/checkout", {"provider": "stripe"}, format="json"
    )
    order = Order.objects.get(buyer=buyer)
    scheduling_services.scheduled_space_cancel(actor=seller, space_id=space.pk)
    payload = session_event(order)

    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(payload, sign(payload))

    order.refresh_from_db()
    assert order.state == "refunded"
    assert Refund.objects.get(order=order).reason == "space_cancelled"
    assert len(fake_stripe.refunds) == 1


def test_a_space_without_tickets_is_cancelled_as_before(host, clock):
    space = scheduling_services.scheduled_space_create(
        host=host, title="Free", scheduled_for=clock.now + timedelta(hours=1)
    )

    scheduling_services.scheduled_space_cancel(actor=host, space_id=space.pk)

    assert not Refund.objects.exists()
