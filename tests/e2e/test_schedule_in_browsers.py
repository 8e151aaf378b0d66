"""A host in New York schedules a Space in Chromium: the browser's own zone (Playwright's
`timezone_id`) is guessed by static/js/time.js and stored, the form speaks New York time, the
Space is stored at the right moment and shown back with its abbreviation, and a relative time
keeps changing while the page stays open (Playwright's clock moves the page's time). Screenshots
at phone and desktop width; no console error, no CSP violation."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings

from accounts.models import User
from spaces.models import Space
from spaces_project.timezones import format_relative
from tests.e2e.conftest import screenshot, wait_for_js
from tests.factories import UserFactory, make_followers

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]

ZONE = "America/New_York"
# Headless Chromium's tab is always visible: pretend, as a hidden tab tells the page.
SET_VISIBILITY = """(state) => {
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
  document.dispatchEvent(new Event("visibilitychange"));
}"""
NEW_YORK = ZoneInfo(ZONE)


@pytest.fixture
def page_in_new_york(new_page: Any) -> Callable[[User], Any]:
    """page(user): a signed-in page whose browser says it is in New York."""
    return lambda user: new_page(user.username, user, timezone_id=ZONE)


def wait_for_stored_zone(user: User, *, within: float = 20.0) -> str:
    """The zone the server stored for `user`, once the page's guess reached it."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        zone = User.objects.values_list("time_zone", flat=True).get(pk=user.pk)
        if zone:
            return zone
        time.sleep(0.1)
    raise AssertionError(f"no time zone stored for {user.username} within {within:.0f}s")


def next_round_hour(now: datetime, *, at_least: timedelta) -> datetime:
    """The first whole hour in New York at least `at_least` after `now`."""
    local = (now + at_least).astimezone(NEW_YORK)
    return (local + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)


