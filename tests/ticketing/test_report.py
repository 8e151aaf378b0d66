"""The host's sales report: tickets sold, gross, platform fee at PLATFORM_FEE_BPS, net; in the
API, on the site and in the admin."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory
from tests.ticketing.conftest import buy
from ticketing import selectors, services
from ticketing.models import Order

pytestmark = pytest.mark.django_db


def test_the_report_counts_paid_tickets_and_takes_the_fee_half_up(client_for, seller, ticketed):
    space = ticketed(price=1999, capacity=5)
    for _ in range(3):
        buy(space)
    services.ticket_reserve(buyer=UserFactory(), space_id=space.pk, provider="offline")

    response = client_for(seller).get(f"/api/v1/spaces/{space.pk}/tickets/report")

    assert response.status_code == 200
    assert response.json() == {
        "space_id": space.pk,
        "title": "Paid talk",
        "currency": "usd",
        "capacity": 5,
        "sold": 3,
        "refunded": 0,
        "gross": 5997,
        "platform_fee": 600,  # 599.7
        "net": 5397,
        "fee_bps": 1000,
    }


@pytest.mark.parametrize(
    ("gross", "bps", "fee"),
    [(0, 1000, 0), (5997, 1000, 600), (5994, 1000, 599), (5995, 1000, 600), (12345, 250, 309)],
)
def test_the_platform_fee_rounds_half_up_to_a_minor_unit(gross, bps, fee):
    assert selectors.platform_fee(gross, bps=bps) == fee


def test_refunded_tickets_are_not_in_the_gross(client_for, seller, ticketed, settings):
    settings.PLATFORM_FEE_BPS = 500
    space = ticketed(price=1000)
    buy(space)
    refunded = buy(space)
    Order.objects.filter(pk=refunded.pk).update(state="refunded")

    data = client_for(seller).get(f"/api/v1/spaces/{space.pk}/tickets/report").json()

    assert (data["sold"], data["gross"], data["platform_fee"], data["net"]) == (1, 1000, 50, 950)


def test_only_the_host_sees_the_report(client_for, space):
    buyer = UserFactory()
    buy(space, buyer)

    response = client_for(buyer).get(f"/api/v1/spaces/{space.pk}/tickets/report")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_host"


def test_the_site_shows_the_host_the_report(client, seller, space):
    buy(space)
    client.force_login(seller)

    page = client.get(f"/spaces/{space.pk}/tickets/report/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="gross">$19.99<' in html
    assert 'data-testid="fee">$2.00<' in html
    assert 'data-testid="net">$17.99<' in html


def test_the_admin_lists_offers_with_their_money(admin_client, space):
    buy(space)

    page = admin_client.get("/admin/ticketing/ticketoffer/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "1999" in html
    assert "1799" in html
    for path in ("order", "ticket", "refund", "webhookevent", "guest"):
        assert admin_client.get(f"/admin/ticketing/{path}/").status_code == 200
