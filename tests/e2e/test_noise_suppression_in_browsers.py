"""The host's noise-suppression switch (issue 23) in real browsers: the host and a co-host on the
Space page against a real daphne. The host turns it on; the co-host's switch follows live (the
`noise_suppression.changed` event) and turns it off again. Screenshots of the live controls at
phone and desktop width go to test-artifacts/screenshots/. No page may log a console error."""

from __future__ import annotations

from typing import Any

import pytest

from spaces.models import Space
from tests.e2e.conftest import DESKTOP, PHONE, SCREENSHOTS, wait_for_js
from tests.e2e.test_layout import layout_problems
from tests.factories import SpaceFactory, UserFactory, make_cohost

pytestmark = [
    pytest.mark.browser,
    pytest.mark.media,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]

CONNECTED = "!!window.spaces && window.spaces.client.connected"
SWITCH = "#live-controls [data-slot='noise-switch']"


def checked(page: Any, value: str) -> None:
    wait_for_js(
        page, f"document.querySelector(\"{SWITCH}\").getAttribute('aria-checked') === '{value}'"
    )


def controls_shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    bars = "document.querySelectorAll('#room-bar, .topbar, .nav')"
    page.evaluate(f"{bars}.forEach((el) => {{ el.style.visibility = 'hidden'; }})")
    try:
        page.locator("#live-controls").screenshot(
            path=str(SCREENSHOTS / name), animations="disabled"
        )
    finally:
        page.evaluate(f"{bars}.forEach((el) => {{ el.style.visibility = ''; }})")


def test_the_host_turns_noise_suppression_on_and_a_cohost_sees_it_and_turns_it_off(
    new_page, console
) -> None:
    host = UserFactory(username="hana", display_name="Hana Host")
    cohost = UserFactory(username="cora", display_name="Cora Cohost")
    space = SpaceFactory(host=host, title="A noisy stage")
    make_cohost(space, cohost)

    host_page = new_page("host", host)
    cohost_page = new_page("cohost", cohost)
    for page in (host_page, cohost_page):
        page.goto(f"/spaces/{space.pk}/")
        wait_for_js(page, CONNECTED)
        checked(page, "false")

    host_page.get_by_role("switch", name="Noise suppression").click()
    checked(host_page, "true")
    checked(cohost_page, "true")  # the room event, not a reload
    assert Space.objects.get(pk=space.pk).noise_suppression is True

    for size, label in ((DESKTOP, "desktop"), (PHONE, "phone")):
        host_page.set_viewport_size(size)
        problems = [p for p in layout_problems(host_page) if "live-controls" in p]
        assert problems == [], f"{size['width']}px: {problems}"
        controls_shot(host_page, f"noise-suppression-on-{label}.png")

    cohost_page.get_by_role("switch", name="Noise suppression").click()
    checked(cohost_page, "false")
    checked(host_page, "false")
    assert Space.objects.get(pk=space.pk).noise_suppression is False
    assert console.errors == []
