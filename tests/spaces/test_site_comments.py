"""The room's comments and the host's live controls on the site: drawn by the server (the page
works without JavaScript), each a plain POST form calling the service the socket and the API
call, refusals said as the page's other forms say them, and nothing stored when refused."""

from __future__ import annotations

import re

import pytest

from accounts.services import block_create
from spaces import services
from spaces.models import Comment, ModerationAction, Participant, Report, Space
from tests.factories import (
    SpaceFactory,
    UserFactory,
    fresh,
    join,
    make_cohost,
    make_speaker,
    participant,
)
from tests.spaces.test_site import (
    _count,
    action_urls,
    client_for,
    embedded_state,
    messages_of,
    page,
    url,
)

pytestmark = pytest.mark.django_db

Role = Participant.Role


@pytest.fixture
def roles(space):
    """One person in each role of the Space (the names tests/spaces/test_site.py uses)."""
    return {
        "host": space.host,
        "cohost": make_cohost(space, UserFactory(username="cohostess")),
        "speaker": make_speaker(space, UserFactory(username="speakerine")),
        "listener": join(space, UserFactory(username="lissy")),
    }


def comment_rows(body: str) -> list[str]:
    """The comments the page drew, in order (the blank one of the template left out)."""
    listing = re.search(r'<ol class="comment-list" id="comment-list"[^>]*>(.*?)</ol>', body, re.S)
    assert listing, "the page has its comment list"
    return re.findall(
        r"<li class=\"comment[^\"]*\" data-comment-id=.*?</li>", listing.group(1), re.S
    )


def post_comment(user, space: Space, text: str, **extra: str):  # type: ignore[no-untyped-def]
    return client_for(user).post(url("space_comment_post", space), {"text": text, **extra})


# --- The page ---------------------------------------------------------------------------------


def test_the_page_draws_comments_oldest_first_with_mentions_and_safe_links(space, roles):
    lis = roles["listener"]
    services.comment_post(user=roles["host"], space_id=space.pk, text="Welcome all")
    services.comment_post(
        user=lis,
        space_id=space.pk,
        text="@speakerine see https://example.com/a?b=1&c=2 and javascript:alert(1)",
    )
    body = page(roles["speaker"], space)
    rows = comment_rows(body)
    assert len(rows) == 2
    assert "Welcome all" in rows[0]
    later = rows[1]
    assert '<a class="mention" href="/u/speakerine/">@speakerine</a>' in later
    assert (
        '<a class="comment-link" href="https://example.com/a?b=1&amp;c=2" '
        'rel="noopener nofollow ugc" target="_blank">https://example.com/a?b=1&amp;c=2</a>'
    ) in later
    assert 'href="javascript' not in later
    assert "javascript:alert(1)" in later  # as text
    assert [c["text"] for c in embedded_state(body)["comments"]] == [
        "Welcome all",
        "@speakerine see https://example.com/a?b=1&c=2 and javascript:alert(1)",
    ]


def test_a_comment_that_looks_like_html_is_never_drawn_as_html(space, roles):
    # Tags are refused by the service; what gets through (a lone "<", quotes) is escaped text.
    services.comment_post(user=roles["listener"], space_id=space.pk, text='a < b & "c" <3')
    row = comment_rows(page(roles["host"], space))[0]
    assert "a &lt; b &amp; &quot;c&quot; &lt;3" in row


def test_the_page_offers_the_composer_to_anyone_in_the_space(space, roles):
    body = page(roles["listener"], space)
    assert url("space_comment_post", space) in action_urls(body)
    assert re.search(r'<input id="comment-text" name="text"[^>]*required', body, re.S)


def test_a_visitor_not_in_the_space_sees_the_comments_and_is_told_to_join(space, roles, user):
    services.comment_post(user=roles["listener"], space_id=space.pk, text="hello room")
    body = page(user, space)
    assert len(comment_rows(body)) == 1
    assert re.search(r'<input id="comment-text"[^>]*disabled', body, re.S)
    assert "Join the Space to comment." in body


