"""The schedule form and the scheduling pages in the viewer's time zone (a host in New York
types 18:00 and means 18:00 in New York), the hours daylight saving skips or repeats, the API
left in UTC, and the form's "Sell tickets" section for hosts who may sell."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from accounts.models import User
from scheduling import services
from spaces.models import Space
from tests.factories import UserFactory
from tests.scheduling.helpers import holders

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
NEW = "/spaces/scheduled/new/"


def in_zone(user: User, zone: str) -> User:
    user.time_zone = zone
    user.save(update_fields=["time_zone"])
    return user


@pytest.fixture
def browser():
    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


def wall(moment: datetime, zone=NEW_YORK) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def post(client: Client, scheduled_for: str, **extra):
    data = {
        "title": "Evening chat",
        "scheduled_for": scheduled_for,
        "topics": "",
        "speaking_policy": "everyone",
        **extra,
    }
    return client.post(NEW, data)


# --- The form in the host's zone ------------------------------------------------------------


def test_the_form_names_the_hosts_zone_and_not_utc(browser, host):
    in_zone(host, "America/New_York")
    body = browser(host).get(NEW).content.decode()
    assert "When (America/New York time)" in body
    assert "In your time zone, America/New York, E" in body  # EST or EDT, by season
    assert "(UTC)" not in body
    assert "in UTC" not in body


def test_a_host_with_no_zone_yet_is_told_the_form_is_in_utc(browser, host):
    body = browser(host).get(NEW).content.decode()
    assert "When (UTC time)" in body


def test_the_wall_time_typed_is_read_in_the_hosts_zone(browser, host, clock):
    in_zone(host, "America/New_York")
    when = (clock.now + timedelta(days=3)).replace(second=0, microsecond=0)

    response = post(browser(host), wall(when))

    space = Space.objects.get(title="Evening chat")
    assert response.status_code == 302
    assert space.scheduled_for == when
    assert space.scheduled_for.astimezone(NEW_YORK).strftime("%H:%M") == wall(when)[-5:]


def test_the_confirmation_says_the_time_in_the_hosts_zone(browser, host, clock):
    in_zone(host, "Europe/Paris")
    client = browser(host)
    when = clock.now + timedelta(days=2)
    response = post(client, wall(when, ZoneInfo("Europe/Paris")))
    page = client.get(response["Location"]).content.decode()
    abbreviation = when.astimezone(ZoneInfo("Europe/Paris")).tzname()
    assert "Your Space is scheduled for " in page
    assert f"{when.astimezone(ZoneInfo('Europe/Paris')):%H:%M} {abbreviation}" in page


def test_an_hour_the_clocks_skip_is_a_clear_form_error(browser, host, clock):
    in_zone(host, "America/New_York")
    clock.travel(datetime(2027, 3, 5, 12, 0, tzinfo=UTC))

    # 14 March 2027: New York's clocks go from 02:00 straight to 03:00.
    response = post(browser(host), "2027-03-14T02:30")

    assert response.status_code == 200
    [error] = response.context["form"].errors["scheduled_for"]
    assert error == (
        "14 Mar 2027, 02:30 does not exist in America/New York: the clocks go forward then. "
        "Choose a later time."
    )
    assert not Space.objects.filter(title="Evening chat").exists()


def test_an_hour_the_clocks_repeat_is_a_clear_form_error(browser, host, clock):
    in_zone(host, "America/New_York")
    clock.travel(datetime(2026, 10, 28, 12, 0, tzinfo=UTC))

    # 1 November 2026: 01:00 to 02:00 happens twice in New York.
    response = post(browser(host), "2026-11-01T01:30")

    assert response.status_code == 200
    [error] = response.context["form"].errors["scheduled_for"]
    assert "1 Nov 2026, 01:30 happens twice in America/New York" in error
    assert not Space.objects.filter(title="Evening chat").exists()


def test_the_window_is_checked_on_the_moment_not_the_wall_time(browser, host, clock):
    # 20 minutes ahead in UTC terms, typed as New York's wall time: accepted. Typed as if it were
    # UTC (five hours off) it would be in the past.
    in_zone(host, "America/New_York")
    response = post(browser(host), wall(clock.now + timedelta(minutes=20)))
    assert response.status_code == 302
    too_soon = post(browser(host), wall(clock.now + timedelta(minutes=5)), title="Too soon")
    assert "Schedule at least" in too_soon.context["form"].errors["scheduled_for"][0]


@pytest.mark.parametrize(
    "typed", ["tomorrow", "2026-13-01T10:00", "2026-12-08T18:00\x00", "9" * 5000]
)
def test_a_time_that_cannot_be_read_is_a_form_error(browser, host, typed):
    in_zone(host, "America/New_York")
    response = post(browser(host), typed)
    assert response.status_code == 200
    assert response.context["form"].errors["scheduled_for"]


def test_the_edit_form_shows_and_reads_the_time_in_the_hosts_zone(browser, host, schedule, clock):
    in_zone(host, "America/New_York")
    space = schedule(minutes=60 * 24)
    client = browser(host)
    page = client.get(f"/spaces/scheduled/{space.pk}/edit/").content.decode()
    assert f'value="{wall(space.scheduled_for)}"' in page

    later = space.scheduled_for + timedelta(hours=2)
    response = client.post(
        f"/spaces/scheduled/{space.pk}/edit/",
        {"title": space.title, "scheduled_for": wall(later), "speaking_policy": "everyone"},
    )
    assert response.status_code == 302
    space.refresh_from_db()
    assert space.scheduled_for == later


def test_saving_the_edit_form_unchanged_does_not_move_the_time(
    browser, host, schedule, clock, kicks
):
    in_zone(host, "Asia/Kolkata")
    space = schedule(minutes=60 * 24)
    version = space.schedule.version
    browser(host).post(
        f"/spaces/scheduled/{space.pk}/edit/",
        {
            "title": "Renamed",
            "scheduled_for": wall(space.scheduled_for, ZoneInfo("Asia/Kolkata")),
            "speaking_policy": "everyone",
        },
    )
    space.refresh_from_db()
    space.schedule.refresh_from_db()
    assert (space.title, space.schedule.version) == ("Renamed", version)


# --- Times shown in the viewer's zone -------------------------------------------------------


def test_the_list_and_the_detail_show_the_time_in_the_viewers_zone(browser, host, clock):
    when = datetime(2026, 12, 8, 23, 0, tzinfo=UTC)
    clock.travel(when - timedelta(days=2))
    space = services.scheduled_space_create(host=host, title="Night owls", scheduled_for=when)
    viewer = in_zone(UserFactory(username="newyorker"), "America/New_York")
    parisian = in_zone(UserFactory(username="parisian"), "Europe/Paris")
    for person in (viewer, parisian):
        services.reminder_set(user=person, space_id=space.pk)

    detail = browser(viewer).get(f"/spaces/scheduled/{space.pk}/").content.decode()
    assert "Tuesday 8 December 2026, 18:00 EST" in detail
    assert 'datetime="2026-12-08T23:00:00+00:00" data-relative' in detail
    assert ">in 2 days</time>" in detail
    in_paris = browser(parisian).get(f"/spaces/scheduled/{space.pk}/").content.decode()
    assert "Wednesday 9 December 2026, 00:00 CET" in in_paris

    listing = browser(host).get("/spaces/scheduled/").content.decode()
    assert "Tue 8 Dec, 23:00 UTC" in listing
    in_zone(host, "America/New_York")
    listing = browser(host).get("/spaces/scheduled/").content.decode()
    assert "Tue 8 Dec, 18:00 EST" in listing
    assert " UTC</time>" not in listing


def test_the_live_space_says_when_it_started_in_a_time_the_page_keeps_up(
    browser, host, schedule, clock
):
    space = schedule(minutes=20)
    clock.advance(minutes=20)
    services.scheduled_space_start(actor=host, space_id=space.pk)
    clock.advance(seconds=9)
    page = browser(host).get(f"/spaces/{space.pk}/").content.decode()
    started = space.scheduled_for  # the clock stood at the scheduled time when it started
    assert f'<time datetime="{started.isoformat()}" data-relative' in page
    assert ">9 seconds ago</time>" in page


def test_the_api_answers_iso_8601_in_utc_whatever_the_users_zone(host, clock, api_client):
    in_zone(host, "America/New_York")
    when = (clock.now + timedelta(days=1)).replace(microsecond=0)
    space = services.scheduled_space_create(host=host, title="API", scheduled_for=when)
    api_client.force_login(host)
    body = api_client.get(f"/api/v1/spaces/scheduled/{space.pk}").json()
    assert body["scheduled_for"] == when.isoformat().replace("+00:00", "Z")


# --- Selling tickets from the schedule form -------------------------------------------------


@pytest.fixture
def seller(host, settings) -> User:
    """A host with enough followers to sell tickets."""
    settings.SPACES_TICKETED_MIN_FOLLOWERS = settings.SPACES_HOST_MIN_FOLLOWERS
    return host


def sell(client: Client, when: datetime, **terms):
    data = {"sell_tickets": "on", "price": "5.00", "currency": "usd", "capacity": "100"}
    data.update(terms)
    return post(client, wall(when, UTC), **data)


def test_the_ticket_section_is_only_for_hosts_who_may_sell(browser, host, settings):
    settings.SPACES_TICKETED_MIN_FOLLOWERS = settings.SPACES_HOST_MIN_FOLLOWERS + 1
    assert 'name="sell_tickets"' not in browser(host).get(NEW).content.decode()
    settings.SPACES_TICKETED_MIN_FOLLOWERS = settings.SPACES_HOST_MIN_FOLLOWERS
    page = browser(host).get(NEW).content.decode()
    assert 'name="sell_tickets"' in page
    for name in ("price", "currency", "capacity", "guests"):
        assert f'name="{name}"' in page
    assert '<option value="usd" selected>USD</option>' in page


def test_a_host_who_may_not_sell_cannot_sell_by_posting_the_fields(browser, host, clock, settings):
    settings.SPACES_TICKETED_MIN_FOLLOWERS = settings.SPACES_HOST_MIN_FOLLOWERS + 1
    response = sell(browser(host), clock.now + timedelta(days=1))
    assert response.status_code == 302
    assert Space.objects.get(title="Evening chat").is_ticketed is False


def test_a_space_is_scheduled_and_put_on_sale_with_the_price_in_minor_units(browser, seller, clock):
    from ticketing.models import TicketOffer

    guest = UserFactory(username="ada")
    response = sell(browser(seller), clock.now + timedelta(days=1), price="12.34", guests="@Ada, ")

    space = Space.objects.get(title="Evening chat")
    assert response.status_code == 302
    assert space.is_ticketed
    offer = TicketOffer.objects.get(space=space)
    assert (offer.price, offer.currency, offer.capacity) == (1234, "usd", 100)
    assert list(offer.guests.values_list("user", flat=True)) == [guest.pk]


@pytest.mark.parametrize(
    ("terms", "field", "text"),
    [
        ({"price": ""}, "price", "Give a price"),
        ({"price": "five"}, "price", "Give a price as a number"),
        ({"price": "-5"}, "price", "Give a price as a number"),
        ({"price": "NaN"}, "price", "Give a price as a number"),
        ({"price": "5.001"}, "price", "USD prices have 2 decimals."),
        ({"price": "1e999999"}, "price", "At most $999.00."),
        ({"price": "0.50"}, "price", "Between"),
        ({"price": "1000.00"}, "price", "Between"),
        ({"capacity": ""}, "capacity", "How many tickets?"),
        ({"capacity": "0"}, "capacity", "greater than or equal to 1"),
        ({"capacity": "many"}, "capacity", "Enter a whole number."),
        ({"capacity": "100001"}, "capacity", "less than or equal to 100000"),
        ({"currency": "eur"}, "currency", "Select a valid choice."),
        ({"guests": "@nobody_here"}, "guests", "No such user: @nobody_here."),
    ],
)
def test_bad_ticket_terms_are_form_errors_and_nothing_is_scheduled(
    browser, seller, clock, terms, field, text
):
    response = sell(browser(seller), clock.now + timedelta(days=1), **terms)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert any(text in error for error in errors.get(field, [])), errors
    assert not Space.objects.filter(title="Evening chat").exists()


def test_without_the_box_ticked_the_ticket_fields_are_ignored(browser, seller, clock):
    response = post(
        browser(seller),
        wall(clock.now + timedelta(days=1), UTC),
        price="oops",
        capacity="many",
        currency="xyz",
        guests="@nobody_here",
    )
    assert response.status_code == 302
    assert Space.objects.get(title="Evening chat").is_ticketed is False


def test_the_host_is_not_their_own_guest(browser, seller, clock):
    response = sell(browser(seller), clock.now + timedelta(days=1), guests=seller.username)
    assert response.context["form"].errors["guests"]
    assert not Space.objects.filter(title="Evening chat").exists()


def test_reminder_holders_see_the_ticketed_space_like_any_other(browser, seller, clock):
    sell(browser(seller), clock.now + timedelta(days=1))
    space = Space.objects.get(title="Evening chat")
    [fan] = holders(space, 1)
    assert browser(fan).get(f"/spaces/scheduled/{space.pk}/").status_code == 200
