"""A double click on "Schedule" in Chromium sends one form (static/js/forms.js
`data-submit-once` disables the button as the form goes) and makes one Space; the server
would make one anyway (tests/scheduling/test_double_submit.py). Screenshots of the sent form
at phone and desktop width; no console error, no CSP violation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings

from spaces.models import Space
from tests.e2e.conftest import screenshot, wait_for_js
from tests.factories import UserFactory, make_followers

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]

BUTTON = "document.querySelector('form.schedule-form button[type=submit]')"
# Counts the submits the page let through (not stopped by forms.js).
COUNT_SUBMITS = """() => {
  window.submitsSent = 0;
  window.addEventListener("submit", (event) => {
    if (!event.defaultPrevented) window.submitsSent += 1;
  });
}"""


def schedule_form(new_page: Any, username: str) -> tuple[Any, Any]:
    host = UserFactory(username=username, display_name="Double Host")
    make_followers(host, max(settings.SPACES_HOST_MIN_FOLLOWERS, 1), prefix=f"{username}-fan-")
    page = new_page(username, host)
    page.goto("/spaces/scheduled/new/")
    wait_for_js(page, "document.readyState === 'complete'")
    when = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    page.fill("#id_title", "Twice clicked")
    page.fill("#id_scheduled_for", when.strftime("%Y-%m-%dT%H:%M"))
    return host, page


def test_the_schedule_button_is_disabled_as_the_form_goes_and_a_second_click_sends_nothing(
    new_page: Any, console: Any
):
    host, page = schedule_form(new_page, "dblform")
    page.evaluate(COUNT_SUBMITS)
    # The server answers "204 No Content": the browser stays on the form, to be looked at.
    posts: list[str] = []

    def no_content(route: Any) -> None:
        posts.append(route.request.method)
        route.fulfill(status=204)

    page.route("**/spaces/scheduled/new/", no_content)

    with page.expect_request(lambda request: request.method == "POST"):
        page.get_by_role("button", name="Schedule").dblclick()
    wait_for_js(page, f"{BUTTON}.disabled")

    assert page.evaluate("window.submitsSent") == 1
    assert posts == ["POST"]
    assert not Space.objects.filter(host=host).exists()  # the server never saw it
    screenshot(page, "schedule-form-sending")
    screenshot(page, "schedule-form-sending", phone=True)
    assert console.errors == []


def test_double_clicking_schedule_sends_one_request_and_makes_one_space(
    new_page: Any, console: Any
):
    host, page = schedule_form(new_page, "dblhost")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)

    page.get_by_role("button", name="Schedule").dblclick()
    page.wait_for_url(re.compile(r"/spaces/scheduled/\d+/$"))

    space = Space.objects.get(host=host)
    assert space.title == "Twice clicked"
    assert page.url.endswith(f"/spaces/scheduled/{space.pk}/")
    assert len(posts) == 1, posts

    # Back to the form from the history: it can be sent again.
    page.go_back()
    page.wait_for_url("**/spaces/scheduled/new/")
    assert page.evaluate(f"{BUTTON}.disabled") is False
    assert console.errors == []
