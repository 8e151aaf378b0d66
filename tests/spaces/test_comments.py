"""Comments (spaces/services/comments.py) and the host's live controls (controls.py)."""

from __future__ import annotations

import pytest

from accounts.services import block_create
from spaces import selectors, services
from spaces.models import Comment, ModerationAction, Participant
from spaces_project.errors import ApplicationError
from tests.factories import (
    SpaceFactory,
    UserFactory,
    join,
    make_cohost,
    make_speaker,
    participant,
)
from tests.helpers import assert_error, event_types

pytestmark = pytest.mark.django_db

API = "/api/v1"


def refusal(call) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    with pytest.raises(ApplicationError) as exc:
        call()
    return str(exc.value.code), exc.value.status


@pytest.fixture
def room():
    space = SpaceFactory()
    return space, join(space)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "invalid"),
        ("   \t  ", "invalid"),
        ("x" * 281, "invalid"),
        ("hi\x00there", "invalid_text"),
        ("\x1b[31mred", "invalid_text"),
        ("\ud800", "invalid_text"),
        (12, "invalid_text"),
        (None, "invalid_text"),
        ("<b>bold</b>", "html_not_allowed"),
        ('<img src=x onerror="alert(1)">', "html_not_allowed"),
        ("<script>", "html_not_allowed"),
    ],
)
def test_bad_comments_are_refused_and_nothing_is_stored(room, text, code):
    space, listener = room
    assert refusal(lambda: services.comment_post(user=listener, space_id=space.pk, text=text)) == (
        code,
        400,
    )
    assert not Comment.objects.exists()


def test_plain_text_that_looks_like_markup_is_fine_and_whitespace_is_collapsed(room):
    space, listener = room
    for text in ("I <3 this", "a < b and b > c", "x" * 280):
        services.comment_post(user=listener, space_id=space.pk, text=text)
    spaced = services.comment_post(user=listener, space_id=space.pk, text="  so \n\n  good  ")
    assert spaced.text == "so good"
    assert Comment.objects.count() == 4


def test_mentions_of_people_in_the_space_and_links_become_parts(room):
    space, listener = room
    ana = UserFactory(username="ana_b")
    join(space, ana)
    UserFactory(username="stranger")  # never in the Space: stays text
    comment = services.comment_post(
        user=listener,
        space_id=space.pk,
        text="@Ana_B see https://example.com/x?y=1, not @stranger or javascript:alert(1).",
    )
    assert comment.parts == [
        {"text": "@Ana_B", "mention": ana.pk},
        {"text": " see "},
        {"text": "https://example.com/x?y=1", "url": "https://example.com/x?y=1"},
        {"text": ", not @stranger or javascript:alert(1)."},
    ]
    assert "".join(str(p["text"]) for p in comment.parts) == comment.text


def test_a_comment_reaches_the_room_and_the_snapshot_keeps_the_last_50(room, published, committed):
    space, listener = room
    with committed():
        for n in range(52):
            services.comment_post(user=listener, space_id=space.pk, text=f"n{n}") if n < 10 else (
                Comment.objects.create(space=space, author=listener, text=f"n{n}", parts=[])
            )
    assert event_types(published).count("comment.added") == 10
    shown = selectors.space_detail(viewer=space.host, space_id=space.pk).comments
    assert [c.text for c in shown] == [f"n{n}" for n in range(2, 52)]


def test_comments_of_someone_you_blocked_are_not_in_your_snapshot(room):
    space, listener = room
    other = join(space)
    block_create(blocker=listener, blocked=other)
    services.comment_post(user=other, space_id=space.pk, text="from the blocked")
    services.comment_post(user=space.host, space_id=space.pk, text="from the host")
    mine = selectors.space_detail(viewer=listener, space_id=space.pk).comments
    theirs = selectors.space_detail(viewer=space.host, space_id=space.pk).comments
    assert [c.text for c in mine] == ["from the host"]
    assert len(theirs) == 2


def test_refusals_for_strangers_ended_spaces_and_comments_off(room):
    space, listener = room
    stranger = UserFactory()
    assert refusal(lambda: services.comment_post(user=stranger, space_id=space.pk, text="hi")) == (
        "not_in_space",
        403,
    )
    services.comments_configure(actor=space.host, space_id=space.pk, enabled=False)
    assert refusal(lambda: services.comment_post(user=listener, space_id=space.pk, text="hi")) == (
        "comments_off",
        409,
    )
    services.space_end(actor=space.host, space_id=space.pk)
    assert refusal(lambda: services.comment_post(user=listener, space_id=space.pk, text="hi")) == (
        "space_ended",
        409,
    )
    assert not Comment.objects.exists()


