"""Every ticketing page writes a moment the way the rest of the site does, in the viewer's zone
(accounts/templatetags/time_display.py `when`): "Tue 8 Dec, 18:00 CET", and "GMT+4" for a zone
without letters, never Django's `date:"T"` ("+04") nor UTC."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from accounts.models import User
from spaces_project.timezones import format_when
from tests.factories import UserFactory
from tests.ticketing.conftest import buy
from ticketing import services
from ticketing.models import Order

pytestmark = pytest.mark.django_db

ZONE_NAME = "Asia/Dubai"  # "+04" to `date:"T"`; "GMT+4" to `when`
ZONE = ZoneInfo(ZONE_NAME)


def in_dubai(user: User) -> Client:
    user.time_zone = ZONE_NAME
    user.save(update_fields=["time_zone"])
    client = Client()
    client.force_login(user)
    return client


def shown(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    html = response.content.decode()
    assert not re.search(r"\d\d:\d\d [+-]\d\d\b", html), url  # date:"H:i T" in a zone like Dubai's
    assert " UTC" not in html, url
    return html


def test_every_ticket_page_shows_times_in_the_viewers_zone_the_same_way(seller, ticketed, clock):
    close = clock.now + timedelta(minutes=60)
    space = ticketed(sales_close_at=close)
    holder = UserFactory()
    buy(space, holder)
    pending = UserFactory()
    order, _ = services.ticket_checkout_start(buyer=pending, space_id=space.pk, provider="offline")
    starts = format_when(space.scheduled_for, ZONE)
    assert starts.endswith(" GMT+4")

    buy_page = shown(in_dubai(pending), f"/spaces/{space.pk}/tickets/")
    assert starts in buy_page
    assert f"Sales close {format_when(close, ZONE)}." in buy_page
    assert f"until {format_when(order.expires_at, ZONE)}." in buy_page

    checkout = shown(in_dubai(pending), f"/tickets/checkout/{order.pk}/")
    assert starts in checkout
    assert f"until {format_when(order.expires_at, ZONE)}." in checkout

    assert starts in shown(in_dubai(holder), "/tickets/")

    report = shown(in_dubai(seller), f"/spaces/{space.pk}/tickets/report/")
    assert starts in report
    paid_at = Order.objects.get(buyer=holder).paid_at
    assert paid_at is not None
    assert format_when(paid_at, ZONE) in report
