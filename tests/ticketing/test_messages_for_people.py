"""Refusals of ticketing as people read them, on the site's schedule form and in the API's
`message`: money as money ("Between $1.00 and $999.00."), never minor units or a raw code; the
stable `code`s stay as they were."""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from typing import Any

import pytest
from django.test import Client

from spaces.models import Space
from spaces_project.errors import ValidationFailed
from tests.factories import UserFactory, make_followers
from tests.helpers import assert_error
from ticketing import services

pytestmark = pytest.mark.django_db

# A snake_case word ("minor_units", "not_host") or "minor units": what a person must not read.
RAW = re.compile(r"\b[a-z]+_[a-z_]+\b|minor units")


def readable(error: dict[str, Any]) -> list[str]:
    """Every text of an API error a person may be shown: the message and each field's."""
    texts = [error["message"]]
    for messages in error["fields"].values():
        texts += messages
    for text in texts:
        assert not RAW.search(text), text
    return texts


def ticketed_body(clock: Any, **over: Any) -> dict[str, Any]:
    return {
        "title": "Paid talk",
        "scheduled_for": (clock.now + timedelta(hours=2)).isoformat(),
        "price": 1999,
        "capacity": 50,
        **over,
    }


# --- The schedule form ---------------------------------------------------------------------


@pytest.mark.parametrize("price", ["0.50", "1000.00"])
def test_the_schedule_forms_price_bounds_read_as_money_beside_the_price(
    client, seller, clock, price
):
    client.force_login(seller)
    response = client.post(
        "/spaces/scheduled/new/",
        {
            "title": "Evening chat",
            "scheduled_for": (clock.now + timedelta(days=1))
            .astimezone(UTC)
            .strftime("%Y-%m-%dT%H:%M"),
            "speaking_policy": "everyone",
            "sell_tickets": "on",
            "price": price,
            "currency": "usd",
            "capacity": "100",
        },
    )

    assert response.status_code == 200
    assert response.context["form"].errors["price"] == ["Between $1.00 and $999.00."]
    html = response.content.decode()
    assert "Between $1.00 and $999.00." in html
    assert "minor units" not in html
    assert "99900" not in html
    assert not Space.objects.filter(title="Evening chat").exists()


# --- The API -------------------------------------------------------------------------------


@pytest.mark.parametrize("price", [99, 99901])
def test_an_api_price_out_of_bounds_is_worded_as_money(client_for, seller, clock, price):
    response = client_for(seller).post(
        "/api/v1/spaces/ticketed", ticketed_body(clock, price=price), format="json"
    )

    error = assert_error(response, 400, "invalid")
    readable(error)
    assert error["fields"]["price"] == ["Between $1.00 and $999.00."]
    assert error["message"] == "A ticket costs between $1.00 and $999.00."


def test_changing_the_price_out_of_bounds_is_worded_as_money(client_for, seller, space):
    response = client_for(seller).patch(
        f"/api/v1/spaces/{space.pk}/tickets", {"price": 100000}, format="json"
    )

    error = assert_error(response, 400, "invalid")
    readable(error)
    assert error["fields"]["price"] == ["Between $1.00 and $999.00."]


def test_the_bounds_follow_the_settings(client_for, seller, clock, settings):
    settings.TICKET_PRICE_MIN = 250
    settings.TICKET_PRICE_MAX = 1_000_000
    response = client_for(seller).post(
        "/api/v1/spaces/ticketed", ticketed_body(clock, price=100), format="json"
    )

    error = assert_error(response, 400, "invalid")
    assert error["fields"]["price"] == ["Between $2.50 and $10,000.00."]


def test_a_currency_not_sold_names_the_one_that_is_not_just_its_code(client_for, seller, clock):
    response = client_for(seller).post(
        "/api/v1/spaces/ticketed", ticketed_body(clock, currency="eur"), format="json"
    )

    error = assert_error(response, 400, "invalid")
    readable(error)
    assert error["fields"]["currency"] == ["Tickets are sold in US dollars (USD) only."]


def test_too_many_tickets_reads_with_its_thousands(client_for, seller, clock, settings):
    settings.TICKET_CAPACITY_MAX = 100_000
    response = client_for(seller).post(
        "/api/v1/spaces/ticketed", ticketed_body(clock, capacity=100_001), format="json"
    )

    error = assert_error(response, 400, "invalid")
    readable(error)
    assert error["fields"]["capacity"] == ["Between 1 and 100,000."]


def test_too_many_guests_says_guests(seller, clock, settings):
    most = settings.SPACES_MAX_SPEAKERS + settings.SPACES_MAX_COHOSTS
    with pytest.raises(ValidationFailed) as refused:
        services.ticketed_space_create(
            host=seller,
            title="Paid talk",
            scheduled_for=clock.now + timedelta(hours=2),
            price=1999,
            capacity=50,
            guests=[f"guest{n}" for n in range(most + 1)],
        )

    assert refused.value.code == "invalid"
    assert refused.value.fields["guests"] == [f"At most {most} guests."]
    assert refused.value.message == f"Name at most {most} guests."


def test_too_few_followers_to_sell_reads_with_its_thousands(client_for, clock, settings):
    settings.SPACES_TICKETED_MIN_FOLLOWERS = 1000
    host = UserFactory()
    make_followers(host, settings.SPACES_HOST_MIN_FOLLOWERS)

    response = client_for(host).post("/api/v1/spaces/ticketed", ticketed_body(clock), format="json")

    error = assert_error(response, 403, "not_enough_followers_to_sell")
    readable(error)
    assert "1,000 followers" in error["message"]


def test_the_site_shows_the_same_price_words_as_the_api(seller, clock):
    """The form's help text and its refusal agree on the money they name."""
    client = Client()
    client.force_login(seller)
    page = client.get("/spaces/scheduled/new/").content.decode()
    assert "From $1.00 to $999.00." in page
