"""Ticketed Spaces on the site: the badge on every card, row and page (price for people, seats
left, Buy / "You have a ticket" / "Sold out" / the host's Sales), the buy, checkout, my tickets
and sales pages with each of their states and refusals, and the admin's offers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from accounts.models import User
from scheduling import services as scheduling_services
from spaces.models import Space
from tests.factories import UserFactory
from tests.ticketing.conftest import FakeStripe, buy, follower_of, html_of
from ticketing import services
from ticketing.models import Order, TicketOffer

pytestmark = pytest.mark.django_db


# --- The badge on cards, rows and pages ----------------------------------------------------------


def test_a_follower_sees_price_seats_and_buy_on_the_upcoming_row_and_the_space_page(
    client, seller, ticketed
):
    space = ticketed(price=1999, capacity=3)
    client.force_login(follower_of(seller))

    for url in ("/spaces/scheduled/", f"/spaces/scheduled/{space.pk}/"):
        html = html_of(client, url)
        assert 'data-testid="ticket-price">$19.99<' in html
        assert "3 of 3 seats left" in html
        assert f'href="/spaces/{space.pk}/tickets/" data-testid="ticket-buy"' in html
        assert "minor units" not in html


def test_a_holder_sees_that_they_have_a_ticket_instead_of_buy(client, seller, space):
    holder = follower_of(seller)
    buy(space, holder)
    client.force_login(holder)

    html = html_of(client, f"/spaces/scheduled/{space.pk}/")

    assert 'data-testid="ticket-held"' in html
    assert "You have a ticket" in html
    assert 'data-testid="ticket-buy"' not in html
    assert "2 of 3 seats left" in html


def test_a_sold_out_space_says_so_and_offers_no_buy(client, seller, ticketed):
    space = ticketed(capacity=1)
    buy(space)
    client.force_login(follower_of(seller))

    html = html_of(client, f"/spaces/scheduled/{space.pk}/")

    assert 'data-testid="ticket-sold-out"' in html
    assert 'data-testid="ticket-buy"' not in html
    assert "seats left" not in html


def test_the_host_gets_a_link_to_the_sales_on_the_scheduled_space_page(client, seller, space):
    client.force_login(seller)

    html = html_of(client, f"/spaces/scheduled/{space.pk}/")

    assert f'href="/spaces/{space.pk}/tickets/report/" data-testid="ticket-sales"' in html
    assert 'data-testid="ticket-buy"' not in html


def test_a_live_ticketed_space_card_shows_the_price_and_no_buy(client, seller, space):
    scheduling_services.scheduled_space_start(actor=seller, space_id=space.pk)
    client.force_login(follower_of(seller))

    html = html_of(client, "/spaces/")

    assert 'data-testid="ticket-price">$19.99<' in html
    assert "Ticket holders only" in html
    assert 'data-testid="ticket-buy"' not in html


def test_a_free_space_has_no_badge(client, seller, clock):
    free = scheduling_services.scheduled_space_create(
        host=seller, title="Free talk", scheduled_for=clock.now + timedelta(hours=2)
    )
    client.force_login(follower_of(seller))

    html = html_of(client, f"/spaces/scheduled/{free.pk}/")

    assert "Free talk" in html
    assert 'data-testid="ticket-badge"' not in html


# --- Buy --------------------------------------------------------------------------------------


def test_the_buy_page_sums_up_the_space_with_the_price_for_people(client, seller, space):
    client.force_login(UserFactory())

    html = html_of(client, f"/spaces/{space.pk}/tickets/")

    assert "<h1>" in html
    assert "Buy a ticket" in html
    assert "Paid talk" in html
    assert seller.name in html
    assert 'data-testid="price">$19.99<' in html
    assert 'data-testid="seats-left">3 of 3<' in html
    assert 'value="offline"' in html


def test_buying_a_sold_out_space_is_refused_with_a_message(client, ticketed):
    space = ticketed(capacity=1)
    buy(space)
    client.force_login(UserFactory())

    page = html_of(client, f"/spaces/{space.pk}/tickets/")
    refused = client.post(f"/spaces/{space.pk}/tickets/", {"provider": "offline"}, follow=True)

    assert 'data-testid="sold-out"' in page
    assert 'name="provider"' not in page
    assert "All tickets are taken." in refused.content.decode()
    assert Order.objects.count() == 1


def test_a_holder_cannot_buy_twice(client, space):
    holder = UserFactory()
    buy(space, holder)
    client.force_login(holder)

    page = html_of(client, f"/spaces/{space.pk}/tickets/")
    again = client.post(f"/spaces/{space.pk}/tickets/", {"provider": "offline"}, follow=True)

    assert 'data-testid="ticket-held"' in page
    assert 'name="provider"' not in page
    assert "You already have a ticket for this Space." in again.content.decode()
    assert Order.objects.filter(buyer=holder).count() == 1


@pytest.mark.parametrize("provider", ["", "paypal", "offline'--"])
def test_an_unknown_provider_is_refused_with_a_message(client, space, provider):
    client.force_login(UserFactory())

    response = client.post(f"/spaces/{space.pk}/tickets/", {"provider": provider}, follow=True)

    assert response.status_code == 200
    assert "Unknown or disabled payment provider." in response.content.decode()
    assert not Order.objects.exists()


def test_a_double_click_on_buy_holds_one_seat(client, space):
    buyer = UserFactory()
    client.force_login(buyer)

    first = client.post(f"/spaces/{space.pk}/tickets/", {"provider": "offline"})
    second = client.post(f"/spaces/{space.pk}/tickets/", {"provider": "offline"})

    assert first["Location"] == second["Location"]
    assert Order.objects.filter(buyer=buyer).count() == 1


def test_buying_with_stripe_redirects_to_stripe_checkout(client, space, fake_stripe: FakeStripe):
    client.force_login(UserFactory())

    response = client.post(f"/spaces/{space.pk}/tickets/", {"provider": "stripe"})

    assert response.status_code == 302
    assert response["Location"] == "https://checkout.test/1"
    assert fake_stripe.sessions[0]["line_items"][0]["price_data"]["unit_amount"] == 1999
    assert fake_stripe.sessions[0]["success_url"] == "http://testserver/tickets/"


def test_a_space_that_sells_no_tickets_has_no_buy_page(client):
    client.force_login(UserFactory())

    assert client.get("/spaces/999999/tickets/").status_code == 404


def test_the_buy_page_needs_a_signed_in_user(client, space):
    response = client.get(f"/spaces/{space.pk}/tickets/")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


# --- The offline checkout page ------------------------------------------------------------------


def _reserved(space: Space, buyer: User) -> Order:
    order, _ = services.ticket_checkout_start(buyer=buyer, space_id=space.pk, provider="offline")
    return order


def test_the_fail_button_is_not_shown_nor_accepted_without_debug(client, space, settings):
    settings.DEBUG = False
    buyer = UserFactory()
    order = _reserved(space, buyer)
    client.force_login(buyer)

    page = html_of(client, f"/tickets/checkout/{order.pk}/")
    forced = client.post(f"/tickets/checkout/{order.pk}/", {"outcome": "fail"}, follow=True)

    assert 'value="confirm"' in page
    assert "$19.99" in page
    assert 'value="fail"' not in page
    assert "for development only" in forced.content.decode()
    order.refresh_from_db()
    assert order.state == Order.State.RESERVED


def test_under_debug_the_fail_button_fails_the_payment_and_offers_to_try_again(
    client, space, settings
):
    settings.DEBUG = True
    buyer = UserFactory()
    order = _reserved(space, buyer)
    client.force_login(buyer)

    page = html_of(client, f"/tickets/checkout/{order.pk}/")
    failed = client.post(f"/tickets/checkout/{order.pk}/", {"outcome": "fail"}, follow=True)

    assert 'value="fail"' in page
    html = failed.content.decode()
    assert failed.redirect_chain[-1][0] == f"/tickets/checkout/{order.pk}/"
    assert "The payment did not go through." in html
    assert f'href="/spaces/{space.pk}/tickets/"' in html  # Try again
    order.refresh_from_db()
    assert order.state == Order.State.FAILED


def test_a_bad_outcome_is_refused_with_a_message(client, space):
    buyer = UserFactory()
    order = _reserved(space, buyer)
    client.force_login(buyer)

    response = client.post(f"/tickets/checkout/{order.pk}/", {"outcome": "steal"}, follow=True)

    assert "Choose to pay or to fail the payment." in response.content.decode()
    order.refresh_from_db()
    assert order.state == Order.State.RESERVED


def test_paying_an_order_twice_is_refused_the_second_time(client, space):
    buyer = UserFactory()
    order = _reserved(space, buyer)
    client.force_login(buyer)

    client.post(f"/tickets/checkout/{order.pk}/", {"outcome": "confirm"})
    again = client.post(f"/tickets/checkout/{order.pk}/", {"outcome": "confirm"}, follow=True)

    assert "This order is not awaiting payment." in again.content.decode()
    assert TicketOffer.objects.get(pk=space.pk).sold == 1


def test_someone_elses_order_is_a_404(client, space):
    order = _reserved(space, UserFactory())
    client.force_login(UserFactory())

    assert client.get(f"/tickets/checkout/{order.pk}/").status_code == 404
    assert client.post(f"/tickets/checkout/{order.pk}/", {"outcome": "confirm"}).status_code == 404
    order.refresh_from_db()
    assert order.state == Order.State.RESERVED


# --- My tickets -------------------------------------------------------------------------------


def test_my_tickets_shows_each_state_in_words(client, seller, ticketed, settings):
    settings.DEBUG = True
    buyer = UserFactory()
    paid_space = ticketed()
    pending_space = ticketed(minutes=180)
    failed_space = ticketed(minutes=240)
    refunded_space = ticketed(minutes=300)
    buy(paid_space, buyer)
    _reserved(pending_space, buyer)
    services.order_offline_settle(
        buyer=buyer, order_id=_reserved(failed_space, buyer).pk, outcome="fail"
    )
    buy(refunded_space, buyer)
    scheduling_services.scheduled_space_cancel(actor=seller, space_id=refunded_space.pk)
    client.force_login(buyer)

    html = html_of(client, "/tickets/")

    assert html.count('data-testid="ticket-row"') == 4
    for words in ("Paid", "Pending payment", "Payment failed", "Refund on its way"):
        assert f"{words}</span>" in html, words
    assert "$19.99" in html
    assert "minor units" not in html


def test_a_failed_try_followed_by_a_ticket_shows_only_the_ticket(client, space, settings):
    settings.DEBUG = True
    buyer = UserFactory()
    services.order_offline_settle(buyer=buyer, order_id=_reserved(space, buyer).pk, outcome="fail")
    buy(space, buyer)
    client.force_login(buyer)

    html = html_of(client, "/tickets/")

    assert html.count('data-testid="ticket-row"') == 1
    assert "Payment failed" not in html


def test_no_tickets_yet_is_said_plainly(client):
    client.force_login(UserFactory())

    assert "No tickets yet" in html_of(client, "/tickets/")


# --- The host's sales -------------------------------------------------------------------------


def test_the_host_sees_sales_revenue_refunds_and_buyers(client, seller, ticketed):
    space = ticketed(price=1000, capacity=5)
    ann = UserFactory(username="ann", display_name="Ann Buyer")
    buy(space, ann)
    buy(space, UserFactory(username="bob"))
    client.force_login(seller)

    html = html_of(client, f"/spaces/{space.pk}/tickets/report/")

    assert 'data-testid="sold">2 ' in html
    assert 'data-testid="gross">$20.00<' in html
    assert 'data-testid="net">$18.00<' in html
    assert 'data-testid="refunded">0<' in html
    assert html.count('data-testid="buyer-row"') == 2
    assert "Ann Buyer" in html
    assert "@bob" in html


@pytest.mark.parametrize("who", ["buyer", "stranger"])
def test_the_sales_page_is_a_404_for_anyone_but_the_host(client, space, who):
    buyer = UserFactory()
    buy(space, buyer)
    client.force_login(buyer if who == "buyer" else UserFactory())

    assert client.get(f"/spaces/{space.pk}/tickets/report/").status_code == 404


def test_the_sales_page_of_a_space_without_tickets_is_a_404(client, seller):
    client.force_login(seller)

    assert client.get("/spaces/999999/tickets/report/").status_code == 404


# --- Admin ------------------------------------------------------------------------------------


def test_the_admin_does_not_offer_to_add_a_bare_ticket_offer(admin_client, space):
    add = admin_client.get("/admin/ticketing/ticketoffer/add/")
    post = admin_client.post(
        "/admin/ticketing/ticketoffer/add/", {"price": 500, "currency": "usd", "capacity": 5}
    )
    changelist = admin_client.get("/admin/ticketing/ticketoffer/").content.decode()
    change = admin_client.get(f"/admin/ticketing/ticketoffer/{space.pk}/change/")

    assert add.status_code == post.status_code == 403
    assert "/admin/ticketing/ticketoffer/add/" not in changelist
    assert change.status_code == 200
    assert TicketOffer.objects.count() == 1


def test_the_admin_changes_an_offer_through_the_hosts_rules(admin_client, space):
    buy(space)
    buy(space)
    url = f"/admin/ticketing/ticketoffer/{space.pk}/change/"
    form = {"price": 1999, "capacity": 3, "sales_close_at_0": "", "sales_close_at_1": ""}

    too_few = admin_client.post(url, {**form, "capacity": 1}, follow=True)
    cheaper = admin_client.post(url, {**form, "price": 999}, follow=True)
    more = admin_client.post(url, {**form, "capacity": 10})

    assert "There cannot be fewer tickets than are sold or reserved." in too_few.content.decode()
    assert "The price cannot go below what buyers paid." in cheaper.content.decode()
    assert more.status_code == 302
    offer = TicketOffer.objects.get(pk=space.pk)
    assert (offer.price, offer.capacity, offer.sold) == (1999, 10, 2)
