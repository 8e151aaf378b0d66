"""The room's comments and the host's live controls in real browsers: Chromium pages for a host,
a speaker and a listener against a real daphne (site, sockets, audio).

The first test walks a Space's conversation in order, each step needing the room the previous
one left: a comment reaches the others live, its mention a working link to the profile and its
URL a safe link; `<b>x</b>` is refused with a clear message and shown to nobody; the host
deletes a comment for everyone; slow mode refuses a second quick comment with a countdown; who
can ask to speak changes the header for everyone; a locked stage disables the listener's hand;
mute all mutes the speaker; the host invites a listener to speak from their comment and they
accept; comments off closes the composer; a comment is reported with its context.

The second looks at the panel with many comments, long words and long links, for a host and a
listener at phone and desktop width: nothing sticks out (tests/e2e/overflow_check.js), the list
keeps its place when the reader scrolled up and offers "New comments". Screenshots go to
test-artifacts/screenshots/. No page may log a console error or throw.
"""

from __future__ import annotations

from typing import Any

import pytest

from spaces.models import Comment, Participant, Report, Space
from spaces.services.comments import comment_parts
from tests.e2e.conftest import DESKTOP, PHONE, SCREENSHOTS, screenshot, wait_for_js
from tests.e2e.test_layout import layout_problems
from tests.factories import SpaceFactory, UserFactory, join, make_speaker

pytestmark = [
    pytest.mark.browser,
    pytest.mark.media,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]

CONNECTED = "!!window.spaces && window.spaces.client.connected"
LONG_WORD = "Supercalifragilisticexpialidocious" * 4
LONG_URL = "https://example.com/" + "very-long-path-segment/" * 5 + "?q=" + "x" * 30


# Resolves after two animation frames: resize observers and scroll handlers have run.
NEXT_FRAMES = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def open_room(page: Any, space: Space) -> None:
    page.goto(f"/spaces/{space.pk}/")
    wait_for_js(page, CONNECTED)


def comment_row(page: Any, text: str) -> Any:
    return page.locator("#comment-list li.comment", has_text=text)


def panel_problems(page: Any) -> list[str]:
    """What sticks out of the comments panel or the live controls. A word longer than the whole
    list is wide (LONG_WORD) has to break somewhere: that one is meant."""
    return [
        p
        for p in layout_problems(page)
        if ("comment" in p or "live-controls" in p)
        and not ("comment-text" in p and f"“{LONG_WORD}”" in p)
    ]


