"""The price badge of a list's ticketed Spaces, read at once: what each says for the viewer
(price for people, seats left, Buy / "You have a ticket" / "Sold out" / Sales), that a whole list
costs one query (none when nothing is ticketed), the pages that draw many rows pinned to a number
of queries that does not grow with them, and the same badge for the cards the home page's script
draws from the feed (the `ticket` of `GET /api/v1/spaces/following` and of the feed's `bubbles`,
blank in the card's <template>)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Follow
from spaces import hooks as spaces_hooks
from spaces.models import Space
from tests.factories import SpaceFactory, UserFactory
from tests.ticketing.conftest import buy, follower_of, html_of, live_ticketed
from ticketing import services
from ticketing.models import Order, TicketOffer
from ticketing.selectors import ticket_badges

pytestmark = pytest.mark.django_db

BADGE = 'data-testid="ticket-badge"'


def queries_for(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        html_of(client, url)
    return len(captured)


# --- The selector ------------------------------------------------------------------------------


def test_a_list_of_badges_costs_one_query_and_says_what_the_viewer_can_do(
    seller, ticketed, django_assert_num_queries
):
    viewer = follower_of(seller)
    on_sale = ticketed(price=1999, capacity=3)
    held = ticketed(minutes=180)
    reserved = ticketed(minutes=240)
    full = ticketed(minutes=300, capacity=1)
    live = live_ticketed(price=1250)
    free = SpaceFactory()
    buy(held, viewer)
    buy(full)
    services.ticket_checkout_start(buyer=viewer, space_id=reserved.pk, provider="offline")
    spaces = [on_sale, held, reserved, full, live, free]

    with django_assert_num_queries(1):
        badges = ticket_badges(viewer=viewer, spaces=spaces)

    assert set(badges) == {on_sale.pk, held.pk, reserved.pk, full.pk, live.pk}
    buy_badge = badges[on_sale.pk]
    assert (buy_badge.price, buy_badge.currency, buy_badge.price_display) == (1999, "usd", "$19.99")
    assert (buy_badge.capacity, buy_badge.seats_left) == (3, 3)
    assert buy_badge.seats_display == "3 of 3 seats left"
    assert (buy_badge.action, buy_badge.url) == ("buy", f"/spaces/{on_sale.pk}/tickets/")
    assert (badges[held.pk].action, badges[held.pk].url) == ("held", "")
    assert badges[held.pk].seats_display == "2 of 3 seats left"
    assert badges[reserved.pk].action == "finish_paying"
    assert badges[reserved.pk].url == f"/spaces/{reserved.pk}/tickets/"
    assert badges[reserved.pk].seats_left == 2  # the reservation holds a seat
    assert (badges[full.pk].action, badges[full.pk].seats_display) == ("sold_out", "")
    assert (badges[live.pk].action, badges[live.pk].price_display) == ("holders_only", "$12.50")
    assert badges[live.pk].seats_display == ""  # live: sales are over


def test_the_host_is_sent_to_the_sales_and_a_signed_out_reader_to_buy(
    seller, space, django_assert_num_queries
):
    mine = ticket_badges(viewer=seller, spaces=[space])[space.pk]
    with django_assert_num_queries(1):
        anyone = ticket_badges(viewer=None, spaces=[space])[space.pk]

    assert (mine.action, mine.url) == ("sales", f"/spaces/{space.pk}/tickets/report/")
    assert (anyone.action, anyone.url) == ("buy", f"/spaces/{space.pk}/tickets/")


def test_the_latest_order_decides_as_on_the_buy_page(seller, space, settings):
    """A failed try is not a ticket (Buy again); a ticket bought after it is."""
    settings.DEBUG = True
    viewer = follower_of(seller)
    order, _ = services.ticket_checkout_start(buyer=viewer, space_id=space.pk, provider="offline")
    services.order_offline_settle(buyer=viewer, order_id=order.pk, outcome="fail")
    assert ticket_badges(viewer=viewer, spaces=[space])[space.pk].action == "buy"

    buy(space, viewer)

    assert ticket_badges(viewer=viewer, spaces=[space])[space.pk].action == "held"


def test_attaching_badges_to_free_spaces_costs_nothing(django_assert_num_queries):
    spaces = [SpaceFactory(), SpaceFactory()]

    with django_assert_num_queries(0):
        spaces_hooks.ticket_badges_attach(viewer=None, spaces=spaces)

    assert [space.ticket_badge for space in spaces] == [None, None]  # type: ignore[attr-defined]


def test_attaching_sets_each_spaces_badge_from_one_read(
    seller, ticketed, django_assert_num_queries
):
    paid = [ticketed(minutes=120 + 60 * i) for i in range(4)]
    free = SpaceFactory()

    with django_assert_num_queries(1):
        spaces_hooks.ticket_badges_attach(viewer=seller, spaces=[*paid, free])

    assert [s.ticket_badge.action for s in paid] == ["sales"] * 4  # type: ignore[attr-defined]
    assert free.ticket_badge is None  # type: ignore[attr-defined]


# --- Pages with many ticketed rows: a fixed number of queries ------------------------------------


@pytest.fixture
def many_upcoming(settings: Any, ticketed: Callable[..., Space]) -> Callable[[int], list[Space]]:
    settings.SPACES_MAX_UPCOMING_PER_HOST = 100

    made: list[Space] = []

    def make(n: int) -> list[Space]:
        more = [ticketed(minutes=120 + 30 * (len(made) + i)) for i in range(n)]
        made.extend(more)
        return more

    return make


def test_the_upcoming_list_reads_its_badges_at_once(
    client, seller, many_upcoming, django_assert_max_num_queries
):
    viewer = follower_of(seller)
    first = many_upcoming(1)
    client.force_login(viewer)
    one_row = queries_for(client, "/spaces/scheduled/")

    rows = first + many_upcoming(49)
    for space in rows[:3]:
        buy(space, viewer)
    with django_assert_max_num_queries(one_row):
        html = html_of(client, "/spaces/scheduled/")

    assert html.count(BADGE) == 50
    assert html.count('data-testid="ticket-held"') == 3
    assert html.count('data-testid="ticket-buy"') == 47


def test_the_hosts_own_upcoming_list_links_each_row_to_its_sales(
    client, seller, many_upcoming, django_assert_max_num_queries
):
    many_upcoming(1)
    client.force_login(seller)
    one_row = queries_for(client, "/spaces/scheduled/")

    many_upcoming(29)
    with django_assert_max_num_queries(one_row):
        html = html_of(client, "/spaces/scheduled/")

    assert html.count('data-testid="ticket-sales"') == 30


def test_the_profile_reads_its_badges_at_once(
    client, seller, many_upcoming, django_assert_max_num_queries
):
    client.force_login(follower_of(seller))
    many_upcoming(1)
    one_row = queries_for(client, f"/u/{seller.username}/")

    many_upcoming(9)
    with django_assert_max_num_queries(one_row):
        html = html_of(client, f"/u/{seller.username}/")

    assert html.count(BADGE) == 10


def test_the_home_page_reads_the_badges_of_its_cards_and_rows_at_once(
    client, seller, many_upcoming, django_assert_max_num_queries
):
    viewer = follower_of(seller)
    client.force_login(viewer)
    live_ticketed()
    many_upcoming(1)
    one_each = queries_for(client, "/")

    for _ in range(14):
        live_ticketed()
    many_upcoming(9)
    with django_assert_max_num_queries(one_each):
        html = html_of(client, "/")

    # 15 live cards, the home page's 5 upcoming rows, and the blank card's badge.
    assert html.count(BADGE) == 15 + 5 + 1
    assert html.count("Ticket holders only") == 15 + 1


def test_the_live_list_reads_its_badges_at_once(client, django_assert_max_num_queries):
    viewer = UserFactory()
    client.force_login(viewer)
    live_ticketed()
    one_card = queries_for(client, "/spaces/")

    for _ in range(19):
        live_ticketed()
    with django_assert_max_num_queries(one_card):
        html = html_of(client, "/spaces/")

    assert html.count(BADGE) == 20


def test_a_page_without_ticketed_spaces_reads_no_offer(client, seller, settings):
    settings.SPACES_MAX_UPCOMING_PER_HOST = 100
    client.force_login(follower_of(seller))
    SpaceFactory(host=seller)

    with CaptureQueriesContext(connection) as captured:
        html_of(client, "/")

    assert not [q for q in captured if "ticketing_ticketoffer" in q["sql"]]


# --- The cards the script draws ------------------------------------------------------------------


def test_the_blank_card_carries_a_blank_badge_with_every_action(client, seller):
    client.force_login(follower_of(seller))
    SpaceFactory(host=seller, title="Free and live")

    html = html_of(client, "/")

    blank = re.search(r'<template id="live-card-template">(.*?)</template>', html, re.S)
    assert blank is not None
    badge = blank.group(1)
    assert BADGE in badge
    assert 'data-slot="ticket-price"' in badge
    assert 'data-slot="ticket-seats"' in badge
    actions = re.findall(r'data-ticket-action="(\w+)"', badge)
    assert actions == ["sales", "held", "finish_paying", "buy", "sold_out", "holders_only"]
    # The free live card drawn by the server has none.
    assert html.count(BADGE) == 1


def test_the_following_list_gives_each_card_its_badge_formatted_for_people(auth_client, user):
    host, other, free_host = UserFactory(), UserFactory(), UserFactory()
    for followed in (host, other, free_host):
        Follow.objects.create(follower=user, followee=followed)
    held = live_ticketed(host, price=1999, capacity=5)
    TicketOffer.objects.filter(pk=held.pk).update(sold=1)
    live_ticketed(other)
    free = SpaceFactory(host=free_host)
    Order.objects.create(
        offer_id=held.pk,
        buyer=user,
        state=Order.State.PAID,
        amount=1999,
        currency="usd",
        provider="offline",
        expires_at=held.started_at,
        paid_at=held.started_at,
    )

    body = auth_client.get("/api/v1/spaces/following").json()

    tickets = {item["space"]["id"]: item["ticket"] for item in body["results"]}
    assert tickets[free.pk] is None
    assert tickets[held.pk] == {
        "price": 1999,
        "currency": "usd",
        "price_display": "$19.99",
        "capacity": 5,
        "seats_left": 4,
        "seats_display": "",
        "action": "held",
        "url": "",
    }
    others = [t for pk, t in tickets.items() if pk not in (held.pk, free.pk)]
    assert [t["action"] for t in others] == ["holders_only"]


def test_the_following_list_stays_one_read_for_many_ticketed_cards(
    auth_client, user, django_assert_max_num_queries
):
    def followed_live() -> Space:
        host = UserFactory()
        Follow.objects.create(follower=user, followee=host)
        return live_ticketed(host)

    followed_live()
    with CaptureQueriesContext(connection) as one:
        auth_client.get("/api/v1/spaces/following")
    for _ in range(9):
        followed_live()

    with django_assert_max_num_queries(len(one)):
        body = auth_client.get("/api/v1/spaces/following").json()

    assert len(body["results"]) == 10
    assert all(item["ticket"]["price_display"] == "$3.00" for item in body["results"])
