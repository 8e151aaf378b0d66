"""Ticket seats under concurrency, against real PostgreSQL (pretix-style: prove the race, then
the lock that stops it).

Twenty buyers reserve the last seat of a ticketed Space at once, each in its own thread with
its own connection and transaction, released together by a barrier; every reservation that
succeeds is then paid."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import stripe
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import User
from scheduling import services as scheduling_services
from scheduling.services import schedule as scheduling_schedule
from spaces import services as spaces_services
from spaces.models import Space
from spaces_project.errors import Forbidden
from tests.concurrency.test_stage_capacity import run_together
from tests.factories import UserFactory, make_followers
from tests.ticketing.conftest import session_event, sign
from ticketing import services
from ticketing.models import Order, TicketOffer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BUYERS = 20


@pytest.fixture(autouse=True)
def _fresh_pool() -> None:
    """Every buyer needs its own pooled connection at the same moment: connections that
    earlier tests left checked out on other threads (socket tests) must not count."""
    close_pool = getattr(connection, "close_pool", None)
    if close_pool is not None:
        close_pool()


@pytest.fixture(autouse=True)
def _rules(settings: Any) -> None:
    settings.SPACES_HOST_MIN_FOLLOWERS = 1
    settings.SPACES_TICKETED_MIN_FOLLOWERS = 1
    settings.PAYMENT_PROVIDERS = ["offline"]


def one_seat_left() -> tuple[Space, list[User]]:
    host = UserFactory()
    make_followers(host, 1)
    space = services.ticketed_space_create(
        host=host,
        title="Small room",
        scheduled_for=timezone.now() + timedelta(hours=1),
        price=500,
        capacity=3,
    )
    for _ in range(2):
        buyer = UserFactory()
        order, _ = services.ticket_reserve(buyer=buyer, space_id=space.pk, provider="offline")
        services.order_offline_settle(buyer=buyer, order_id=order.pk, outcome="confirm")
    return space, [UserFactory() for _ in range(BUYERS)]


def purchases(space: Space, buyers: list[User]) -> list[Callable[[], Any]]:
    def purchase(buyer: User) -> str:
        order, _ = services.ticket_reserve(buyer=buyer, space_id=space.pk, provider="offline")
        return services.order_offline_settle(
            buyer=buyer, order_id=order.pk, outcome="confirm"
        ).state

    return [lambda b=b: purchase(b) for b in buyers]


def watch_the_check(monkeypatch: pytest.MonkeyPatch, pause: float) -> list[int]:
    """Record every reservation that found a free seat and hold it there for `pause`
    seconds before it writes: the window in which a race would happen."""
    passed: list[int] = []
    check = services.ensure_seat_free

    def checked_then_paused(offer: TicketOffer, *, now: Any) -> None:
        check(offer, now=now)
        passed.append(threading.get_ident())
        time.sleep(pause)

    monkeypatch.setattr(services, "ensure_seat_free", checked_then_paused)
    return passed


def test_twenty_concurrent_buyers_for_the_last_seat_get_exactly_one_ticket(monkeypatch):
    space, buyers = one_seat_left()
    passed = watch_the_check(monkeypatch, pause=0.05)

    results = run_together(purchases(space, buyers))

    assert Counter(kind for kind, _ in results) == {"ok": 1, "conflict": BUYERS - 1}, results
    assert {d for k, d in results if k == "conflict"} == {"sold_out"}
    assert [d for k, d in results if k == "ok"] == ["paid"]
    assert len(passed) == 1
    offer = TicketOffer.objects.get(pk=space.pk)
    assert offer.sold == offer.capacity == 3
    assert Order.objects.filter(offer=offer, state="paid").count() == 3


def test_control_without_the_lock_several_buyers_pass_the_check_and_only_the_constraint_holds(
    monkeypatch,
):
    """The same purchases with the offer lock switched off: several reservations read the
    same free seat and are written (the race is real); paying them, only the CheckConstraint
    `sold <= capacity` stops the oversell, with IntegrityErrors instead of clean 409s."""
    space, buyers = one_seat_left()
    monkeypatch.setattr(services, "lock_offer", lambda qs: qs)
    passed = watch_the_check(monkeypatch, pause=0.3)

    results = run_together(purchases(space, buyers))

    assert len(passed) > 1, results
    reserved = Order.objects.filter(offer_id=space.pk).exclude(state="failed").count() - 2
    assert reserved > 1, results
    kinds = Counter(kind for kind, _ in results)
    assert kinds["ok"] >= 1, results
    assert kinds["integrity"] >= 1, results
    assert "offer_not_oversold" in next(d for k, d in results if k == "integrity")
    offer = TicketOffer.objects.get(pk=space.pk)
    assert offer.sold == offer.capacity == 3


def test_a_small_space_under_a_rush_with_forged_and_replayed_webhooks_admits_exactly_the_payers(
    monkeypatch, settings
):
    """Twenty buyers rush five seats through Stripe (its servers replaced at the edge); the
    webhooks then arrive at once, each real one twice, mixed with forged ones. The seats sold
    never exceed the capacity, every paid buyer can join, nobody else can."""
    settings.PAYMENT_PROVIDERS = ["stripe"]
    settings.STRIPE_SECRET_KEY = "sk_test_dummy"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_secret"
    monkeypatch.setattr(
        stripe.checkout.Session,
        "create",
        lambda **p: type("S", (), {"id": f"cs_{p['client_reference_id']}", "url": "https://x"}),
    )
    monkeypatch.setattr(scheduling_schedule, "_kick_sweep", lambda: None)
    host = UserFactory()
    make_followers(host, 1)
    space = services.ticketed_space_create(
        host=host,
        title="Five seats",
        scheduled_for=timezone.now() + timedelta(hours=1),
        price=700,
        capacity=5,
    )
    buyers = [UserFactory() for _ in range(BUYERS)]

    reserved = run_together(
        [
            lambda b=b: services.ticket_checkout_start(
                buyer=b, space_id=space.pk, provider="stripe"
            )[0]
            for b in buyers
        ]
    )
    assert Counter(kind for kind, _ in reserved) == {"ok": 5, "conflict": BUYERS - 5}, reserved
    orders = [order for kind, order in reserved if kind == "ok"]

    def deliver(payload: str, signature: str) -> int:
        return (
            Client()
            .post(
                "/api/v1/payments/stripe/webhook",
                data=payload,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=signature,
            )
            .status_code
        )

    calls: list[Callable[[], Any]] = []
    for order in orders:
        payload = session_event(order, event_id=f"evt_{order.pk}")
        calls += [lambda p=payload: deliver(p, sign(p)) for _ in range(2)]
    for n, order in enumerate(orders):
        forged = session_event(order, event_id=f"evt_forged_{n}")
        calls.append(lambda p=forged: deliver(p, sign(p, secret="whsec_attacker")))
    delivered = run_together(calls)

    statuses = Counter(status for _, status in delivered)
    assert statuses == {200: 10, 400: 5}, delivered
    offer = TicketOffer.objects.get(pk=space.pk)
    assert offer.sold == 5
    assert Order.objects.filter(offer=offer, state="paid").count() == 5
    scheduling_services.scheduled_space_start(actor=host, space_id=space.pk)
    payers = {order.buyer_id for order in orders}
    for buyer in buyers:
        if buyer.pk in payers:
            spaces_services.space_join(user=buyer, space_id=space.pk)
        else:
            with pytest.raises(Forbidden):
                spaces_services.space_join(user=buyer, space_id=space.pk)