def test_with_comments_off_the_composer_says_why(space, roles):
    services.comments_configure(actor=roles["host"], space_id=space.pk, enabled=False)
    body = page(roles["listener"], space)
    assert "The host turned comments off." in body
    assert re.search(r'<input id="comment-text"[^>]*disabled', body, re.S)


def test_comment_actions_each_role_is_offered(space, roles):
    lis, speaker = roles["listener"], roles["speaker"]
    mine = services.comment_post(user=lis, space_id=space.pk, text="from the audience")
    theirs = services.comment_post(user=speaker, space_id=space.pk, text="from the stage")
    delete_mine = url("space_comment_delete", space, mine.pk)
    delete_theirs = url("space_comment_delete", space, theirs.pk)

    urls = action_urls(page(lis, space))
    assert delete_mine in urls
    assert delete_theirs not in urls
    assert url("space_invite", space) not in urls
    body = page(lis, space)
    assert f"?report_comment={theirs.pk}#report" in body
    assert f"?report_comment={mine.pk}#report" not in body

    host_body = page(roles["host"], space)
    urls = action_urls(host_body)
    assert {delete_mine, delete_theirs} <= urls
    # Invite to speak: on the listener's comment, not on the speaker's (already on stage).
    host_rows = comment_rows(host_body)
    assert url("space_invite", space) in host_rows[0]
    assert f'name="user_id" value="{lis.pk}"' in host_rows[0]
    assert url("space_invite", space) not in host_rows[1]


def test_the_comments_of_someone_you_blocked_are_not_on_your_page(space, roles):
    lis = roles["listener"]
    services.comment_post(user=roles["speaker"], space_id=space.pk, text="you will not see me")
    block_create(blocker=lis, blocked=roles["speaker"])
    assert comment_rows(page(lis, space)) == []


def test_live_controls_are_for_the_host_and_cohosts_only(space, roles):
    names = (
        "space_comments_settings",
        "space_speaking_policy",
        "space_stage_lock",
        "space_mute_all",
    )
    for who in ("host", "cohost"):
        urls = action_urls(page(roles[who], space))
        assert all(url(n, space) in urls for n in names), who
    for who in ("speaker", "listener"):
        body = page(roles[who], space)
        assert not any(url(n, space) in action_urls(body) for n in names), who
        assert "Live controls" not in body.split('<template id="live-controls-template">')[0]


# --- Posting and deleting -----------------------------------------------------------------------


def test_a_listener_posts_a_comment_and_is_brought_back_to_the_comments(space, roles):
    response = post_comment(roles["listener"], space, "  Hello   @cohostess  ")
    assert messages_of(response) == ["Your comment is posted."]
    assert response.redirect_chain[-1][0].endswith(f"/spaces/{space.pk}/#comments")
    comment = Comment.objects.get()
    assert comment.text == "Hello @cohostess"
    assert comment.parts[1] == {"text": "@cohostess", "mention": roles["cohost"].pk}
    assert "Hello" in comment_rows(response.content.decode())[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "A comment needs text."),
        ("   \t ", "A comment needs text."),
        ("x" * 281, "The comment is too long."),
        ("bell\x07", "Contains control characters."),
        ("nul\x00", "Contains control characters."),
        ("<b>x</b>", "Comments are plain text: no HTML tags."),
        ('<a href="https://example.com">x</a>', "Comments are plain text: no HTML tags."),
    ],
)
def test_bad_comments_are_refused_with_a_clear_message_and_nothing_stored(
    space, roles, text, message
):
    response = post_comment(roles["listener"], space, text)
    assert response.status_code == 200
    [said] = messages_of(response)
    assert message in said
    assert not Comment.objects.exists()


def test_a_form_without_text_is_refused(space, roles):
    response = client_for(roles["listener"]).post(url("space_comment_post", space), {})
    assert messages_of(response) == ["A comment needs text."]
    assert not Comment.objects.exists()