def test_a_host_in_new_york_schedules_in_their_own_time(page_in_new_york: Any, console: Any):
    host = UserFactory(username="nyhost", display_name="NY Host")
    make_followers(host, max(settings.SPACES_HOST_MIN_FOLLOWERS, 1))
    assert host.time_zone == ""
    page = page_in_new_york(host)
    page.clock.install()

    # The first page guesses the zone: the cookie for every later request, and one POST.
    page.goto("/")
    wait_for_js(page, "document.cookie.includes('tz=America/New_York')")
    assert wait_for_stored_zone(host) == ZONE

    # The form speaks New York time.
    page.goto("/spaces/scheduled/new/")
    label = page.locator("label[for=id_scheduled_for]").inner_text()
    assert label == "When (America/New York time)"
    help_text = page.locator("#id_scheduled_for_helptext").inner_text()
    now = datetime.now(UTC)
    abbreviation = now.astimezone(NEW_YORK).tzname()
    assert f"In your time zone, America/New York, {abbreviation}" in help_text
    assert "UTC" not in page.locator("form.schedule-form").inner_text()

    when = next_round_hour(now, at_least=timedelta(minutes=90))
    page.fill("#id_title", "Coffee in Brooklyn")
    page.fill("#id_scheduled_for", when.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_topics", "Coffee, Cities")
    page.locator("label.choice", has_text="People the host follows").click()
    screenshot(page, "schedule-form-new-york")
    screenshot(page, "schedule-form-new-york", phone=True)
    page.get_by_role("button", name="Schedule").click()

    # Stored at the moment meant, shown back in New York time with the abbreviation.
    page.wait_for_url("**/spaces/scheduled/*/")
    space = Space.objects.get(title="Coffee in Brooklyn")
    assert space.scheduled_for == when.astimezone(UTC)
    stamp = f"{when:%H:%M} {when.tzname()}"
    long_form = f"{when:%A} {when.day} {when:%B %Y}, {stamp}"
    assert page.locator(".profile-meta").get_by_text(long_form).is_visible()
    confirmation = page.locator(".msg-success")
    assert stamp in confirmation.inner_text()

    # The relative time keeps up while the page stays open.
    relative = page.locator(".profile-meta time[data-relative]")
    browser_now = datetime.fromtimestamp(page.evaluate("Date.now()") / 1000, tz=UTC)
    # Written at load, a moment before `browser_now`.
    assert relative.inner_text() in {
        format_relative(space.scheduled_for, now=browser_now - timedelta(seconds=s))
        for s in range(0, 6)
    }
    screenshot(page, "scheduled-detail-new-york")
    screenshot(page, "scheduled-detail-new-york", phone=True)
    before = relative.inner_text()

    page.clock.fast_forward("01:00:00")
    later = browser_now + timedelta(hours=1)
    wait_for_js(
        page,
        f"document.querySelector('.profile-meta time[data-relative]').textContent !== {before!r}",
    )
    after = relative.inner_text()
    assert after != before
    # The tick that ran may be a few seconds past the jump: the text is one of those moments'.
    assert after in {
        format_relative(space.scheduled_for, now=later + timedelta(seconds=s)) for s in range(0, 31)
    }
    # "Your Space is scheduled" was seen: it has left the page.
    wait_for_js(page, "!document.querySelector('.msg-success')")

    # A hidden tab does no work; back in view, the time is brought up to date at once.
    page.evaluate(SET_VISIBILITY, "hidden")
    hidden = relative.inner_text()
    page.clock.fast_forward("02:00:00")
    assert relative.inner_text() == hidden
    page.evaluate(SET_VISIBILITY, "visible")
    assert relative.inner_text() != hidden

    # The list speaks New York time too.
    page.goto("/spaces/scheduled/")
    row = page.locator(".scheduled-row", has_text="Coffee in Brooklyn")
    assert f"{when:%a} {when.day} {when:%b}, {stamp}" in row.inner_text()
    screenshot(page, "scheduled-list-new-york", phone=True)

    # The setting shows the zone that was guessed.
    page.goto("/settings/profile/")
    assert page.locator("#id_time_zone").input_value() == ZONE
    page.locator("#id_time_zone").scroll_into_view_if_needed()
    screenshot(page, "settings-time-zone")
    screenshot(page, "settings-time-zone", phone=True)
    assert console.errors == []


def test_the_ticket_section_and_the_speaking_choices_look_like_the_form(
    page_in_new_york: Any, console: Any
):
    host = UserFactory(username="nyseller", display_name="NY Seller")
    make_followers(
        host, max(settings.SPACES_TICKETED_MIN_FOLLOWERS, settings.SPACES_HOST_MIN_FOLLOWERS)
    )
    host.time_zone = ZONE
    host.save(update_fields=["time_zone"])
    page = page_in_new_york(host)

    page.goto("/spaces/scheduled/new/")
    terms = page.locator(".ticket-terms")
    assert not terms.is_visible()  # hidden by CSS until the box is ticked
    page.get_by_label("Sell tickets").check()
    assert terms.is_visible()
    page.fill("#id_title", "Paid chat")
    when = next_round_hour(datetime.now(UTC), at_least=timedelta(days=1))
    page.fill("#id_scheduled_for", when.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_price", "5.001")
    page.fill("#id_capacity", "50")
    page.fill("#id_guests", "@nobody_at_all")
    page.get_by_role("button", name="Schedule").click()
    page.wait_for_load_state()

    assert page.locator("#id_price_error").inner_text() == "USD prices have 2 decimals."
    assert terms.is_visible()
    page.locator(".ticket-sale").scroll_into_view_if_needed()
    screenshot(page, "schedule-form-tickets-errors")
    screenshot(page, "schedule-form-tickets-errors", phone=True)

    page.fill("#id_price", "5.00")
    page.fill("#id_guests", "")
    page.get_by_role("button", name="Schedule").click()
    page.wait_for_url("**/spaces/scheduled/*/")
    space = Space.objects.get(title="Paid chat")
    assert space.is_ticketed
    assert space.ticket_offer.price == 500
    assert console.errors == []
