"""Sharing a Space by direct message, and the inbox, in real browsers.

Linus hosts a live Space and shares it with Grace from the share menu of the Space page, with a
few words; "Copy link" puts the Space's address on his clipboard and says so. Grace sees the
unread badge on Messages, opens the inbox, the conversation, the Space as a card (live, its
title, its host, its listeners) with Linus's words under it, and replies; Linus finds the reply
in his inbox. Screenshots at phone and desktop width; no page may log a console error.
"""

from __future__ import annotations

import pytest

from accounts.models import DirectMessage
from tests.e2e.conftest import PHONE, screenshot, wait_for_js
from tests.factories import SpaceFactory, UserFactory, join

pytestmark = [
    pytest.mark.browser,
    pytest.mark.media,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]

WORDS = "Come listen, they are talking about radio <b>patents</b>!"
REPLY = "On my way. Thanks for the tip!"


def test_a_space_shared_by_message_reaches_the_inbox_and_gets_a_reply(
    new_page, console, base_url
) -> None:
    linus = UserFactory(username="linus", display_name="Linus")
    grace = UserFactory(username="grace", display_name="Grace Hopper")
    space = SpaceFactory(host=linus, title="Frequency hopping, then and now")
    join(space)
    space_url = f"/spaces/{space.pk}/"

    # Grace is on her home page while it happens.
    reader = new_page("grace", grace)
    reader.goto("/")
    wait_for_js(
        reader, "window.spacesFeed && window.spacesFeed.ws && window.spacesFeed.ws.readyState === 1"
    )
    nav = reader.get_by_role("navigation", name="Main").get_by_role("link", name="Messages")
    assert "unread" not in nav.inner_text()

    # Linus shares from the Space page's share menu.
    host = new_page("linus", linus)
    host.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    host.goto(space_url)
    host.locator("#share > summary").click()
    menu = host.locator("#share .share-pop")
    menu.wait_for()

    # Copy link: the Space's address on the clipboard, and a visible confirmation.
    copy = menu.get_by_role("button", name="Copy link")
    copy.click()
    menu.get_by_role("button", name="Link copied").wait_for()
    host.get_by_role("status").filter(has_text="Link copied").first.wait_for()
    assert host.evaluate("navigator.clipboard.readText()") == f"{base_url}{space_url}"
    assert menu.locator("#share-url").input_value() == f"{base_url}{space_url}"

    menu.get_by_label("Send to").fill("@grace")
    menu.get_by_label("Message").fill(WORDS)
    screenshot(host, "share-menu")
    host.set_viewport_size(PHONE)
    screenshot(host, "share-menu", phone=True)
    menu.get_by_role("button", name="Send").click()
    host.get_by_role("status").filter(has_text="Sent to 1 person.").wait_for()
    sent = DirectMessage.objects.get(sender=linus, recipient=grace)
    assert sent.body == WORDS
    assert sent.attachment == {"space_id": space.pk}

    # Grace: the badge on Messages comes without a reload; then the inbox.
    nav.get_by_text("(1 unread)").wait_for()
    reader.reload()
    assert "(1 unread)" in nav.inner_text()
    nav.click()
    reader.wait_for_url("**/messages/")
    row = reader.locator(".dm-convo").filter(has_text="Linus")
    row.wait_for()
    assert "unread" in (row.get_attribute("class") or "")
    assert WORDS[:40] in row.inner_text()
    screenshot(reader, "messages-inbox")
    screenshot(reader, "messages-inbox", phone=True)

    # The thread: the Space as a card, Linus's words as text, then Grace's reply.
    row.get_by_role("link").click()
    reader.wait_for_url("**/messages/linus/")
    card = reader.locator(f'a.dm-space[href="{space_url}"]')
    card.wait_for()
    assert "dm-space-live" in (card.get_attribute("class") or "")
    card_text = card.inner_text()
    assert "LIVE" in card_text
    assert "Frequency hopping, then and now" in card_text
    assert "Hosted by Linus" in card_text
    assert "1 listening" in card_text
    theirs = reader.locator(f"#m{sent.pk} .dm-bubble")
    assert theirs.inner_text() == WORDS
    assert reader.locator(".dm-bubble b").count() == 0  # typed markup stays text
    screenshot(reader, "messages-thread")
    screenshot(reader, "messages-thread", phone=True)

    reader.get_by_label("Message to Linus").fill(REPLY)
    reader.get_by_role("button", name="Send").click()
    reply = DirectMessage.objects.get(sender=grace)
    reader.wait_for_url(f"**/messages/linus/#m{reply.pk}")
    mine = reader.locator(f"#m{reply.pk}")
    mine.wait_for()
    assert "dm-mine" in (mine.get_attribute("class") or "")
    assert mine.locator(".dm-bubble").inner_text() == REPLY
    # Read now: no badge left on Messages.
    assert "unread" not in nav.inner_text()
    screenshot(reader, "messages-thread-replied")

    # The notification quotes Linus's words and leads to the conversation.
    reader.goto("/notifications/")
    quote = reader.locator(".notif-quote").first
    assert quote.inner_text() == WORDS
    link = reader.get_by_role("link", name="shared a Space with you in a message.")
    assert link.get_attribute("href") == f"/messages/linus/#m{sent.pk}"
    screenshot(reader, "notifications-message")
    screenshot(reader, "notifications-message", phone=True)

    # Linus finds the reply in his inbox.
    host.goto("/messages/")
    back = host.locator(".dm-convo").filter(has_text="Grace Hopper")
    back.wait_for()
    assert REPLY in back.inner_text()
    screenshot(host, "messages-inbox-host", phone=True)

    assert console.errors == []


