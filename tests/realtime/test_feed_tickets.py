"""The feed's `bubbles` carry each ticketed Space's badge as the viewer stands, formatted by the
server (docs/realtime.md), so the home page's script draws the card's badge without formatting
money; a free Space's is null."""

from __future__ import annotations

import pytest

from accounts.models import Follow
from tests.factories import SpaceFactory, UserFactory
from tests.realtime.helpers import db
from ticketing.models import Order, TicketOffer

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

FEED = "/ws/feed/"


def _followed_live_spaces(me):
    paid_host, free_host = UserFactory(), UserFactory()
    for host in (paid_host, free_host):
        Follow.objects.create(follower=me, followee=host)
    paid = SpaceFactory(host=paid_host, is_ticketed=True, title="On air, paid")
    TicketOffer.objects.create(space=paid, price=1250, currency="usd", capacity=40)
    free = SpaceFactory(host=free_host, title="On air, free")
    return paid, free


async def test_the_bubbles_give_a_ticketed_space_its_badge_and_a_free_one_none(open_socket):
    me = await db(UserFactory)()
    paid, free = await db(_followed_live_spaces)(me)

    async with open_socket(me, FEED) as ws:
        bubbles = await ws.until_type("bubbles")

    tickets = {item["space"]["id"]: item["ticket"] for item in bubbles["spaces"]}
    assert tickets[free.pk] is None
    assert tickets[paid.pk] == {
        "price": 1250,
        "currency": "usd",
        "price_display": "$12.50",
        "capacity": 40,
        "seats_left": 40,
        "seats_display": "",
        "action": "holders_only",
        "url": "",
    }


def _holds_a_ticket(user, space):
    Order.objects.create(
        offer_id=space.pk,
        buyer=user,
        state=Order.State.PAID,
        amount=1250,
        currency="usd",
        provider="offline",
        expires_at=space.started_at,
        paid_at=space.started_at,
    )
    TicketOffer.objects.filter(pk=space.pk).update(sold=1)


async def test_a_holder_is_told_they_have_a_ticket(open_socket):
    me = await db(UserFactory)()
    paid, _ = await db(_followed_live_spaces)(me)
    await db(_holds_a_ticket)(me, paid)

    async with open_socket(me, FEED) as ws:
        bubbles = await ws.until_type("bubbles")

    tickets = {item["space"]["id"]: item["ticket"] for item in bubbles["spaces"]}
    assert tickets[paid.pk]["action"] == "held"
    assert tickets[paid.pk]["seats_left"] == 39
