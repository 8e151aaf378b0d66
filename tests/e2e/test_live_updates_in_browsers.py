"""What the pages draw live, in a real browser: the home page's bubble and "Live now" card for a
Space that starts and ends while it is open, and the seat of a listener who joins while the host
looks. Each is a clone of the server's own include rendered blank in a <template>
(spaces/_bubble.html, spaces/_space_card.html, spaces/_seat.html), filled by static/js with text
and attributes only: names with markup in them must show as text, and the filled forms must work.
"""

from __future__ import annotations

import pytest
from django.conf import settings

from accounts.models import Follow
from spaces.models import Invitation, Space
from tests.e2e.conftest import screenshot
from tests.factories import UserFactory, make_followers

pytestmark = [
    pytest.mark.browser,
    pytest.mark.media,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]


def test_a_card_a_bubble_and_a_seat_are_drawn_live_from_the_server_templates(
    new_page, console
) -> None:
    host = UserFactory(username="hedy", display_name="Hedy <b>Host</b>")
    make_followers(host, settings.SPACES_HOST_MIN_FOLLOWERS)
    fan = UserFactory(username="finn", display_name="Finn Fan")
    Follow.objects.create(follower=fan, followee=host)

    home = new_page("fan at home", fan)
    home.goto("/")
    home.get_by_text("Nobody you follow is live right now").wait_for()
    home.get_by_text("No Spaces are live").wait_for()

    # The host starts a Space: the fan's home page draws its bubble and its card.
    host_page = new_page("host", host)
    host_page.goto("/spaces/new/")
    host_page.get_by_label("What do you want to talk about?").fill("Radios & <i>hopping</i>")
    host_page.locator('[name="topics"]').fill("radio, patents")
    host_page.get_by_role("button", name="Start your Space").click()
    host_page.wait_for_url("**/spaces/*/")
    space = Space.objects.get(host=host, state=Space.State.LIVE)
    href = f"/spaces/{space.pk}/"

    bubble = home.locator(f'#bubbles-region a.bubble[href="{href}"]')
    bubble.wait_for()
    assert bubble.locator(".bubble-name").inner_text() == "Hedy <b>Host</b>"
    assert bubble.locator(".bubble-title").inner_text() == "Radios & <i>hopping</i>"
    assert bubble.locator(".avatar").inner_text() == "H"
    assert bubble.locator(".bubble-name .muted").count() == 0  # nobody else on stage

    card = home.locator(f'#live-grid article.live-card[data-from-feed="{href}"]')
    card.wait_for()
    title = card.locator(f'h3#space-{space.pk}-title a[href="{href}"]')
    assert title.inner_text() == "Radios & <i>hopping</i>"
    assert card.get_attribute("aria-labelledby") == f"space-{space.pk}-title"
    assert card.locator(".topic").all_inner_texts() == ["radio", "patents"]
    assert card.locator(".live-card-host").inner_text().endswith("Hedy <b>Host</b>")
    listen = card.get_by_role("link", name="Listen")
    assert listen.get_attribute("href") == href
    assert listen.get_attribute("aria-describedby") == f"space-{space.pk}-title"
    assert home.locator("#live-empty").is_hidden()
    # Text stayed text: nothing the users typed became an element.
    typed = "#live b, #live-grid b, .bubble-title i, .live-card-title i"
    assert home.locator(typed).count() == 0
    screenshot(home, "home-live-card")

    # A listener joins while the host looks: the host's page draws their seat.
    listener = UserFactory(username="lou", display_name="Lou <i>Listener</i>")
    listener_page = new_page("listener", listener)
    listener_page.goto(href)
    listener_page.get_by_role("button", name="Start listening").click()
    seat = host_page.locator(f'#listener-grid li.seat[data-user-id="{listener.pk}"]')
    seat.wait_for()
    assert seat.get_attribute("data-role") == "listener"
    assert seat.locator(".seat-name").inner_text() == "Lou <i>Listener</i>"
    assert seat.locator(".avatar").inner_text() == "L"
    assert seat.locator(".mic-badge, .seat-role").count() == 0
    seat.locator("summary").click()
    assert seat.locator(".menu-head .handle").inner_text() == "@lou · Listener"
    assert seat.get_by_role("link", name="View profile").get_attribute("href") == "/u/lou/"
    assert seat.get_by_role("button", name="Mute").count() == 0
    assert seat.locator("a[data-report]").get_attribute("data-report") == str(listener.pk)
    # The filled form works: the host invites them from the seat's menu, and they are asked.
    seat.get_by_role("button", name="Invite to speak").click()
    listener_page.locator(".invite-banner", has_text="invited you to speak").wait_for()
    assert Invitation.objects.filter(space=space, invitee_id=listener.pk).count() == 1
    screenshot(host_page, "space-live-seat")

    # The host ends the Space: the bubble and the card go, the empty states come back.
    host_page.locator("#end-confirm summary").click()
    host_page.get_by_role("button", name="End for everyone").click()
    home.get_by_text("Nobody you follow is live right now").wait_for()
    card.wait_for(state="detached")
    home.get_by_text("No Spaces are live").wait_for()

    assert console.errors == []
