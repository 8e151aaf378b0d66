"""Stripe: the Checkout Session (Stripe's servers replaced at the edge) and the webhook, whose
signatures are made here with the test secret and checked by stripe.Webhook.construct_event."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from tests.factories import UserFactory
from tests.ticketing.conftest import buy, session_event, sign
from ticketing import services
from ticketing.models import Order, Refund, TicketOffer, WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(client_for, space, fake_stripe):
    buyer = UserFactory()
    response = client_for(buyer).post(
        f"/api/v1/spaces/{space.pk}/tickets/checkout", {"provider": "stripe"}, format="json"
    )
    assert response.status_code == 201, response.json()
    return Order.objects.get(pk=response.json()["id"])


def test_checkout_creates_a_stripe_session_for_the_order(order, fake_stripe):
    (params,) = fake_stripe.sessions
    assert params["mode"] == "payment"
    assert params["client_reference_id"] == str(order.pk)
    item = params["line_items"][0]["price_data"]
    assert (item["unit_amount"], item["currency"]) == (1999, "usd")
    assert params["idempotency_key"] == f"spaces-checkout-{order.pk}"
    assert (order.checkout_ref, order.checkout_url) == ("cs_test_1", "https://checkout.test/1")


def test_a_stripe_failure_at_checkout_releases_the_seat(
    client_for, ticketed, fake_stripe, monkeypatch
):
    import stripe

    space = ticketed(capacity=1)

    def down(**params):
        raise stripe.APIConnectionError("down")

    monkeypatch.setattr(stripe.checkout.Session, "create", down)
    response = client_for(UserFactory()).post(
        f"/api/v1/spaces/{space.pk}/tickets/checkout", {"provider": "stripe"}, format="json"
    )

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "payment_provider_error"
    assert Order.objects.get().state == Order.State.FAILED
    offer = TicketOffer.objects.get(pk=space.pk)
    assert services.seats_taken(offer, now=timezone.now()) == 0


def test_a_signed_completed_session_makes_the_ticket(order, post_webhook):
    payload = session_event(order)

    response = post_webhook(payload, sign(payload))

    assert response.status_code == 200, response.content
    order.refresh_from_db()
    assert (order.state, order.payment_ref) == ("paid", f"pi_{order.pk}")
    assert TicketOffer.objects.get(pk=order.offer_id).sold == 1
    assert WebhookEvent.objects.get(event_id="evt_1").result == "paid"


def test_a_replayed_event_changes_nothing(order, post_webhook):
    payload = session_event(order)
    post_webhook(payload, sign(payload))

    again = post_webhook(payload, sign(payload))

    assert again.status_code == 200
    assert again.json()["result"] == "duplicate"
    assert WebhookEvent.objects.count() == 1
    assert TicketOffer.objects.get(pk=order.offer_id).sold == 1


def test_the_same_payment_under_a_new_event_id_still_gives_one_ticket(order, post_webhook):
    first = session_event(order, event_id="evt_a")
    second = session_event(order, event_id="evt_b")
    post_webhook(first, sign(first))

    response = post_webhook(second, sign(second))

    assert response.status_code == 200
    assert TicketOffer.objects.get(pk=order.offer_id).sold == 1


def test_a_forged_signature_is_refused(order, post_webhook):
    payload = session_event(order)

    response = post_webhook(payload, sign(payload, secret="whsec_attacker"))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_signature"
    assert not WebhookEvent.objects.exists()
    order.refresh_from_db()
    assert order.state == "reserved"


def test_a_body_changed_after_signing_is_refused(order, post_webhook):
    payload = session_event(order)
    signature = sign(payload)
    tampered = session_event(order, amount=1)

    response = post_webhook(tampered, signature)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_signature"
    assert Order.objects.get(pk=order.pk).state == "reserved"


def test_a_stale_signature_is_refused(order, post_webhook):
    payload = session_event(order)

    response = post_webhook(payload, sign(payload, timestamp=int(time.time()) - 3600))

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "bad_signature",
        "message": "The signature does not match or is too old.",
        "fields": {},
    }
    assert Order.objects.get(pk=order.pk).state == "reserved"


def test_a_missing_signature_is_refused(order, post_webhook):
    response = post_webhook(session_event(order))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_signature"


def test_a_tampered_amount_gives_no_ticket_and_the_money_back(
    order, post_webhook, fake_stripe, django_capture_on_commit_callbacks
):
    payload = session_event(order, amount=100)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(payload, sign(payload))

    assert response.status_code == 200
    assert response.json()["result"] == "amount_mismatch"
    order.refresh_from_db()
    assert (order.state, order.failure_reason) == ("failed", "amount_mismatch")
    assert TicketOffer.objects.get(pk=order.offer_id).sold == 0
    assert fake_stripe.refunds[0]["amount"] == 100
    assert fake_stripe.refunds[0]["payment_intent"] == f"pi_{order.pk}"


def test_a_tampered_currency_gives_no_ticket(order, post_webhook):
    payload = session_event(order, currency="jpy")

    post_webhook(payload, sign(payload))

    assert Order.objects.get(pk=order.pk).state == "failed"
    assert TicketOffer.objects.get(pk=order.offer_id).sold == 0


def test_an_unpaid_completed_session_is_not_a_payment(order, post_webhook):
    payload = session_event(order, payment_status="unpaid")

    response = post_webhook(payload, sign(payload))

    assert response.json()["result"] == "ignored"
    assert Order.objects.get(pk=order.pk).state == "reserved"


def test_an_expired_session_fails_the_order_and_frees_the_seat(order, post_webhook):
    payload = session_event(order, type="checkout.session.expired", payment_status="unpaid")

    post_webhook(payload, sign(payload))

    assert Order.objects.get(pk=order.pk).state == "failed"


def test_a_payment_after_the_seat_went_to_someone_else_is_refunded_through_stripe(
    ticketed, client_for, fake_stripe, post_webhook, clock, django_capture_on_commit_callbacks
):
    space = ticketed(capacity=1)
    late = UserFactory()
    client_for(late).post(
        f"/api/v1/spaces/{space.pk}/tickets/checkout", {"provider": "stripe"}, format="json"
    )
    order = Order.objects.get(buyer=late)
    clock.advance(minutes=20)
    buy(space)
    payload = session_event(order)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(payload, sign(payload))

    assert response.json()["result"] == "sold_out"
    order.refresh_from_db()
    assert order.state == "refunded"
    refund = Refund.objects.get(order=order)
    assert (refund.state, refund.provider, refund.provider_ref) == ("done", "stripe", "re_1")
    assert fake_stripe.refunds[0]["idempotency_key"] == f"spaces-refund-{refund.pk}"
    assert TicketOffer.objects.get(pk=space.pk).sold == 1