def test_a_double_submit_of_one_form_is_one_comment(space, roles):
    c = client_for(roles["listener"])
    form = {"text": "only once"}
    first = c.post(url("space_comment_post", space), form)
    second = c.post(url("space_comment_post", space), form)
    assert messages_of(first) == ["Your comment is posted."]
    assert messages_of(second) == ["Your comment is posted."]
    assert Comment.objects.count() == 1
    # Other words post again.
    c.post(url("space_comment_post", space), {"text": "and once more"})
    assert Comment.objects.count() == 2


def test_a_refused_submit_can_be_sent_again_with_the_same_form(space, roles):
    host, lis = roles["host"], roles["listener"]
    services.comments_configure(actor=host, space_id=space.pk, enabled=False)
    form = {"text": "let me in"}
    c = client_for(lis)
    assert messages_of(c.post(url("space_comment_post", space), form)) == [
        "The host turned comments off."
    ]
    services.comments_configure(actor=host, space_id=space.pk, enabled=True)
    assert messages_of(c.post(url("space_comment_post", space), form)) == [
        "Your comment is posted."
    ]
    assert Comment.objects.count() == 1


def test_slow_mode_refuses_a_second_quick_comment_and_says_when_to_try(space, roles):
    services.comments_configure(actor=roles["host"], space_id=space.pk, slow_mode_seconds=30)
    post_comment(roles["listener"], space, "first")
    response = post_comment(roles["listener"], space, "second")
    [said] = messages_of(response)
    assert said.startswith("Slow mode: one comment every 30 seconds. Try again in ")
    assert re.search(r"Try again in (\d+ seconds|a minute)\.$", said)
    assert list(Comment.objects.values_list("text", flat=True)) == ["first"]


def test_the_script_gets_slow_mode_as_json_with_retry_after(space, roles):
    services.comments_configure(actor=roles["host"], space_id=space.pk, slow_mode_seconds=60)
    c = client_for(roles["listener"])
    ok = c.post(url("space_comment_post", space), {"text": "one"}, HTTP_ACCEPT="application/json")
    assert ok.json()["ok"] is True
    assert [x["text"] for x in ok.json()["state"]["comments"]] == ["one"]
    refused = c.post(
        url("space_comment_post", space), {"text": "two"}, HTTP_ACCEPT="application/json"
    )
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "slow_mode"
    assert 0 < error["retry_after"] <= 60


