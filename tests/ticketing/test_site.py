"""The ticket pages: buy through the offline checkout page, then see it under my tickets."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory
from ticketing.models import Order

pytestmark = pytest.mark.django_db


def test_a_buyer_buys_on_the_site_with_the_offline_checkout_page(client, space):
    buyer = UserFactory()
    client.force_login(buyer)

    page = client.get(f"/spaces/{space.pk}/tickets/")
    assert page.status_code == 200
    assert b'value="offline"' in page.content

    to_checkout = client.post(f"/spaces/{space.pk}/tickets/", {"provider": "offline"})
    order = Order.objects.get(buyer=buyer)
    assert to_checkout.status_code == 302
    assert to_checkout["Location"] == f"/tickets/checkout/{order.pk}/"
    assert client.get(to_checkout["Location"]).status_code == 200

    paid = client.post(to_checkout["Location"], {"outcome": "confirm"})

    assert paid.status_code == 302
    assert paid["Location"] == "/tickets/"
    order.refresh_from_db()
    assert order.state == "paid"
    mine = client.get("/tickets/").content.decode()
    assert "Paid talk" in mine
    assert 'data-testid="order-state"' in mine
    assert "Paid" in mine


def test_the_host_is_offered_the_report_not_a_ticket(client, seller, space):
    client.force_login(seller)

    page = client.get(f"/spaces/{space.pk}/tickets/").content.decode()

    assert "See your sales" in page
    assert 'name="provider"' not in page


def test_a_refused_purchase_becomes_a_message(client, seller, space):
    client.force_login(seller)

    response = client.post(f"/spaces/{space.pk}/tickets/", {"provider": "offline"}, follow=True)

    assert "you need no ticket" in response.content.decode()
    assert not Order.objects.exists()
