"""Fixtures for ticketing: a seller with enough followers, a ticketed Space, buyers who pay
through the offline provider, and Stripe webhooks signed locally with the test secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from accounts.models import Follow, User
from scheduling.services import schedule as scheduling_schedule
from spaces.models import Space
from tests.clock import Clock
from tests.factories import SpaceFactory, UserFactory, make_followers
from ticketing import services
from ticketing.models import Order, TicketOffer

WEBHOOK_SECRET = "whsec_test_secret"


@pytest.fixture(autouse=True)
def _ticketing_settings(settings: Any) -> None:
    settings.SPACES_HOST_MIN_FOLLOWERS = 3
    settings.SPACES_TICKETED_MIN_FOLLOWERS = 5
    settings.PAYMENT_PROVIDERS = ["offline", "stripe"]
    settings.STRIPE_SECRET_KEY = "sk_test_dummy"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.TICKET_PRICE_MIN = 100
    settings.TICKET_PRICE_MAX = 99900
    settings.TICKET_CURRENCY = "usd"
    settings.TICKET_RESERVATION_MINUTES = 15
    settings.PLATFORM_FEE_BPS = 1000


@pytest.fixture(autouse=True)
def _no_sweep_kicks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scheduling queues a sweep after commit; not sent to a broker here."""
    monkeypatch.setattr(scheduling_schedule, "_kick_sweep", lambda: None)


@pytest.fixture
def seller(db: None) -> User:
    seller = UserFactory(username="seller", display_name="The Seller")
    make_followers(seller, 5)
    return seller


@pytest.fixture
def ticketed(seller: User, clock: Clock) -> Callable[..., Space]:
    def make(*, price: int = 1999, capacity: int = 3, minutes: float = 120, **kwargs: Any) -> Space:
        return services.ticketed_space_create(
            host=seller,
            title="Paid talk",
            scheduled_for=clock.now + timedelta(minutes=minutes),
            price=price,
            capacity=capacity,
            **kwargs,
        )

    return make


@pytest.fixture
def space(ticketed: Callable[..., Space]) -> Space:
    return ticketed()


def buy(space: Space, who: User | None = None) -> Order:
    """Reserve and pay through the offline provider, as the checkout page does."""
    who = who or UserFactory()
    order, _ = services.ticket_checkout_start(buyer=who, space_id=space.pk, provider="offline")
    return services.order_offline_settle(buyer=who, order_id=order.pk, outcome="confirm")


def sign(payload: str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header: t=<ts>,v1=<HMAC-SHA256(secret, "<ts>.<payload>")>."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def session_event(
    order: Order,
    *,
    event_id: str = "evt_1",
    type: str = "checkout.session.completed",
    amount: int | None = None,
    currency: str | None = None,
    payment_status: str = "paid",
) -> str:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": type,
            "data": {
                "object": {
                    "id": order.checkout_ref or "cs_test_1",
                    "object": "checkout.session",
                    "client_reference_id": str(order.pk),
                    "metadata": {"order_id": str(order.pk)},
                    "amount_total": order.amount if amount is None else amount,
                    "currency": currency or order.currency,
                    "payment_intent": f"pi_{order.pk}",
                    "payment_status": payment_status,
                }
            },
        }
    )


class FakeStripe:
    """Stands in for Stripe's servers only: what Session.create and Refund.create were asked."""

    def __init__(self) -> None:
        self.sessions: list[dict[str, Any]] = []
        self.refunds: list[dict[str, Any]] = []
        self.fail_refunds = False

    def session_create(self, **params: Any) -> Any:
        self.sessions.append(params)
        n = len(self.sessions)
        return type("S", (), {"id": f"cs_test_{n}", "url": f"https://checkout.test/{n}"})()

    def refund_create(self, **params: Any) -> Any:
        import stripe

        if self.fail_refunds:
            raise stripe.APIConnectionError("network down")
        self.refunds.append(params)
        return type("R", (), {"id": f"re_{len(self.refunds)}"})()


@pytest.fixture
def fake_stripe(monkeypatch: pytest.MonkeyPatch) -> FakeStripe:
    import stripe

    fake = FakeStripe()
    monkeypatch.setattr(stripe.checkout.Session, "create", fake.session_create)
    monkeypatch.setattr(stripe.Refund, "create", fake.refund_create)
    return fake


@pytest.fixture
def post_webhook(api_client: Any) -> Callable[..., Any]:
    def post(payload: str, signature: str | None = None) -> Any:
        headers = {}
        if signature is not None:
            headers["HTTP_STRIPE_SIGNATURE"] = signature
        return api_client.post(
            "/api/v1/payments/stripe/webhook",
            data=payload,
            content_type="application/json",
            **headers,
        )

    return post


def live_ticketed(host: User | None = None, *, price: int = 300, capacity: int = 10) -> Space:
    """A live Space that sold tickets before it started (its sales are over)."""
    space = SpaceFactory(host=host or UserFactory(), is_ticketed=True, title="On air, paid")
    TicketOffer.objects.create(space=space, price=price, currency="usd", capacity=capacity)
    return space


def follower_of(host: User, **kwargs: Any) -> User:
    """A new user (UserFactory `kwargs`) who follows `host`."""
    user = UserFactory(**kwargs)
    Follow.objects.create(follower=user, followee=host)
    return user


def html_of(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()