def test_html_as_json_says_html_not_allowed(space, roles):
    response = client_for(roles["listener"]).post(
        url("space_comment_post", space), {"text": "<b>x</b>"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "html_not_allowed"


def test_someone_not_in_the_space_cannot_comment(space, user):
    response = post_comment(user, space, "drive-by")
    assert messages_of(response) == ["Join the Space first."]
    assert not Comment.objects.exists()


def test_no_comments_on_an_ended_space(user):
    space = SpaceFactory()
    join(space, user)
    services.space_end(actor=space.host, space_id=space.pk)
    response = post_comment(user, space, "too late")
    assert messages_of(response) == ["This Space has ended."]
    assert not Comment.objects.exists()


def test_the_author_deletes_their_comment(space, roles):
    comment = services.comment_post(user=roles["listener"], space_id=space.pk, text="oops")
    c = client_for(roles["listener"])
    response = c.post(url("space_comment_delete", space, comment.pk))
    assert messages_of(response) == ["The comment is deleted."]
    comment.refresh_from_db()
    assert comment.deleted_by == roles["listener"]
    assert comment_rows(response.content.decode()) == []
    # Twice is the same (a double click).
    assert messages_of(c.post(url("space_comment_delete", space, comment.pk))) == [
        "The comment is deleted."
    ]


def test_a_listener_cannot_delete_someone_elses_comment(space, roles):
    comment = services.comment_post(user=roles["speaker"], space_id=space.pk, text="mine")
    response = client_for(roles["listener"]).post(url("space_comment_delete", space, comment.pk))
    assert messages_of(response) == [
        "Only the author, the host or a co-host can delete this comment."
    ]
    comment.refresh_from_db()
    assert comment.deleted_at is None


def test_a_cohost_deletes_anyones_comment_and_it_is_logged(space, roles):
    comment = services.comment_post(user=roles["listener"], space_id=space.pk, text="spam spam")
    client_for(roles["cohost"]).post(url("space_comment_delete", space, comment.pk))
    comment.refresh_from_db()
    assert comment.deleted_by == roles["cohost"]
    assert ModerationAction.objects.filter(space=space, action="comment_deleted").exists()


def test_deleting_an_unknown_comment_or_one_of_another_space_says_so(space, roles):
    other = SpaceFactory()
    elsewhere = services.comment_post(user=join(other), space_id=other.pk, text="elsewhere")
    c = client_for(roles["host"])
    response = c.post(url("space_comment_delete", space, elsewhere.pk))
    assert messages_of(response) == ["No such comment in this Space."]
    elsewhere.refresh_from_db()
    assert elsewhere.deleted_at is None


# --- Live controls ------------------------------------------------------------------------------


def test_the_host_turns_comments_off_and_on(space, roles):
    c = client_for(roles["host"])
    assert messages_of(c.post(url("space_comments_settings", space), {"enabled": "0"})) == [
        "Comments are off."
    ]
    assert fresh(space).comments_enabled is False
    response = post_comment(roles["listener"], space, "hello?")
    assert messages_of(response) == ["The host turned comments off."]
    assert messages_of(c.post(url("space_comments_settings", space), {"enabled": "1"})) == [
        "Comments are on."
    ]
    assert fresh(space).comments_enabled is True


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        ("30", "Slow mode: one comment every 30 seconds."),
        ("60", "Slow mode: one comment every minute."),
        ("300", "Slow mode: one comment every 5 minutes."),
        ("0", "Slow mode is off."),
    ],
)
def test_a_cohost_sets_slow_mode(space, roles, seconds, said):
    c = client_for(roles["cohost"])
    response = c.post(url("space_comments_settings", space), {"slow_mode_seconds": seconds})
    assert messages_of(response) == [said]
    assert fresh(space).comment_slow_mode_seconds == int(seconds)


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({}, "Say what to change."),
        ({"slow_mode_seconds": "-5"}, "Choose how slow."),
        ({"slow_mode_seconds": "soon"}, "Choose how slow."),
        ({"slow_mode_seconds": "99999999999"}, "Choose how slow."),
        ({"slow_mode_seconds": "3601"}, "Slow mode is out of range."),
        ({"enabled": "maybe"}, "Not a valid enabled."),
    ],
)
def test_bad_comment_settings_are_refused_and_nothing_changes(space, roles, data, said):
    response = client_for(roles["host"]).post(url("space_comments_settings", space), data)
    assert messages_of(response) == [said]
    space = fresh(space)
    assert (space.comments_enabled, space.comment_slow_mode_seconds) == (True, 0)


def test_listeners_and_speakers_cannot_use_the_live_controls(space, roles):
    logged = ModerationAction.objects.filter(space=space).count()
    for who in ("listener", "speaker"):
        c = client_for(roles[who])
        for name, data in (
            ("space_comments_settings", {"enabled": "0"}),
            ("space_speaking_policy", {"speaking_policy": "invited_only"}),
            ("space_stage_lock", {"locked": "1"}),
            ("space_mute_all", {}),
        ):
            response = c.post(url(name, space), data)
            assert messages_of(response) == ["Only the host or a co-host can do this."], name
    space = fresh(space)
    assert space.comments_enabled
    assert space.speaking_policy == Space.SpeakingPolicy.EVERYONE
    assert not space.stage_locked
    assert ModerationAction.objects.filter(space=space).count() == logged


