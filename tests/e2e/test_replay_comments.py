"""A replay's comments in Chromium: listed at their moment beside the player; a comment's time
seeks the player there and the latest comment heard is marked as it plays. No console error."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from spaces import services
from spaces.models import Comment, Recording
from tests.e2e.conftest import screenshot, wait_for_js
from tests.factories import SpaceFactory, UserFactory, make_replay

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]

REPLAY_SECONDS = 12.0
PLAYER = "document.getElementById('replay-audio')"
# (seconds into the Space, author, text)
COMMENTS = (
    (2, "bea", "Hello from the back row!"),
    (5, "lis", "@ada the loops, yes: https://example.com/notes"),
    (9, "bea", "Note G, at last <3"),
)


@pytest.fixture
def world() -> dict[str, Any]:
    host = UserFactory(username="ada", display_name="Ada Lovelace")
    people = {
        "lis": UserFactory(username="lis", display_name="Lis"),
        "bea": UserFactory(username="bea", display_name="Bea Rivers"),
    }
    started = timezone.now().replace(microsecond=0) - timedelta(minutes=3)
    space = SpaceFactory(host=host, title="Notes on the engine", started_at=started)
    for who in people.values():
        services.space_join(user=who, space_id=space.pk)
    for at, name, text in COMMENTS:
        comment = services.comment_post(user=people[name], space_id=space.pk, text=text)
        Comment.objects.filter(pk=comment.pk).update(created_at=started + timedelta(seconds=at))
    services.space_end(actor=host, space_id=space.pk)
    space.refresh_from_db()
    assert make_replay(space, seconds=REPLAY_SECONDS).status == Recording.Status.READY
    return {"space": space, "listener": people["lis"]}


def test_a_comments_time_seeks_the_replay_and_the_latest_heard_is_marked(
    world: dict[str, Any], new_page: Any, console: Any
) -> None:
    page = new_page("listener", world["listener"])
    page.goto(reverse("replay_detail", args=[world["space"].pk]))
    wait_for_js(page, "document.getElementById('replay-root').dataset.player")
    comments = page.locator(".replay-comment")
    assert comments.count() == 3
    # Drawn from its parts: the mention and the link are links, the rest text.
    second = comments.nth(1)
    assert second.locator("a[href='/u/ada/']").inner_text() == "@ada"
    assert second.locator("a[rel~='ugc']").get_attribute("href") == "https://example.com/notes"

    second.get_by_role("button", name="Play from 0:05").click()
    wait_for_js(page, f"{PLAYER}.currentTime > 5.3 && !{PLAYER}.seeking")
    current = page.locator(".replay-comment.is-current")
    assert current.count() == 1
    assert "the loops" in current.inner_text()
    assert current.get_attribute("aria-current") == "true"

    screenshot(page, "replay-comments")
    page.set_viewport_size({"width": 390, "height": 844})
    page.evaluate("document.getElementById('comments').scrollIntoView({block: 'center'})")
    screenshot(page, "replay-comments", phone=True)
    assert console.errors == []
