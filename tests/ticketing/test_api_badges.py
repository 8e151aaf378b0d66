"""The `ticket` badge in the API's other Space lists: `GET /api/v1/spaces` (live) and the
scheduled-Spaces API (`spaces/scheduled`, `spaces/upcoming`, `users/<name>/upcoming`, one
scheduled Space), as the following list and the feed's `bubbles` carry it
(test_badges.py): the badge as the viewer stands, null for a free Space, and a list of many
ticketed Spaces pinned to the queries of a list of one (the badges are one read per list)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from scheduling import services as scheduling_services
from spaces.models import Space
from tests.clock import Clock
from tests.factories import SpaceFactory
from tests.ticketing.conftest import buy, follower_of, live_ticketed

pytestmark = pytest.mark.django_db

API = "/api/v1"


def get_json(client: Any, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200, response.content
    return response.json()


def queries_for(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        get_json(client, url)
    return len(captured)


@pytest.fixture
def many_upcoming(settings: Any, ticketed: Callable[..., Space]) -> Callable[[int], list[Space]]:
    settings.SPACES_MAX_UPCOMING_PER_HOST = 100
    made: list[Space] = []

    def make(n: int) -> list[Space]:
        more = [ticketed(minutes=120 + 30 * (len(made) + i)) for i in range(n)]
        made.extend(more)
        return more

    return make


# --- GET /api/v1/spaces --------------------------------------------------------------------------


def test_the_live_list_gives_each_ticketed_space_its_badge_and_a_free_one_null(auth_client, user):
    paid = live_ticketed(price=1250, capacity=5)
    free = SpaceFactory()

    body = get_json(auth_client, f"{API}/spaces")

    tickets = {item["id"]: item["ticket"] for item in body["results"]}
    assert tickets[free.pk] is None
    assert tickets[paid.pk] == {
        "price": 1250,
        "currency": "usd",
        "price_display": "$12.50",
        "capacity": 5,
        "seats_left": 5,
        "seats_display": "",  # live: sales are over
        "action": "holders_only",
        "url": "",
    }
    # The rest of the row is the `Space` shape, unchanged.
    row = next(item for item in body["results"] if item["id"] == paid.pk)
    assert row["is_ticketed"] is True
    assert row["host"]["id"] == paid.host_id


def test_the_live_list_stays_one_read_for_many_ticketed_spaces(
    auth_client, django_assert_max_num_queries
):
    live_ticketed()
    one_row = queries_for(auth_client, f"{API}/spaces")
    for _ in range(24):
        live_ticketed()
    SpaceFactory()  # a free one among them

    with django_assert_max_num_queries(one_row):
        body = get_json(auth_client, f"{API}/spaces?limit=100")

    assert len(body["results"]) == 26
    badges = [item["ticket"] for item in body["results"] if item["ticket"] is not None]
    assert len(badges) == 25
    assert {badge["price_display"] for badge in badges} == {"$3.00"}


def test_a_live_list_without_ticketed_spaces_reads_no_offer(auth_client):
    SpaceFactory()

    with CaptureQueriesContext(connection) as captured:
        body = get_json(auth_client, f"{API}/spaces")

    assert [item["ticket"] for item in body["results"]] == [None]
    assert not [q for q in captured if "ticketing_ticketoffer" in q["sql"]]


# --- The scheduled-Spaces API ------------------------------------------------------------------


def test_the_upcoming_list_of_people_you_follow_says_buy_or_held(
    client_for, seller, ticketed, schedule_free
):
    viewer = follower_of(seller)
    on_sale = ticketed(price=1999, capacity=3)
    held = ticketed(minutes=180)
    free = schedule_free()
    buy(held, viewer)

    body = get_json(client_for(viewer), f"{API}/spaces/upcoming")

    tickets = {item["id"]: item["ticket"] for item in body["results"]}
    assert tickets[free.pk] is None
    assert tickets[on_sale.pk] == {
        "price": 1999,
        "currency": "usd",
        "price_display": "$19.99",
        "capacity": 3,
        "seats_left": 3,
        "seats_display": "3 of 3 seats left",
        "action": "buy",
        "url": f"/spaces/{on_sale.pk}/tickets/",
    }
    assert (tickets[held.pk]["action"], tickets[held.pk]["seats_left"]) == ("held", 2)


def test_the_hosts_own_upcoming_list_leads_each_ticketed_space_to_its_sales(
    client_for, seller, ticketed
):
    space = ticketed()

    body = get_json(client_for(seller), f"{API}/spaces/scheduled")

    [row] = body["results"]
    assert row["id"] == space.pk
    assert (row["ticket"]["action"], row["ticket"]["url"]) == (
        "sales",
        f"/spaces/{space.pk}/tickets/report/",
    )


def test_one_scheduled_space_and_a_reminder_answer_carry_the_badge(client_for, seller, ticketed):
    space = ticketed(price=500)
    client = client_for(follower_of(seller))

    detail = get_json(client, f"{API}/spaces/scheduled/{space.pk}")
    reminder = client.put(f"{API}/spaces/{space.pk}/reminder")

    assert (detail["ticket"]["action"], detail["ticket"]["price_display"]) == ("buy", "$5.00")
    assert reminder.status_code == 200
    assert reminder.json()["space"]["ticket"] == detail["ticket"]


@pytest.mark.parametrize(
    "url",
    [f"{API}/spaces/upcoming", f"{API}/users/seller/upcoming"],
    ids=["following", "of-user"],
)
def test_the_upcoming_lists_stay_one_read_for_many_ticketed_spaces(
    url, client_for, seller, many_upcoming, django_assert_max_num_queries
):
    viewer = follower_of(seller)
    client = client_for(viewer)
    first = many_upcoming(1)
    one_row = queries_for(client, url)
    rows = first + many_upcoming(29)
    for space in rows[:3]:
        buy(space, viewer)

    with django_assert_max_num_queries(one_row):
        body = get_json(client, f"{url}?page_size=100")

    actions = [item["ticket"]["action"] for item in body["results"]]
    assert len(actions) == 30
    assert actions.count("held") == 3
    assert actions.count("buy") == 27


def test_the_hosts_own_list_stays_one_read_for_many_ticketed_spaces(
    client_for, seller, many_upcoming, django_assert_max_num_queries
):
    client = client_for(seller)
    many_upcoming(1)
    one_row = queries_for(client, f"{API}/spaces/scheduled")
    many_upcoming(29)

    with django_assert_max_num_queries(one_row):
        body = get_json(client, f"{API}/spaces/scheduled?page_size=100")

    assert [item["ticket"]["action"] for item in body["results"]] == ["sales"] * 30


@pytest.fixture
def schedule_free(seller: User, clock: Clock) -> Callable[[], Space]:
    def make() -> Space:
        return scheduling_services.scheduled_space_create(
            host=seller, title="Free talk", scheduled_for=clock.now + timedelta(minutes=150)
        )

    return make
