"""Two clicks on "Send" (or two sockets) posting the same comment at the same moment, against
real PostgreSQL: one comment, one `comment.added`, every click answered with it. Then the
control: without the author's row lock each click finds nothing committed and posts its own."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from django.db import connection

from spaces.models import Comment
from spaces.services import comments
from tests.concurrency.test_stage_capacity import run_together
from tests.factories import SpaceFactory, join

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CLICKS = 4


@pytest.fixture(autouse=True)
def _fresh_pool() -> None:
    close_pool = getattr(connection, "close_pool", None)
    if close_pool is not None:
        close_pool()


def hold_each_post(monkeypatch: pytest.MonkeyPatch, pause: float) -> list[int]:
    """Count every request that went on to post, and hold it (transaction open) for `pause`."""
    posts: list[int] = []
    check = comments._check_limits

    def check_then_pause(*args: Any, **kwargs: Any) -> None:
        check(*args, **kwargs)
        posts.append(1)
        time.sleep(pause)

    monkeypatch.setattr(comments, "_check_limits", check_then_pause)
    return posts


def post_together(space_id: int, author: Any) -> list[tuple[str, Any]]:
    return run_together(
        [
            lambda: comments.comment_post(user=author, space_id=space_id, text="same words").pk
            for _ in range(CLICKS)
        ]
    )


def test_concurrent_identical_comments_make_one(monkeypatch):
    space = SpaceFactory()
    author = join(space)
    posts = hold_each_post(monkeypatch, pause=0.3)

    results = post_together(space.pk, author)

    assert Counter(kind for kind, _ in results) == {"ok": CLICKS}, results
    assert len({pk for _, pk in results}) == 1
    assert len(posts) == 1
    assert Comment.objects.filter(space=space).count() == 1


def test_control_without_the_authors_lock_each_click_posts(monkeypatch):
    space = SpaceFactory()
    author = join(space)
    monkeypatch.setattr(comments, "_lock_author", lambda me: None)
    posts = hold_each_post(monkeypatch, pause=0.3)

    results = post_together(space.pk, author)

    assert Counter(kind for kind, _ in results)["ok"] == CLICKS, results
    assert len(posts) > 1
    assert Comment.objects.filter(space=space).count() == len(posts)