def test_a_thread_draws_every_state_of_a_shared_space_and_refuses_bad_replies(
    new_page, console
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from accounts import services
    from accounts.models import Block
    from spaces.models import Space
    from tests.factories import ended_space

    ada = UserFactory(username="ada", display_name="Ada")
    bob = UserFactory(username="bobby", display_name="Bobby Tables")
    hedy = UserFactory(username="hedy", display_name="Hedy")
    scheduled = SpaceFactory(
        host=hedy,
        title="Spread spectrum, scheduled",
        state=Space.State.SCHEDULED,
        started_at=None,
        scheduled_for=timezone.now() + timedelta(days=3),
    )
    ended = ended_space(host=UserFactory(username="alan"), title="Enigma, last week")
    hidden = SpaceFactory(host=UserFactory(username="mallory"), title="Hidden")
    Block.objects.create(blocker=hidden.host, blocked=ada)
    for space, words in [
        (scheduled, "Set a reminder for this one"),
        (ended, "You missed a good one"),
        (hidden, "And this one"),
    ]:
        services.direct_message_send(
            sender=bob, recipient=ada, body=words, attachment={"space_id": space.pk}
        )
    services.direct_message_send(sender=ada, recipient=bob, body="Thanks!\nI will look.")

    page = new_page("ada", ada)
    page.goto("/messages/bobby/")
    assert page.locator(".dm-space-scheduled").get_attribute("href") == (
        f"/spaces/scheduled/{scheduled.pk}/"
    )
    assert "Spread spectrum, scheduled" in page.locator(".dm-space-scheduled").inner_text()
    assert "ended" in page.locator(".dm-space-ended").inner_text().lower()
    assert "This Space isn\u2019t available." in page.locator(".dm-space-gone").inner_text()
    assert "Hidden" not in page.locator(".dm-list").inner_text()

    # A reply made only of blanks comes back with the error beside the box.
    page.get_by_label("Message to Bobby Tables").fill("   ")
    page.get_by_role("button", name="Send").click()
    error = page.locator(".dm-form .errorlist").get_by_text("This field is required.")
    error.wait_for()
    screenshot(page, "messages-thread-states")
    # Again on a phone: the page opens on the reason and the box, above the tab bar.
    page.set_viewport_size(PHONE)
    page.get_by_label("Message to Bobby Tables").fill(" ")
    page.get_by_role("button", name="Send").click()
    error.wait_for()
    assert error.is_visible()
    assert page.evaluate("document.activeElement.name") == "body"
    screenshot(page, "messages-thread-states", phone=True)

    # Blocked: the history stays, the box is gone, and the page says why.
    Block.objects.create(blocker=ada, blocked=bob)
    page.goto("/messages/bobby/")
    page.get_by_text("You blocked @bobby.").wait_for()
    assert page.get_by_label("Message to Bobby Tables").count() == 0
    screenshot(page, "messages-thread-blocked", phone=True)

    # An empty inbox for someone new.
    newcomer = new_page("newcomer", UserFactory(username="newcomer"))
    newcomer.goto("/messages/")
    newcomer.get_by_text("No messages yet").wait_for()
    screenshot(newcomer, "messages-inbox-empty")
    screenshot(newcomer, "messages-inbox-empty", phone=True)

    assert console.errors == []


def test_the_badges_count_on_live_with_one_screen_reader_count_each(new_page, console) -> None:
    """Unread counts drawn by the server, then bumped by a message arriving on the socket
    (static/js/home.js bumpBadge): each link keeps one "(n unread)", and past 99 the badge
    says 99+ while the words keep the exact number."""
    from accounts import services
    from tests.factories import NotificationFactory

    ada = UserFactory(username="ada", display_name="Ada")
    bob = UserFactory(username="bobby", display_name="Bobby Tables")
    NotificationFactory.create_batch(119, recipient=ada)
    services.direct_message_send(sender=bob, recipient=ada, body="Are you there?")  # +1 each

    reader = new_page("ada", ada)
    reader.goto("/")
    wait_for_js(
        reader, "window.spacesFeed && window.spacesFeed.ws && window.spacesFeed.ws.readyState === 1"
    )
    main_nav = reader.get_by_role("navigation", name="Main")
    bell = main_nav.get_by_role("link", name="Notifications")
    inbox = main_nav.get_by_role("link", name="Messages")

    def unread_words(link) -> list[str]:
        return link.locator(".visually-hidden").filter(has_text="unread").all_inner_texts()

    assert unread_words(bell) == ["(120 unread)"]
    assert unread_words(inbox) == ["(1 unread)"]

    # Bobby writes again, from his browser: the server sends Ada's page the notification.
    writer = new_page("bobby", bob)
    writer.goto("/messages/ada/")
    writer.get_by_label("Message to Ada").fill("Hello again")
    writer.get_by_role("button", name="Send").click()

    bell.get_by_text("(121 unread)").wait_for()
    inbox.get_by_text("(2 unread)").wait_for()
    assert unread_words(bell) == ["(121 unread)"]
    assert unread_words(inbox) == ["(2 unread)"]
    assert bell.locator(".count-badge").inner_text() == "99+"
    assert inbox.locator(".count-badge").inner_text() == "2"
    screenshot(reader, "nav-badges-live")
    assert console.errors == []


def test_the_message_button_on_a_profile_opens_the_thread(new_page, console) -> None:
    ada = UserFactory(username="ada", display_name="Ada Lovelace")
    UserFactory(
        username="grace_hopper",
        display_name="Grace Brewster Hopper",
        bio="Compilers, COBOL and nanoseconds. Ask me about the first actual bug.",
    )
    page = new_page("ada", ada, viewport=PHONE)
    page.goto("/u/grace_hopper/")
    button = page.get_by_role("link", name="Message Grace Brewster Hopper")
    follow = page.get_by_role("button", name="Follow Grace Brewster Hopper")

    screenshot(page, "profile-message-button", phone=True)
    screenshot(page, "profile-message-button")
    # On a phone the header still holds it: on the card, in one row with Follow.
    card = page.locator("article.card").first.bounding_box()
    mine, theirs = button.bounding_box(), follow.bounding_box()
    assert card is not None
    assert mine is not None
    assert theirs is not None
    assert mine["x"] >= card["x"]
    assert theirs["x"] + theirs["width"] <= card["x"] + card["width"]
    assert round(mine["y"]) == round(theirs["y"])
    assert round(mine["height"]) == round(theirs["height"])

    button.click()
    page.wait_for_url("**/messages/grace_hopper/")
    page.get_by_label("Message to Grace Brewster Hopper").wait_for()
    assert console.errors == []
