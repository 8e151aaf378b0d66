"""The times in the direct-message inbox and thread keep up while the page stays open, as every
relative time on the site does (static/js/time.js; Playwright's clock moves the page's time)."""

from __future__ import annotations

from typing import Any

import pytest

from accounts import services
from tests.e2e.conftest import wait_for_js
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]


@pytest.mark.parametrize(
    ("path", "selector"),
    [("/messages/", ".dm-convo-top time"), ("/messages/bob/", "time.dm-time")],
)
def test_a_message_time_moves_on_while_the_page_is_open(
    new_page: Any, console: Any, path: str, selector: str
):
    ada = UserFactory(username="ada", display_name="Ada")
    bob = UserFactory(username="bob", display_name="Bob")
    services.direct_message_send(sender=bob, recipient=ada, body="Are you there?")
    page = new_page("ada", ada)
    page.clock.install()

    page.goto(path)
    time = page.locator(selector).first
    before = time.inner_text()
    assert time.get_attribute("data-relative") is not None
    assert "hour" not in before

    page.clock.fast_forward("02:00:00")
    wait_for_js(page, f"document.querySelector({selector!r}).textContent === '2 hours ago'")
    assert time.inner_text() == "2 hours ago"
    assert console.errors == []
