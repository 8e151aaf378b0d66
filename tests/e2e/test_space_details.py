"""Details of the Space page that only a browser shows: what appears after joining without a
reload, how the ⋯ menu lays out its words, the font that draws reactions."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from spaces.models import Report
from tests.e2e.conftest import screenshot
from tests.factories import SpaceFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]


def test_after_start_listening_report_is_offered_on_the_page_and_in_the_menu_without_a_reload(
    new_page: Any, console: Any
) -> None:
    api = pytest.importorskip("playwright.sync_api")
    space = SpaceFactory(host=UserFactory(username="ada", display_name="Ada Lovelace"))
    page = new_page("visitor", UserFactory(username="visitor"))
    page.goto(reverse("space_detail", args=[space.pk]))
    page.locator("#room-bar button", has_text="Start listening").wait_for()
    page.evaluate("() => { window.sameDocument = true; }")
    api.expect(page.locator("#report")).to_be_hidden()

    page.locator("#room-bar button", has_text="Start listening").click()

    api.expect(page.locator("#report")).to_be_visible()
    page.locator("details.room-more > summary").click()
    api.expect(page.locator("#report-link")).to_be_visible()
    assert page.evaluate("() => window.sameDocument") is True
    page.locator("details.room-more > summary").click()

    # And the report goes through, from the page the listener joined on.
    page.locator("#report > summary").click()
    page.locator("#report select[name=reason]").select_option(index=1)
    page.locator("#report textarea[name=details]").fill("Shouting over the speakers.")
    screenshot(page, "space-report-form")
    page.locator("#report button[type=submit]").click()
    page.get_by_text("Your report was sent").first.wait_for()
    screenshot(page, "space-report-sent")
    report = Report.objects.get(space=space)
    assert (report.reporter.username, report.details) == ("visitor", "Shouting over the speakers.")
    assert console.errors == []


def test_the_menus_past_spaces_by_the_host_is_one_run_of_words(new_page: Any) -> None:
    space = SpaceFactory(host=UserFactory(username="ada", display_name="Ada Lovelace"))
    page = new_page("listener", UserFactory(username="visitor"))
    page.goto(reverse("space_detail", args=[space.pk]))
    page.locator("details.room-more > summary").click()
    link = page.locator("#host-past-link")
    link.wait_for()
    # The link is a flex row: each child box is a column. The words must be a single one,
    # beside the icon, not "Past Spaces by" in one column and the name in another.
    columns = link.evaluate(
        """(a) => [...a.childNodes].filter((n) =>
            n.nodeType === 1 ? n.tagName.toLowerCase() !== "svg" : n.textContent.trim() !== ""
        ).length"""
    )
    assert columns == 1
    assert link.inner_text().strip() == "Past Spaces by Ada Lovelace"
    screenshot(page, "space-more-menu")


def test_reactions_ask_for_a_colour_emoji_font(new_page: Any) -> None:
    space = SpaceFactory()
    page = new_page("listener", UserFactory(username="visitor"))
    page.goto(reverse("space_detail", args=[space.pk]))
    page.locator("#room-bar button", has_text="Start listening").click()
    button = page.locator(".react-pop button").first
    button.wait_for(state="attached")
    fonts = button.evaluate("(b) => getComputedStyle(b).fontFamily")
    for font in ("Apple Color Emoji", "Segoe UI Emoji", "Noto Color Emoji"):
        assert font in fonts