def test_slow_mode_allows_one_comment_per_period_per_person(room):
    space, listener = room
    other = join(space)
    services.comments_configure(actor=space.host, space_id=space.pk, slow_mode_seconds=30)
    services.comment_post(user=listener, space_id=space.pk, text="first")
    with pytest.raises(ApplicationError) as exc:
        services.comment_post(user=listener, space_id=space.pk, text="second")
    assert (exc.value.code, exc.value.status) == ("slow_mode", 429)
    assert 0 < exc.value.retry_after <= 30  # type: ignore[attr-defined]
    services.comment_post(user=other, space_id=space.pk, text="someone else")
    assert Comment.objects.count() == 2


def test_the_flood_limit_counts_every_entry_point(room, settings, client_for):
    settings.SPACES_COMMENT_RATE = "3/min"
    space, listener = room
    for n in range(2):
        services.comment_post(user=listener, space_id=space.pk, text=f"socket {n}")
    api = client_for(listener)
    url = f"{API}/spaces/{space.pk}/comments"
    assert api.post(url, {"text": "api"}, format="json").status_code == 201
    assert_error(api.post(url, {"text": "one more"}, format="json"), 429, "rate_limited")
    assert Comment.objects.count() == 3


def test_deleting_is_for_the_author_and_moderators_and_is_logged(room, published, committed):
    space, listener = room
    other = join(space)
    cohost = make_cohost(space)
    comment = services.comment_post(user=listener, space_id=space.pk, text="hello")
    assert refusal(
        lambda: services.comment_delete(actor=other, space_id=space.pk, comment_id=comment.pk)
    ) == ("not_comment_author", 403)
    with committed():
        services.comment_delete(actor=cohost, space_id=space.pk, comment_id=comment.pk)
        services.comment_delete(actor=cohost, space_id=space.pk, comment_id=comment.pk)
    assert event_types(published).count("comment.deleted") == 1
    comment.refresh_from_db()
    assert comment.deleted_by == cohost
    log = ModerationAction.objects.get(action="comment_deleted")
    assert (log.actor, log.target, log.details["text"]) == (cohost, listener, "hello")
    own = services.comment_post(user=other, space_id=space.pk, text="mine")
    services.comment_delete(actor=other, space_id=space.pk, comment_id=own.pk)
    assert ModerationAction.objects.filter(action="comment_deleted").count() == 1
    elsewhere = SpaceFactory()
    assert refusal(
        lambda: services.comment_delete(actor=space.host, space_id=elsewhere.pk, comment_id=own.pk)
    ) == ("comment_not_found", 404)


def test_the_host_cleans_up_after_the_end(room):
    space, listener = room
    comment = services.comment_post(user=listener, space_id=space.pk, text="hello")
    services.space_end(actor=space.host, space_id=space.pk)
    services.comment_delete(actor=space.host, space_id=space.pk, comment_id=comment.pk)
    assert Comment.objects.get().is_deleted


def test_settings_are_for_moderators_and_range_checked(room):
    space, listener = room
    assert refusal(
        lambda: services.comments_configure(actor=listener, space_id=space.pk, enabled=False)
    ) == ("not_moderator", 403)
    for bad in (-1, 3601):
        assert refusal(
            lambda bad=bad: services.comments_configure(
                actor=space.host, space_id=space.pk, slow_mode_seconds=bad
            )
        ) == ("invalid", 400)
    space.refresh_from_db()
    assert (space.comments_enabled, space.comment_slow_mode_seconds) == (True, 0)


def test_speaking_policy_can_change_while_live(room, published, committed):
    space, listener = room
    with committed():
        services.speaking_policy_set(actor=space.host, space_id=space.pk, policy="invited_only")
        services.speaking_policy_set(actor=space.host, space_id=space.pk, policy="invited_only")
    assert event_types(published).count("speaking_policy.changed") == 1
    assert refusal(lambda: services.speaker_request_create(user=listener, space_id=space.pk)) == (
        "speaking_invite_only",
        403,
    )
    assert refusal(
        lambda: services.speaking_policy_set(actor=listener, space_id=space.pk, policy="everyone")
    ) == ("not_moderator", 403)
    assert refusal(
        lambda: services.speaking_policy_set(actor=space.host, space_id=space.pk, policy="all")
    ) == ("invalid", 400)


