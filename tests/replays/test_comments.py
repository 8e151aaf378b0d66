"""A Space's comments on its replay's clock: the API (`GET spaces/<id>/replay/comments`) and the
replay page's list, each comment where it was posted; no deleted ones, none of people the viewer
blocked (replays/selectors.py `replay_comments`, `place_comments`)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from replays import selectors, services
from spaces.models import Comment, Recording, Space
from tests.factories import BlockFactory, UserFactory, ended_space, make_replay
from tests.helpers import assert_error
from tests.replays.conftest import REPLAY_SECONDS

pytestmark = pytest.mark.django_db

API = "/api/v1"
DURATION_MS = int(REPLAY_SECONDS * 1000)


def comments_url(space: Space) -> str:
    return f"{API}/spaces/{space.pk}/replay/comments"


def say(
    space: Space, who: User, text: str, at: datetime, *, parts: list | None = None, deleted=False
) -> Comment:
    comment = Comment.objects.create(
        space=space, author=who, text=text, parts=parts or [{"text": text}]
    )
    Comment.objects.filter(pk=comment.pk).update(created_at=at, deleted_at=at if deleted else None)
    comment.refresh_from_db()
    return comment


def start_of(space: Space) -> datetime:
    assert space.started_at is not None
    return space.started_at


def test_comments_come_on_the_replays_clock_oldest_first(client_for, ended, listener):
    t0 = start_of(ended)
    bob = UserFactory(username="bob", display_name="Bob")
    before = say(ended, bob, "before the recording", t0 - timedelta(seconds=20))
    first = say(ended, bob, "three seconds in", t0 + timedelta(seconds=3))
    second = say(ended, listener, "seven and a half", t0 + timedelta(milliseconds=7500))
    after = say(ended, bob, "after it ended", t0 + timedelta(minutes=2))

    response = client_for(listener).get(comments_url(ended))

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["id"], r["at_ms"]) for r in rows] == [
        (before.pk, 0),  # where the replay begins
        (first.pk, 3000),
        (second.pk, 7500),
        (after.pk, DURATION_MS),  # at the end
    ]
    assert rows[1]["author"]["username"] == "bob"
    assert rows[1]["text"] == "three seconds in"
    assert rows[1]["parts"] == [{"text": "three seconds in"}]


def test_deleted_comments_and_those_of_people_you_blocked_are_left_out(client_for, ended, listener):
    t0 = start_of(ended)
    bob, carol, dave = UserFactory(), UserFactory(), UserFactory()
    say(ended, bob, "deleted", t0 + timedelta(seconds=1), deleted=True)
    say(ended, carol, "blocked by the viewer", t0 + timedelta(seconds=2))
    shown = say(ended, dave, "blocked the viewer: still shown, as live", t0 + timedelta(seconds=3))
    BlockFactory(blocker=listener, blocked=carol)
    BlockFactory(blocker=dave, blocked=listener)

    rows = client_for(listener).get(comments_url(ended)).json()["results"]

    assert [r["id"] for r in rows] == [shown.pk]


def test_comments_page_by_cursor(client_for, ended, listener):
    t0 = start_of(ended)
    made = [say(ended, listener, f"c{n}", t0 + timedelta(seconds=n)) for n in range(5)]
    client = client_for(listener)

    page = client.get(comments_url(ended), {"page_size": 2}).json()
    seen = [r["id"] for r in page["results"]]
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [r["id"] for r in page["results"]]

    assert seen == [c.pk for c in made]


def test_a_gap_in_the_recording_puts_its_comments_where_the_replay_resumes(ended):
    recording = Recording.objects.get(space=ended)
    start = start_of(ended).timestamp()
    # Two parts of 4 s with a minute between them (nobody on the media worker).
    recording.timeline = [
        {"name": "a", "wall_start": start, "offset_ms": 0, "duration_ms": 4000},
        {"name": "b", "wall_start": start + 64, "offset_ms": 4000, "duration_ms": 4000},
    ]
    recording.duration_ms = 8000
    t0 = start_of(ended)
    comments = [
        say(ended, ended.host, "in a", t0 + timedelta(seconds=1)),
        say(ended, ended.host, "in the gap", t0 + timedelta(seconds=30)),
        say(ended, ended.host, "in b", t0 + timedelta(seconds=66)),
    ]

    placed = selectors.place_comments(recording, comments)

    assert [p.at_ms for p in placed] == [1000, 4000, 6000]


def test_the_comments_answer_as_the_replay_does(client_for, host, listener, live):
    client = client_for(listener)
    assert_error(client.get(f"{API}/spaces/999999/replay/comments"), 404, "space_not_found")
    assert client.get(f"{API}/spaces/{2**70}/replay/comments").status_code == 404
    assert_error(client.get(comments_url(ended_space(host=host))), 404, "replay_not_found")
    assert_error(client.get(comments_url(live)), 409, "replay_not_ready")
    assert_error(Client().get(comments_url(live)), 401, "not_authenticated")
    ticketed = ended_space(host=host, is_ticketed=True)
    make_replay(ticketed, seconds=2.0)
    assert_error(client.get(comments_url(ticketed)), 403, "ticket_required")
    BlockFactory(blocker=host, blocked=listener)
    mine = ended_space(host=host)
    make_replay(mine, seconds=2.0)
    assert_error(client.get(comments_url(mine)), 404, "space_not_found")


def test_a_deleted_replay_has_no_comments(client_for, ended, listener):
    services.replay_delete(actor=ended.host, space_id=ended.pk)
    assert_error(client_for(listener).get(comments_url(ended)), 410, "replay_deleted")


@pytest.mark.parametrize(
    "query", [{"page_size": "x"}, {"cursor": "garbage\x00"}, {"page_size": -1}]
)
def test_bad_paging_is_not_a_500(client_for, ended, listener, query):
    response = client_for(listener).get(comments_url(ended), query)
    assert response.status_code in (200, 404)


def test_the_replay_names_its_comments_url(client_for, ended, listener):
    body = client_for(listener).get(f"{API}/spaces/{ended.pk}/replay").json()
    assert body["comments_url"] == comments_url(ended)


# --- The replay page ----------------------------------------------------------------------------


def page(space: Space, viewer: User) -> str:
    client = Client()
    client.force_login(viewer)
    response = client.get(reverse("replay_detail", args=[space.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_lists_comments_at_their_moment_each_time_a_seek(ended, listener):
    t0 = start_of(ended)
    ana = UserFactory(username="ana", display_name="Ana")
    say(
        ended,
        ana,
        "@lis look: https://example.com <3 & more",
        t0 + timedelta(seconds=3),
        parts=[
            {"text": "@lis", "mention": listener.pk},
            {"text": " look: "},
            {"text": "https://example.com", "url": "https://example.com"},
            {"text": " <3 & more"},
        ],
    )
    say(ended, ana, "gone", t0 + timedelta(seconds=4), deleted=True)
    say(ended, ana, "five in", t0 + timedelta(seconds=5))

    body = page(ended, listener)

    items = re.findall(r'<li class="replay-comment" data-at="([\d.]+)" data-end="([\d.]+)">', body)
    assert items == [("3.000", "5.000"), ("5.000", "15.000")]
    assert re.search(
        r'<button type="button" class="replay-comment-time" data-seek="3\.000"[^>]*>0:03</button>',
        body,
    )
    assert '<a href="/u/lis/">@lis</a>' in body
    assert (
        '<a href="https://example.com" rel="noopener nofollow ugc" target="_blank">https://example.com</a>'
        in body
    )
    assert " &lt;3 &amp; more" in body
    assert "gone" not in body
    assert re.search(r'id="comments-title">Comments</h2><span class="muted small">2</span>', body)


def test_the_page_leaves_out_blocked_authors_and_says_when_nobody_commented(ended, listener):
    carol = UserFactory()
    say(ended, carol, "blocked words", start_of(ended) + timedelta(seconds=1))
    BlockFactory(blocker=listener, blocked=carol)

    body = page(ended, listener)

    assert "blocked words" not in body
    assert "Nobody commented." in body


def test_the_page_lists_a_bounded_number(ended, listener, monkeypatch):
    monkeypatch.setattr(selectors, "PAGE_COMMENTS", 3)
    monkeypatch.setattr(
        selectors.replay_comments_page, "__kwdefaults__", {"limit": selectors.PAGE_COMMENTS}
    )
    t0 = start_of(ended)
    for n in range(5):
        say(ended, listener, f"c{n}", t0 + timedelta(seconds=n))

    body = page(ended, listener)

    assert body.count('class="replay-comment"') == 3
    assert "The first 3 of 5 comments." in body
