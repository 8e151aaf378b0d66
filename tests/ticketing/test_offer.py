"""Creating and changing a ticketed Space: who may sell, bounds, the sales window, and price
and capacity never below what was sold."""

from __future__ import annotations

from datetime import timedelta

import pytest

from spaces.models import Space
from tests.factories import UserFactory, make_followers
from tests.ticketing.conftest import buy
from ticketing import services
from ticketing.models import TicketOffer

pytestmark = pytest.mark.django_db


def body(clock, **over):
    data = {
        "title": "Paid talk",
        "scheduled_for": (clock.now + timedelta(hours=2)).isoformat(),
        "price": 1999,
        "capacity": 50,
    }
    data.update(over)
    return data


def test_a_host_with_enough_followers_schedules_a_ticketed_space(client_for, seller, clock):
    response = client_for(seller).post("/api/v1/spaces/ticketed", body(clock), format="json")

    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["price"], data["currency"], data["capacity"]) == (1999, "usd", 50)
    assert data["available"] == 50
    assert data["on_sale"] is True
    space = Space.objects.get(pk=data["space_id"])
    assert space.is_ticketed
    assert space.state == Space.State.SCHEDULED
    assert TicketOffer.objects.get(pk=space.pk).sold == 0


def test_a_ticketed_space_is_recorded_unless_the_host_says_otherwise(client_for, seller, clock):
    client = client_for(seller)
    default = client.post("/api/v1/spaces/ticketed", body(clock), format="json").json()
    unrecorded = client.post(
        "/api/v1/spaces/ticketed",
        body(clock, title="Off the record", recording_enabled=False, clips_enabled=False),
        format="json",
    ).json()

    recorded = Space.objects.get(pk=default["space_id"])
    assert (recorded.recording_enabled, recorded.clips_enabled) == (True, True)
    private = Space.objects.get(pk=unrecorded["space_id"])
    assert (private.recording_enabled, private.clips_enabled) == (False, False)


def test_a_double_submit_through_the_api_schedules_one_ticketed_space(client_for, seller, clock):
    client = client_for(seller)
    first = client.post("/api/v1/spaces/ticketed", body(clock), format="json")
    again = client.post("/api/v1/spaces/ticketed", body(clock), format="json")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["space_id"] == first.json()["space_id"]
    assert Space.objects.filter(host=seller).count() == 1
    assert TicketOffer.objects.filter(space__host=seller).count() == 1


def test_a_host_below_the_ticketed_follower_minimum_cannot_sell(client_for, clock, settings):
    settings.SPACES_TICKETED_MIN_FOLLOWERS = 10
    host = UserFactory()
    make_followers(host, 9)

    response = client_for(host).post("/api/v1/spaces/ticketed", body(clock), format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_enough_followers_to_sell"
    assert not Space.objects.filter(host=host).exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("price", 99), ("price", 99901), ("capacity", 0), ("currency", "eur"), ("price", "12")],
)
def test_out_of_bounds_offers_are_refused(client_for, seller, clock, field, value):
    response = client_for(seller).post(
        "/api/v1/spaces/ticketed", body(clock, **{field: value}), format="json"
    )

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Space.objects.filter(host=seller).exists()


def test_sales_cannot_close_after_the_start(client_for, seller, clock):
    late = (clock.now + timedelta(hours=3)).isoformat()
    response = client_for(seller).post(
        "/api/v1/spaces/ticketed", body(clock, sales_close_at=late), format="json"
    )

    assert response.status_code == 400
    assert "sales_close_at" in response.json()["error"]["fields"]


def test_the_price_cannot_go_below_what_buyers_paid(client_for, seller, space):
    buy(space)
    client = client_for(seller)

    lower = client.patch(f"/api/v1/spaces/{space.pk}/tickets", {"price": 999}, format="json")
    higher = client.patch(f"/api/v1/spaces/{space.pk}/tickets", {"price": 2999}, format="json")

    assert lower.status_code == 409
    assert lower.json()["error"]["code"] == "price_below_sold"
    assert higher.status_code == 200
    assert higher.json()["price"] == 2999


def test_the_price_can_go_down_while_nothing_is_sold(client_for, seller, space):
    response = client_for(seller).patch(
        f"/api/v1/spaces/{space.pk}/tickets", {"price": 500}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["price"] == 500


def test_capacity_cannot_go_below_seats_taken(client_for, seller, space):
    buy(space)
    services.ticket_reserve(buyer=UserFactory(), space_id=space.pk, provider="offline")
    client = client_for(seller)

    below = client.patch(f"/api/v1/spaces/{space.pk}/tickets", {"capacity": 1}, format="json")
    equal = client.patch(f"/api/v1/spaces/{space.pk}/tickets", {"capacity": 2}, format="json")

    assert below.status_code == 409
    assert below.json()["error"]["code"] == "capacity_below_sold"
    assert equal.status_code == 200
    assert equal.json()["capacity"] == 2


def test_only_the_host_changes_the_offer(client_for, space):
    response = client_for(UserFactory()).patch(
        f"/api/v1/spaces/{space.pk}/tickets", {"capacity": 10}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_host"


def test_a_space_that_sells_nothing_has_no_tickets(client_for, seller):
    response = client_for(seller).get("/api/v1/spaces/999999/tickets")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "tickets_not_found"