def test_the_host_changes_who_can_ask_to_speak(space, roles):
    c = client_for(roles["host"])
    response = c.post(url("space_speaking_policy", space), {"speaking_policy": "invited_only"})
    assert messages_of(response) == ["Nobody can ask to speak: speakers come by invitation."]
    assert fresh(space).speaking_policy == Space.SpeakingPolicy.INVITED_ONLY
    assert "Speakers by invitation" in response.content.decode()
    response = c.post(url("space_speaking_policy", space), {"speaking_policy": "anyone at all"})
    assert messages_of(response) == ["Not a speaking setting."]
    assert fresh(space).speaking_policy == Space.SpeakingPolicy.INVITED_ONLY


def test_a_locked_stage_shows_the_listener_why_the_hand_is_gone(space, roles):
    c = client_for(roles["cohost"])
    response = c.post(url("space_stage_lock", space), {"locked": "1"})
    assert messages_of(response)[0].startswith("The stage is locked")
    assert fresh(space).stage_locked
    body = page(roles["listener"], space)
    assert url("space_hand_raise", space) not in action_urls(body)
    assert re.search(
        r'<button type="button" class="btn bar-btn bar-locked" disabled aria-label="Request to '
        r'speak: the host locked the stage"',
        body,
    )
    response = client_for(roles["listener"]).post(url("space_hand_raise", space))
    assert messages_of(response) == ["The host locked the stage: no new requests for now."]
    c.post(url("space_stage_lock", space), {"locked": "0"})
    assert not fresh(space).stage_locked
    assert url("space_hand_raise", space) in action_urls(page(roles["listener"], space))
    response = c.post(url("space_stage_lock", space), {})
    assert messages_of(response) == ["Say lock or unlock."]


def test_mute_all_mutes_the_stage_but_the_host_and_says_how_many(space, roles):
    host = roles["host"]
    services.participant_unmute(actor=host, space_id=space.pk, user_id=host.pk)
    services.participant_unmute(
        actor=roles["speaker"], space_id=space.pk, user_id=roles["speaker"].pk
    )
    response = client_for(roles["cohost"]).post(url("space_mute_all", space))
    assert messages_of(response) == ["You muted 1 person on stage."]
    assert participant(space, roles["speaker"]).is_muted
    assert participant(space, roles["speaker"]).muted_by_host
    assert not participant(space, host).is_muted
    response = client_for(host).post(url("space_mute_all", space))
    assert messages_of(response) == ["Nobody else on stage had their mic on."]


# --- Reporting a comment ------------------------------------------------------------------------


def test_report_on_a_comment_opens_the_report_form_about_it(space, roles):
    comment = services.comment_post(user=roles["speaker"], space_id=space.pk, text="something rude")
    c = client_for(roles["listener"])
    response = c.get(url("space_detail", space) + f"?report_comment={comment.pk}")
    body = response.content.decode()
    assert re.search(r'<details class="card side-details" id="report"\s+open', body)
    assert f'name="comment_id" id="report-comment-id" value="{comment.pk}"' in body
    assert "About a comment by" in body
    assert "something rude" in body
    assert re.search(r'<select id="report-target" name="target"\s+disabled', body)

    response = c.post(
        url("space_report", space), {"reason": "harassment", "comment_id": str(comment.pk)}
    )
    assert messages_of(response) == ["Thanks. Your report was sent to our moderators."]
    report = Report.objects.get()
    assert (report.comment_id, report.target_id) == (comment.pk, roles["speaker"].pk)


def test_reporting_your_own_comment_is_not_offered(space, roles):
    comment = services.comment_post(user=roles["listener"], space_id=space.pk, text="mine")
    body = (
        client_for(roles["listener"])
        .get(url("space_detail", space) + f"?report_comment={comment.pk}")
        .content.decode()
    )
    assert 'id="report-comment-id" value=""' in body


def test_the_page_reads_a_fixed_number_of_queries_however_many_comments(space, roles):
    c = client_for(roles["host"])
    services.comment_post(user=roles["listener"], space_id=space.pk, text="one @lissy")
    before = _count(c, url("space_detail", space))
    for i in range(6):
        author = join(space, UserFactory())
        services.comment_post(user=author, space_id=space.pk, text=f"more {i} @lissy")
    assert _count(c, url("space_detail", space)) == before
