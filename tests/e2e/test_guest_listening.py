"""Listening signed out (issue 20), in real browsers: a daphne serving the site with the media
embedded, nginx serving the live HLS folder (as tests/e2e/test_live_hls.py), the host speaking
in one Chromium page and a guest with no account in another.

The guest opens the Space page: the room is there read-only, with "Listen" and the sign-in
prompts where reactions, comments and the hand would be. They press Listen: the page opens the
room's socket as a guest and plays the live HLS through hls.js, with no WebRTC connection; the
audio moves on and decodes. The host's page counts the guest among the listeners. When the host
turns guests off, the guest's page goes to sign in. Screenshots at desktop and phone width go to
test-artifacts/screenshots/.
"""

from __future__ import annotations

from typing import Any

import pytest

from spaces.models import Participant, Space
from tests.e2e.conftest import screenshot, wait_for_js
from tests.e2e.test_live_hls import (  # noqa: F401 (fixtures)
    assert_plays_hls,
    base_url,
    host_speaks,
    live_hls,
    watch_fatal,
)
from tests.factories import SpaceFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.media,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]

PROMPT = "Sign in to react, comment or raise your hand"


@pytest.mark.parametrize("base_url", [2000], indirect=True, ids=["guests"])
def test_a_signed_out_visitor_listens_and_the_host_counts_them(new_page: Any, console: Any) -> None:
    host = UserFactory(username="guesthost", display_name="Gia Host")
    space = SpaceFactory(host=host, title="Open to everyone")
    host_page = new_page("host", host)
    guest_page = new_page("guest")  # no account, no cookie
    fatal = watch_fatal(guest_page)
    host_speaks(host_page, space)
    listeners = host_page.locator("#room-count [data-count='listeners']")
    assert listeners.text_content() == "0"

    guest_page.goto(f"/spaces/{space.pk}/")
    assert guest_page.get_by_role("heading", name="Open to everyone").is_visible()
    assert guest_page.locator("#stage-grid").get_by_text("Gia Host").first.is_visible()
    # Where the actions would be: the way in, never a control that would be refused.
    assert guest_page.get_by_role("link", name=PROMPT).first.is_visible()
    assert guest_page.locator("#comment-text").is_disabled()
    assert guest_page.get_by_role("button", name="Request to speak").count() == 0
    assert guest_page.locator("summary[aria-label='React']").count() == 0
    screenshot(guest_page, "space-guest")
    screenshot(guest_page, "space-guest", phone=True)

    listen = guest_page.get_by_role("button", name="Listen")
    listen.click()
    guest_page.get_by_role("button", name="Stop listening").wait_for()
    heard = assert_plays_hls(guest_page)
    assert heard["hls"]["url"].endswith("/index.m3u8"), heard
    assert guest_page.evaluate("window.spaces.client.open"), "the guest's socket is not open"
    assert not Participant.objects.filter(space=space).exclude(user=host).exists()

    # The host's page counts the guest among the listeners (guests.counted), as does the row.
    wait_for_js(
        host_page,
        "document.querySelector(\"#room-count [data-count='listeners']\").textContent === '1'",
        timeout_ms=30_000,
    )
    row = Space.objects.get(pk=space.pk)
    assert (row.guest_count, row.listener_count) == (1, 1)
    screenshot(guest_page, "space-guest-listening")
    screenshot(guest_page, "space-guest-listening", phone=True)
    screenshot(host_page, "space-host-with-guest")
    host_page.locator("#live-controls [data-slot='guests-row']").scroll_into_view_if_needed()
    screenshot(host_page, "space-host-guests-switch")

    # The host turns guests off: the guest's socket closes (4401) and the page goes to sign in.
    host_page.get_by_role("switch", name="Guests can listen").click()
    guest_page.wait_for_url("**/accounts/login/**", timeout=20_000)
    assert not Space.objects.get(pk=space.pk).guests_allowed
    assert fatal == []
    assert console.errors == []