def test_a_locked_stage_takes_no_hands_but_invitations_still_work(room):
    space, listener = room
    services.stage_lock_set(actor=space.host, space_id=space.pk, locked=True)
    assert refusal(lambda: services.speaker_request_create(user=listener, space_id=space.pk)) == (
        "stage_locked",
        409,
    )
    assert selectors.space_detail(viewer=listener, space_id=space.pk).can["raise_hand"] is False
    # Bringing someone up from their comment: an invitation.
    invitation, _ = services.invitation_create(
        actor=space.host, space_id=space.pk, invitee_id=listener.pk, kind="speaker"
    )
    services.invitation_accept(user=listener, space_id=space.pk, invitation_id=invitation.pk)
    assert participant(space, listener).role == "speaker"
    services.stage_lock_set(actor=space.host, space_id=space.pk, locked=False)
    other = join(space)
    assert services.speaker_request_create(user=other, space_id=space.pk)[1]


def test_mute_all_mutes_the_stage_but_the_actor_and_the_host(room, published, committed):
    space, _ = room
    services.participant_unmute(actor=space.host, space_id=space.pk, user_id=space.host_id)
    cohost = make_cohost(space)
    services.participant_unmute(actor=cohost, space_id=space.pk, user_id=cohost.pk)
    loud = make_speaker(space, unmuted=True)
    quiet = make_speaker(space)
    with committed():
        muted = services.mute_all(actor=cohost, space_id=space.pk)
        again = services.mute_all(actor=cohost, space_id=space.pk)
    assert [p.user_id for p in muted] == [loud.pk]
    assert again == []
    rows = {p.user_id: p for p in Participant.objects.filter(space=space)}
    assert (rows[loud.pk].is_muted, rows[loud.pk].muted_by_host) == (True, True)
    assert not rows[space.host_id].is_muted
    assert not rows[cohost.pk].is_muted
    assert rows[quiet.pk].is_muted
    assert event_types(published).count("participant.muted") == 1
    # They unmute themselves, as after any host mute.
    services.participant_unmute(actor=loud, space_id=space.pk, user_id=loud.pk)


def test_the_api_posts_lists_and_deletes(room, client_for):
    space, listener = room
    api = client_for(listener)
    url = f"{API}/spaces/{space.pk}/comments"
    made = api.post(url, {"text": "hello @nobody"}, format="json")
    assert made.status_code == 201
    body = made.json()
    assert (body["text"], body["author"]["id"]) == ("hello @nobody", listener.pk)
    for bad in ({}, {"text": 5}, {"text": "x", "extra": 1}, {"text": "<i>x</i>"}):
        assert api.post(url, bad, format="json").status_code == 400
    listed = api.get(url).json()
    assert [c["id"] for c in listed["results"]] == [body["id"]]
    stranger = client_for(UserFactory())
    assert_error(stranger.delete(f"{url}/{body['id']}"), 403, "not_comment_author")
    assert api.delete(f"{url}/{body['id']}").status_code == 204
    assert api.get(url).json()["results"] == []
    host = client_for(space.host)
    settings_url = f"{url}/settings"
    assert host.put(settings_url, {"slow_mode_seconds": 10}, format="json").json() == {
        "comments_enabled": True,
        "slow_mode_seconds": 10,
    }
    assert_error(host.put(settings_url, {}, format="json"), 400, "invalid")
    assert_error(api.put(settings_url, {"enabled": False}, format="json"), 403, "not_moderator")
    lock = host.put(f"{API}/spaces/{space.pk}/stage/lock", {"locked": True}, format="json")
    assert lock.json() == {"locked": True}
    policy = host.put(
        f"{API}/spaces/{space.pk}/speaking-policy",
        {"speaking_policy": "followed_by_host"},
        format="json",
    )
    assert policy.json() == {"speaking_policy": "followed_by_host"}
    assert host.post(f"{API}/spaces/{space.pk}/stage/mute-all").json() == {"muted": []}


def test_the_same_comment_twice_in_a_row_is_one_and_counts_once(room, published, committed):
    space, listener = room
    services.comments_configure(actor=space.host, space_id=space.pk, slow_mode_seconds=60)
    with committed():
        first = services.comment_post(user=listener, space_id=space.pk, text="double click")
        second = services.comment_post(user=listener, space_id=space.pk, text="double click")
    assert first.pk == second.pk
    assert event_types(published).count("comment.added") == 1
    with pytest.raises(ApplicationError) as exc:  # a new text still meets slow mode
        services.comment_post(user=listener, space_id=space.pk, text="another")
    assert exc.value.code == "slow_mode"


def test_comment_settings_with_nothing_to_change_are_refused_by_the_service(room):
    space, _ = room
    assert refusal(lambda: services.comments_configure(actor=space.host, space_id=space.pk)) == (
        "invalid",
        400,
    )
