"""Putting a scheduled Space on sale (`ticket_offer_open`), as the schedule form does through
scheduling's hook, and the money shown to people (`ticketing.money`, the `price` filter)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.template import engines
from django.utils import translation

from scheduling import hooks as scheduling_hooks
from scheduling import services as scheduling_services
from spaces.models import Space
from spaces_project.errors import ApplicationError, ValidationFailed
from tests.factories import UserFactory
from ticketing import services
from ticketing.models import Guest, TicketOffer
from ticketing.money import money_format, money_to_minor

pytestmark = pytest.mark.django_db


@pytest.fixture
def scheduled(seller, clock):
    return scheduling_services.scheduled_space_create(
        host=seller, title="Soon", scheduled_for=clock.now + timedelta(hours=3)
    )


def test_a_scheduled_space_goes_on_sale_with_its_guests_by_username(seller, scheduled):
    UserFactory(username="Grace")
    UserFactory(username="linus")

    offer = services.ticket_offer_open(
        host=seller,
        space_id=scheduled.pk,
        price=500,
        capacity=40,
        currency="USD",
        guests=["@grace", "LINUS", "grace", " "],
    )

    scheduled.refresh_from_db()
    assert scheduled.is_ticketed
    assert (offer.price, offer.currency, offer.capacity, offer.sold) == (500, "usd", 40, 0)
    assert sorted(Guest.objects.filter(offer=offer).values_list("user__username", flat=True)) == [
        "Grace",
        "linus",
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"price": 99}, "price"),
        ({"price": 100_000}, "price"),
        ({"capacity": 0}, "capacity"),
        ({"currency": "eur"}, "currency"),
        ({"guests": ["nobody-here"]}, "guests"),
        ({"guests": ["seller"]}, "guests"),
    ],
)
def test_bad_input_is_refused_on_its_field_and_nothing_is_sold(seller, scheduled, kwargs, field):
    args = {"price": 500, "capacity": 10, **kwargs}

    with pytest.raises(ValidationFailed) as refused:
        services.ticket_offer_open(host=seller, space_id=scheduled.pk, **args)

    assert field in refused.value.fields
    assert not TicketOffer.objects.exists()
    scheduled.refresh_from_db()
    assert not scheduled.is_ticketed


def test_a_space_already_on_sale_is_refused(seller, scheduled):
    services.ticket_offer_open(host=seller, space_id=scheduled.pk, price=500, capacity=10)

    with pytest.raises(ApplicationError) as refused:
        services.ticket_offer_open(host=seller, space_id=scheduled.pk, price=700, capacity=10)

    assert refused.value.code == "already_ticketed"
    assert TicketOffer.objects.get().price == 500


def test_only_the_host_with_enough_followers_may_sell(seller, scheduled, settings):
    with pytest.raises(ApplicationError) as other:
        services.ticket_offer_open(
            host=_seller_like(), space_id=scheduled.pk, price=500, capacity=10
        )
    settings.SPACES_TICKETED_MIN_FOLLOWERS = 6
    with pytest.raises(ApplicationError) as few:
        services.ticket_offer_open(host=seller, space_id=scheduled.pk, price=500, capacity=10)

    assert other.value.code == "not_host"
    assert few.value.code == "not_enough_followers_to_sell"
    assert not TicketOffer.objects.exists()


def _seller_like():
    from tests.factories import make_followers

    other = UserFactory()
    make_followers(other, 5)
    return other


def test_the_schedule_form_reaches_it_through_the_hook_and_a_refusal_rolls_back_both(seller, clock):
    def schedule_and_sell(**sell):
        with transaction.atomic():
            space = scheduling_services.scheduled_space_create(
                host=seller, title="Via the hook", scheduled_for=clock.now + timedelta(hours=2)
            )
            for open_offer in scheduling_hooks.ticket_offer_open:
                open_offer(host=seller, space_id=space.pk, capacity=10, **sell)
        return space

    assert len(scheduling_hooks.ticket_offer_open) == 1
    space = schedule_and_sell(price=800)
    with pytest.raises(ValidationFailed):
        schedule_and_sell(price=1)

    assert TicketOffer.objects.get().space_id == space.pk
    assert Space.objects.filter(title="Via the hook").count() == 1


@pytest.mark.parametrize(
    ("amount", "currency", "language", "shown"),
    [
        (500, "usd", "en", "$5.00"),
        (1999, "USD", "en-us", "$19.99"),
        (500, "eur", "de", "5,00\xa0€"),
        (500, "jpy", "en", "¥500"),
        (123456, "usd", "en", "$1,234.56"),
    ],
)
def test_money_is_shown_for_people_in_their_language(amount, currency, language, shown):
    with translation.override(language):
        assert money_format(amount, currency) == shown
        rendered = engines["django"].from_string(
            "{% load ticketing_site %}{{ amount|price:currency }}"
        )
        assert rendered.render({"amount": amount, "currency": currency}) == shown


def test_the_price_filter_reads_offers_and_orders_and_leaves_nonsense_blank(seller, scheduled):
    offer = services.ticket_offer_open(host=seller, space_id=scheduled.pk, price=2500, capacity=10)
    template = engines["django"].from_string("{% load ticketing_site %}[{{ x|price }}]")

    assert template.render({"x": offer}) == "[$25.00]"
    assert template.render({"x": None}) == "[]"
    assert template.render({"x": "abc"}) == "[]"


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [("5", "usd", 500), ("5.5", "usd", 550), ("19.99", "usd", 1999), ("500", "jpy", 500)],
)
def test_a_typed_price_becomes_minor_units(typed, currency, minor):
    assert money_to_minor(Decimal(typed) if "." in typed else typed, currency) == minor


@pytest.mark.parametrize(("typed", "currency"), [("5.001", "usd"), ("5.5", "jpy"), ("x", "usd")])
def test_a_typed_price_with_too_many_decimals_or_no_number_is_refused(typed, currency):
    with pytest.raises(ValidationFailed) as refused:
        money_to_minor(typed, currency)

    assert "price" in refused.value.fields