def element_shot(page: Any, selector: str, name: str, *, phone: bool) -> None:
    """One part of the page, whole: the room's sticky bar (and the phone's tab bar) would
    cover its bottom, so they step aside for the picture."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{'phone' if phone else 'desktop'}.png"
    bars = "document.querySelectorAll('#room-bar, .topbar, .nav')"
    page.evaluate(f"{bars}.forEach((el) => {{ el.style.visibility = 'hidden'; }})")
    try:
        page.locator(selector).screenshot(path=str(path), animations="disabled")
    finally:
        page.evaluate(f"{bars}.forEach((el) => {{ el.style.visibility = ''; }})")


def say(page: Any, text: str) -> None:
    box = page.get_by_role("textbox", name="Add a comment")
    box.fill(text)
    box.press("Enter")


def test_comments_and_live_controls_between_a_host_a_speaker_and_a_listener(
    new_page, console
) -> None:
    host = UserFactory(username="hana", display_name="Hana Host")
    speaker = UserFactory(username="sam", display_name="Sam Speaker")
    listener = UserFactory(username="lena", display_name="Lena Listener")
    space = SpaceFactory(host=host, title="Comments, live")
    make_speaker(space, speaker, unmuted=True)
    join(space, listener)

    host_page = new_page("host", host)
    speaker_page = new_page("speaker", speaker)
    listener_page = new_page("listener", listener)
    for page in (host_page, speaker_page, listener_page):
        open_room(page, space)

    # 1. A comment reaches everyone live: the mention links to the profile, the URL is a safe
    # link, and the text that only looks like a link stays text.
    say(listener_page, "@sam look at https://example.com/notes?x=1&y=2 or javascript:alert(1)")
    row = comment_row(host_page, "look at")
    row.wait_for()
    comment_row(speaker_page, "look at").wait_for()
    assert row.locator(".comment-author").inner_text() == "Lena Listener"
    assert row.locator(".comment-handle").inner_text() == "@lena"
    links = row.locator(".comment-text a")
    assert links.count() == 2
    mention = row.get_by_role("link", name="@sam")
    assert mention.get_attribute("href") == "/u/sam/"
    url = row.get_by_role("link", name="https://example.com/notes?x=1&y=2")
    assert url.get_attribute("href") == "https://example.com/notes?x=1&y=2"
    assert url.get_attribute("rel") == "noopener nofollow ugc"
    assert url.get_attribute("target") == "_blank"
    assert "javascript:alert(1)" in row.locator(".comment-text").inner_text()
    profile = host_page.request.get(mention.get_attribute("href"))
    assert profile.ok
    assert "Sam Speaker" in profile.text()
    # The author's own page drew it too, and emptied the box.
    comment_row(listener_page, "look at").wait_for()
    assert listener_page.get_by_role("textbox", name="Add a comment").input_value() == ""
    first = Comment.objects.get(author=listener)

    # 2. HTML is refused with the reason, kept in the box to fix, and shown to nobody.
    say(listener_page, "<b>x</b>")
    listener_page.locator("#comment-error", has_text="Comments are plain text").wait_for()
    assert listener_page.get_by_role("textbox", name="Add a comment").input_value() == "<b>x</b>"
    assert listener_page.locator("#comment-count").inner_text() == "8/280"
    assert Comment.objects.filter(text__contains="<b>").count() == 0
    assert host_page.locator("#comment-list b").count() == 0
    assert comment_row(host_page, "<b>x</b>").count() == 0
    listener_page.get_by_role("textbox", name="Add a comment").fill("")

    # 3. The host deletes the comment for everyone, from its menu.
    row.locator("summary.comment-more").click()
    row.get_by_role("button", name="Delete comment").click()
    for page in (host_page, speaker_page, listener_page):
        comment_row(page, "look at").wait_for(state="detached")
    first.refresh_from_db()
    assert first.deleted_by == host

    # 4. Slow mode: a second quick comment is refused with a countdown.
    host_page.get_by_label("Slow mode").select_option("30")
    host_page.get_by_role("button", name="Set slow mode").click()
    listener_page.locator("#comment-note", has_text="one comment every 30 s").wait_for()
    listener_page.locator("#comments-mode", has_text="Slow mode").wait_for()
    say(listener_page, "first of two")
    comment_row(host_page, "first of two").wait_for()
    say(listener_page, "second of two")
    listener_page.locator("#comment-error", has_text="you can comment again in").wait_for()
    wait = listener_page.locator("#comment-wait")
    assert wait.is_visible()
    seconds = int(wait.inner_text().split()[0])
    assert 0 < seconds <= 30
    wait_for_js(
        listener_page,
        f"parseInt(document.getElementById('comment-wait').textContent) < {seconds}",
    )
    assert listener_page.locator(".comment-send").is_disabled()
    # The server says the same to a page that forgot its own countdown: 429 slow_mode.
    listener_page.evaluate(
        "window.spaces.page.comments.waitUntil = 0; window.spaces.page.comments.paintSend()"
    )
    say(listener_page, "third try")
    listener_page.locator("#comment-error", has_text="you can comment again in").wait_for()
    assert list(
        Comment.objects.filter(author=listener, deleted_at=None).values_list("text", flat=True)
    ) == ["first of two"]
    element_shot(listener_page, "#comments", "comments-slow-mode", phone=False)
    host_page.get_by_label("Slow mode").select_option("0")
    host_page.get_by_role("button", name="Set slow mode").click()
    listener_page.locator("#comments-mode").wait_for(state="hidden")
    # Slow mode off: the countdown ends at once.
    listener_page.locator("#comment-wait").wait_for(state="hidden")
    assert listener_page.locator(".comment-send").is_enabled()

    # 5. Who can ask to speak: the header says it for everyone; the listener's hand goes.
    listener_page.get_by_role("button", name="Request to speak").wait_for()
    host_page.get_by_label("Who can ask to speak").select_option("invited_only")
    host_page.get_by_role("button", name="Set who can ask to speak").click()
    listener_page.locator("#speaking-policy", has_text="Speakers by invitation").wait_for()
    speaker_page.locator("#about-speaking", has_text="Only people invited to speak").wait_for()
    listener_page.get_by_role("button", name="Request to speak").wait_for(state="detached")
    host_page.get_by_label("Who can ask to speak").select_option("everyone")
    host_page.get_by_role("button", name="Set who can ask to speak").click()
    listener_page.get_by_role("button", name="Request to speak").wait_for()

    # 6. A locked stage disables the listener's hand, and says why.
    host_page.get_by_role("switch", name="Lock stage").click()
    locked = listener_page.get_by_role("button", name="Request to speak: the host locked the stage")
    locked.wait_for()
    assert locked.is_disabled()
    assert listener_page.locator("#stage-lock-note").is_visible()
    assert (
        host_page.get_by_role("switch", name="Lock stage").get_attribute("aria-checked") == "true"
    )
    space.refresh_from_db()
    assert space.stage_locked
    screenshot(listener_page, "comments-stage-locked", phone=True)
    host_page.get_by_role("switch", name="Lock stage").click()
    listener_page.get_by_role("button", name="Request to speak", exact=True).wait_for()
    assert listener_page.locator("#stage-lock-note").is_hidden()

    # 7. Mute all: the speaker's mic goes off (as a host's mute: theirs to turn on again).
    speaker_page.get_by_role("button", name="Mic on: turn it off").wait_for()
    host_page.locator("#mute-all-confirm summary").click()
    host_page.get_by_role("button", name="Mute all speakers").click()
    speaker_page.get_by_role("button", name="Mic off (muted by the host): turn it on").wait_for()
    assert Participant.objects.get(space=space, user=speaker).is_muted
    host_page.get_by_text("You muted 1 person on stage.").wait_for()

    # 8. From a listener's comment, the host invites them to speak; they accept.
    say(listener_page, "Can I add something?")
    ask = comment_row(host_page, "Can I add something?")
    ask.wait_for()
    ask.locator("summary.comment-more").click()
    ask.get_by_role("button", name="Invite Lena Listener to speak").click()
    listener_page.locator(".invite-banner", has_text="invited you to speak").wait_for()
    listener_page.get_by_role("button", name="Accept").click()
    host_page.locator(
        f'#stage-grid li[data-user-id="{listener.pk}"][data-role="speaker"]'
    ).wait_for()
    assert Participant.objects.get(space=space, user=listener).role == Participant.Role.SPEAKER
    # On stage, their comment offers no invitation any more.
    ask.locator("summary.comment-more").click()
    assert ask.get_by_role("button", name="Invite Lena Listener to speak").count() == 0

    # 9. The speaker reports the comment: the report form opens about it.
    theirs = comment_row(speaker_page, "Can I add something?")
    theirs.locator("summary.comment-more").click()
    theirs.get_by_role("link", name="Report comment").click()
    about = speaker_page.locator("#report-comment")
    about.wait_for()
    assert "Lena Listener" in about.inner_text()
    speaker_page.locator("#report").get_by_label("What is wrong?").select_option("spam")
    speaker_page.get_by_role("button", name="Send report").click()
    speaker_page.get_by_text("Your report was sent").wait_for()
    report = Report.objects.get(reporter=speaker)
    assert report.comment is not None
    assert report.comment.text == "Can I add something?"
    assert report.target_id == listener.pk

    # 10. Comments off: the composer closes for everyone, and says why.
    host_page.get_by_role("switch", name="Comments").click()
    listener_page.locator("#comment-note", has_text="The host turned comments off.").wait_for()
    assert listener_page.get_by_role("textbox", name="Add a comment").is_disabled()
    element_shot(host_page, "#live-controls", "comments-controls-off", phone=False)
    element_shot(listener_page, "#comments", "comments-off", phone=False)
    host_page.get_by_role("switch", name="Comments").click()
    listener_page.get_by_role("textbox", name="Add a comment").wait_for(state="visible")
    wait_for_js(listener_page, "!document.getElementById('comment-text').disabled")

    assert console.errors == []


def test_many_comments_long_words_and_links_look_finished(new_page, console) -> None:
    host = UserFactory(username="ada_lovelace", display_name="Ada Lovelace")
    speaker = UserFactory(username="margaret_hamilton", display_name="Margaret Hamilton")
    listener = UserFactory(username="grace_hopper", display_name="Grace Brewster Murray Hopper")
    space = SpaceFactory(host=host, title="Software engineering, the first fifty years")
    make_speaker(space, speaker)
    join(space, listener)
    texts = [
        "Welcome everyone, glad you are here.",
        f"@margaret_hamilton the notes: {LONG_URL}",
        LONG_WORD,
        "Short one.",
        "A longer thought about the guidance computer and how the team tested the code by "
        "hand, then wove it into rope memory, one bit at a time.",
    ]
    for i in range(30):
        # Stored as the service stores them, without spending the authors' comment limits
        # (10 a minute each, shared with the server through the cache): the speaker comments
        # again below.
        text = f"{texts[i % len(texts)]} #{i}"
        Comment.objects.create(
            space=space,
            author=(host, speaker, listener)[i % 3],
            text=text,
            parts=comment_parts(text, space=space),
        )

    host_page = new_page("host", host)
    listener_page = new_page("listener", listener, viewport=PHONE)
    speaker_page = new_page("speaker", speaker)
    for page in (host_page, listener_page, speaker_page):
        open_room(page, space)
    for page, who in ((host_page, "host"), (listener_page, "listener")):
        assert page.locator("#comment-list li.comment").count() == 30
        # The latest is in view at the bottom of the list.
        wait_for_js(page, "window.spaces.page.comments.atBottom()")
        for size, phone in ((DESKTOP, False), (PHONE, True)):
            page.set_viewport_size(size)
            page.locator("#comments").scroll_into_view_if_needed()
            problems = panel_problems(page)
            assert problems == [], f"{who} at {size['width']}px: {problems}"
            screenshot(page, f"comments-many-{who}", phone=phone)
            element_shot(page, "#comments", f"comments-panel-{who}", phone=phone)

    # The listener scrolled up to read: a new comment does not move the list; a pill says so.
    listener_page.set_viewport_size(PHONE)
    # Let the resize settle first (the list keeps to its bottom on a resize), then scroll up.
    listener_page.evaluate(NEXT_FRAMES)
    listener_page.evaluate("document.getElementById('comment-list').scrollTop = 0")
    listener_page.evaluate(NEXT_FRAMES)
    wait_for_js(listener_page, "!window.spaces.page.comments.atBottom()")
    say(speaker_page, "Something new")
    pill = listener_page.get_by_role("button", name="1 new comment")
    pill.wait_for()
    assert listener_page.evaluate("document.getElementById('comment-list').scrollTop") == 0
    element_shot(listener_page, "#comments", "comments-new-pill", phone=True)
    pill.click()
    wait_for_js(listener_page, "window.spaces.page.comments.atBottom()")
    pill.wait_for(state="hidden")
    # At the bottom, the next one scrolls into view by itself.
    say(speaker_page, "And another")
    comment_row(listener_page, "And another").wait_for()
    wait_for_js(listener_page, "window.spaces.page.comments.atBottom()")
    assert pill.is_hidden()

    # The host's controls, and a comment's menu open, at both widths.
    row = comment_row(host_page, "glad you are here. #20")
    row.locator("summary.comment-more").click()
    for size, phone in ((DESKTOP, False), (PHONE, True)):
        host_page.set_viewport_size(size)
        problems = panel_problems(host_page)
        assert problems == [], f"host at {size['width']}px: {problems}"
        row.scroll_into_view_if_needed()
        element_shot(host_page, "#comments", "comments-host-menu", phone=phone)
        element_shot(host_page, "#live-controls", "comments-live-controls", phone=phone)

    assert console.errors == []
