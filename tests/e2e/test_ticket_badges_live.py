"""A ticketed Space's card that the home page's script draws from the feed socket shows the same
badge as the server's cards: the price formatted by the server, and what this viewer can do
("Ticket holders only" for a follower without a ticket, "You have a ticket" for a holder). A free
Space's card drawn the same way has none. Desktop and phone widths, no console error."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from accounts.models import Follow
from scheduling.services import schedule as scheduling_schedule
from tests.e2e.conftest import screenshot
from tests.factories import UserFactory, make_followers
from ticketing import services

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]


def test_a_ticketed_space_going_live_gets_its_badge_on_the_card_the_feed_adds(
    new_page: Any, console: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduling_schedule, "_kick_sweep", lambda: None)
    settings.SPACES_TICKETED_MIN_FOLLOWERS = django_settings.SPACES_HOST_MIN_FOLLOWERS
    settings.PAYMENT_PROVIDERS = ["offline"]
    host = UserFactory(username="badgehost", display_name="Badge Host")
    make_followers(host, django_settings.SPACES_HOST_MIN_FOLLOWERS)
    free_host = UserFactory(username="freehost", display_name="Free Host")
    make_followers(free_host, django_settings.SPACES_HOST_MIN_FOLLOWERS, prefix="free-fan-")
    fan = UserFactory(username="badgefan", display_name="Fay Fan")
    holder = UserFactory(username="badgeholder", display_name="Hal Holder")
    for person in (fan, holder):
        Follow.objects.create(follower=person, followee=host)
    Follow.objects.create(follower=fan, followee=free_host)
    space = services.ticketed_space_create(
        host=host,
        title="Paid and about to start",
        topics=["Money"],
        scheduled_for=timezone.now() + timedelta(days=1),
        price=500,
        capacity=40,
    )
    order, _ = services.ticket_checkout_start(buyer=holder, space_id=space.pk, provider="offline")
    services.order_offline_settle(buyer=holder, order_id=order.pk, outcome="confirm")
    href = f"/spaces/{space.pk}/"

    fan_home = new_page("fan", fan)
    holder_home = new_page("holder", holder)
    for home in (fan_home, holder_home):
        home.goto("/")
        home.get_by_text("No Spaces are live").wait_for()

    # The host starts it from its page: the server's hint reaches both feeds.
    host_page = new_page("host", host)
    host_page.goto(f"/spaces/scheduled/{space.pk}/")
    host_page.get_by_role("button", name="Start now").click()
    host_page.wait_for_url(f"**{href}")

    card = fan_home.locator(f'#live-grid article.live-card[data-from-feed="{href}"]')
    card.wait_for()
    badge = card.get_by_test_id("ticket-badge")
    assert badge.get_by_test_id("ticket-price").inner_text() == "$5.00"
    assert badge.locator(".ticket-action").inner_text() == "Ticket holders only"
    # Only the action the feed named is left; live, the seats are not on show.
    assert badge.locator("[data-ticket-action]").count() == 1
    assert badge.get_by_test_id("ticket-seats").count() == 0
    assert badge.get_by_test_id("ticket-buy").count() == 0
    screenshot(fan_home, "ticket-badge-feed-card")
    screenshot(fan_home, "ticket-badge-feed-card", phone=True)

    held = holder_home.locator(f'#live-grid article.live-card[data-from-feed="{href}"]')
    held.wait_for()
    assert held.get_by_test_id("ticket-price").inner_text() == "$5.00"
    assert held.get_by_test_id("ticket-held").inner_text() == "You have a ticket"
    assert held.locator("[data-ticket-action]").count() == 1
    screenshot(holder_home, "ticket-badge-feed-card-holder")
    screenshot(holder_home, "ticket-badge-feed-card-holder", phone=True)

    # A free Space the feed adds next gets a card without a badge.
    free_page = new_page("free host", free_host)
    free_page.goto("/spaces/new/")
    free_page.get_by_label("What do you want to talk about?").fill("Free for all")
    free_page.get_by_role("button", name="Start your Space").click()
    free_page.wait_for_url("**/spaces/*/")
    free_card = fan_home.locator("#live-grid article.live-card", has_text="Free for all")
    free_card.wait_for()
    assert free_card.locator(".ticket-badge").count() == 0
    assert card.get_by_test_id("ticket-badge").count() == 1  # redrawn, still there
    screenshot(fan_home, "ticket-badge-feed-cards")
    screenshot(fan_home, "ticket-badge-feed-cards", phone=True)

    assert console.errors == []
