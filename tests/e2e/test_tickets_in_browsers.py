"""A ticketed Space in Chromium, end to end with the offline provider: the buyer sees the price
and Buy on the upcoming Space's row, buys, pays on the checkout page, finds the ticket under My
tickets and "You have a ticket" on the Space; the host sees the sale on the sales page. Every
page at desktop and phone width, and not one console error."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Follow
from scheduling.services import schedule as scheduling_schedule
from tests.e2e.conftest import screenshot
from tests.factories import UserFactory, make_followers
from ticketing import services
from ticketing.models import Order, TicketOffer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]


@pytest.fixture(scope="module", autouse=True)
def _offline_payments_on_the_server() -> Iterator[None]:
    """The server runs as in production (DEBUG off), where the offline provider is off unless
    named, as `make run` names it. Set before the module's server starts (it copies the
    environment); autouse module fixtures come before `base_url`."""
    previous = os.environ.get("PAYMENT_PROVIDERS")
    os.environ["PAYMENT_PROVIDERS"] = "offline"
    yield
    if previous is None:
        os.environ.pop("PAYMENT_PROVIDERS", None)
    else:
        os.environ["PAYMENT_PROVIDERS"] = previous


def shoot(page: Any, name: str) -> None:
    screenshot(page, name)
    screenshot(page, name, phone=True)


def test_a_buyer_buys_a_ticket_and_the_host_sees_the_sale(
    new_page: Any, console: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduling_schedule, "_kick_sweep", lambda: None)
    settings.SPACES_HOST_MIN_FOLLOWERS = 2
    settings.SPACES_TICKETED_MIN_FOLLOWERS = 2
    host = UserFactory(username="tixhost", display_name="Ticket Host")
    make_followers(host, 2)
    buyer = UserFactory(username="tixbuyer", display_name="Tia Buyer")
    Follow.objects.create(follower=buyer, followee=host)
    space = services.ticketed_space_create(
        host=host,
        title="Analytical engines, annotated",
        topics=["History"],
        scheduled_for=timezone.now() + timedelta(days=2),
        price=500,
        capacity=40,
    )

    page = new_page("buyer", buyer)
    page.goto("/spaces/scheduled/")
    badge = page.get_by_test_id("ticket-badge")
    badge.wait_for()
    assert badge.get_by_test_id("ticket-price").inner_text() == "$5.00"
    assert badge.get_by_test_id("ticket-seats").inner_text() == "40 of 40 seats left"
    shoot(page, "tickets-upcoming-row")

    badge.get_by_role("link", name="Buy a ticket for Analytical engines, annotated").click()
    page.wait_for_url(f"**/spaces/{space.pk}/tickets/")
    assert page.get_by_role("heading", name="Buy a ticket").is_visible()
    assert page.get_by_test_id("price").inner_text() == "$5.00"
    shoot(page, "tickets-buy")

    page.get_by_role("button", name="Buy (test payment)").click()
    order = Order.objects.get(buyer=buyer)
    page.wait_for_url(f"**/tickets/checkout/{order.pk}/")
    assert page.get_by_test_id("order-state").inner_text() == "Pending payment"
    assert page.get_by_role("button", name="Fail the payment (development)").count() == 0
    shoot(page, "tickets-checkout")

    page.get_by_role("button", name="Pay $5.00").click()
    page.wait_for_url("**/tickets/")
    row = page.get_by_test_id("ticket-row")
    assert row.count() == 1
    assert "Analytical engines, annotated" in row.inner_text()
    assert row.get_by_test_id("order-state").inner_text() == "Paid"
    assert page.get_by_text("Payment confirmed: you have a ticket.").is_visible()
    shoot(page, "tickets-mine")

    page.goto(f"/spaces/scheduled/{space.pk}/")
    assert page.get_by_test_id("ticket-held").is_visible()
    assert page.get_by_test_id("ticket-buy").count() == 0
    shoot(page, "tickets-space-holder")

    host_page = new_page("host", host)
    host_page.goto(f"/spaces/scheduled/{space.pk}/")
    host_page.get_by_test_id("ticket-sales").click()
    host_page.wait_for_url(f"**/spaces/{space.pk}/tickets/report/")
    assert host_page.get_by_test_id("sold").inner_text().startswith("1")
    assert host_page.get_by_test_id("gross").inner_text() == "$5.00"
    assert "Tia Buyer" in host_page.get_by_test_id("buyer-row").inner_text()
    shoot(host_page, "tickets-sales")

    assert TicketOffer.objects.get(pk=space.pk).sold == 1
    assert console.errors == []


def test_sold_out_and_live_ticketed_spaces_say_so_on_their_cards(
    new_page: Any, console: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduling_schedule, "_kick_sweep", lambda: None)
    settings.SPACES_HOST_MIN_FOLLOWERS = 2
    settings.SPACES_TICKETED_MIN_FOLLOWERS = 2
    settings.PAYMENT_PROVIDERS = ["offline"]
    host = UserFactory(username="tixhost2", display_name="Sold Out Host")
    make_followers(host, 2)
    viewer = UserFactory(username="tixviewer")
    holder = UserFactory(username="tixholder")
    for person in (viewer, holder):
        Follow.objects.create(follower=person, followee=host)
    soon = timezone.now() + timedelta(days=1)
    full = services.ticketed_space_create(
        host=host, title="Small room", scheduled_for=soon, price=1250, capacity=1
    )
    live = services.ticketed_space_create(
        host=host, title="On air, paid", scheduled_for=soon, price=300, capacity=10
    )
    for space in (full, live):
        order, _ = services.ticket_checkout_start(
            buyer=holder, space_id=space.pk, provider="offline"
        )
        services.order_offline_settle(buyer=holder, order_id=order.pk, outcome="confirm")
    scheduling_schedule.scheduled_space_start(actor=host, space_id=live.pk)

    page = new_page("viewer", viewer)
    page.goto(f"/spaces/scheduled/{full.pk}/")
    assert page.get_by_test_id("ticket-sold-out").inner_text() == "Sold out"
    assert page.get_by_test_id("ticket-price").inner_text() == "$12.50"
    assert page.get_by_test_id("ticket-buy").count() == 0
    shoot(page, "tickets-sold-out")

    page.goto("/spaces/")
    card = page.locator("article.live-card", has_text="On air, paid")
    assert card.get_by_test_id("ticket-price").inner_text() == "$3.00"
    assert "Ticket holders only" in card.inner_text()
    shoot(page, "tickets-live-card")

    held = new_page("holder", holder)
    held.goto("/spaces/")
    card = held.locator("article.live-card", has_text="On air, paid")
    assert card.get_by_test_id("ticket-held").is_visible()
    held.goto(f"/spaces/{live.pk}/")
    header = held.locator(".room-head")
    assert header.get_by_test_id("ticket-price").inner_text() == "$3.00"
    assert header.get_by_test_id("ticket-held").is_visible()
    shoot(held, "tickets-live-room-holder")

    # The viewer's orders in each state a buyer meets: pending, failed, refunded.
    later = soon + timedelta(hours=2)
    failing, pending, cancelled = (
        services.ticketed_space_create(
            host=host, title=title, scheduled_for=later, price=800, capacity=5
        )
        for title in ("Card declined", "Paying later", "Called off")
    )
    declined, _ = services.ticket_checkout_start(
        buyer=viewer, space_id=failing.pk, provider="offline"
    )
    services.order_fail(order_id=declined.pk, reason="declined")
    services.ticket_checkout_start(buyer=viewer, space_id=pending.pk, provider="offline")
    paid, _ = services.ticket_checkout_start(
        buyer=viewer, space_id=cancelled.pk, provider="offline"
    )
    services.order_offline_settle(buyer=viewer, order_id=paid.pk, outcome="confirm")
    scheduling_schedule.scheduled_space_cancel(actor=host, space_id=cancelled.pk)
    page.goto("/tickets/")
    states = page.get_by_test_id("order-state").all_inner_texts()
    assert sorted(states) == ["Payment failed", "Pending payment", "Refunded"]
    shoot(page, "tickets-mine-states")
    assert console.errors == []
