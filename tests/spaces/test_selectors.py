"""Discovery and detail: order, visibility, and query counts that do not grow with rows."""

from __future__ import annotations

import pytest

from accounts.models import Follow
from accounts.services import block_create
from spaces import selectors, services
from spaces.models import Space
from spaces_project.errors import Forbidden, NotFound
from tests.factories import SpaceFactory, UserFactory, ended_space, join, make_cohost, make_speaker

pytestmark = pytest.mark.django_db


def crowd(space, n):
    return [join(space) for _ in range(n)]


# --- Live list ---------------------------------------------------------------------------------


def test_live_spaces_are_listed_most_listeners_first_and_ended_ones_not_at_all(user):
    small, big, middle = SpaceFactory(), SpaceFactory(), SpaceFactory()
    crowd(small, 1)
    crowd(big, 3)
    crowd(middle, 2)
    ended_space()

    assert list(selectors.space_list_live(viewer=user)) == [big, middle, small]


def test_the_live_list_searches_titles_and_topics(user):
    jazz = SpaceFactory(title="Late night", topics=["Jazz", "Soul"])
    news = SpaceFactory(title="Morning jazz news", topics=["News"])
    SpaceFactory(title="Cooking", topics=["Food"])
    cafe = SpaceFactory(title="Paris", topics=["Café"])

    def search(q):
        return {s.pk for s in selectors.space_list_live(viewer=user, query=q)}

    assert search("JAZZ") == {jazz.pk, news.pk}
    assert search("soul") == {jazz.pk}
    assert search("café") == {cafe.pk}
    assert search("nothing like this") == set()


def test_the_live_list_hides_spaces_of_hosts_who_blocked_me_or_whom_i_blocked(user):
    blocker, blocked, fine = SpaceFactory(), SpaceFactory(), SpaceFactory()
    block_create(blocker=blocker.host, blocked=user)
    block_create(blocker=user, blocked=blocked.host)

    assert list(selectors.space_list_live(viewer=user)) == [fine]


def test_the_live_list_is_one_query_however_many_spaces(user, django_assert_num_queries):
    for _ in range(3):
        SpaceFactory()
    with django_assert_num_queries(1):
        assert len(list(selectors.space_list_live(viewer=user, query="Space"))) == 3
    for _ in range(10):
        SpaceFactory()
    with django_assert_num_queries(1):
        rows = list(selectors.space_list_live(viewer=user))
        assert len(rows) == 13
        assert all(row.host.username for row in rows)


# --- The bubble --------------------------------------------------------------------------------


def test_the_bubble_has_spaces_hosted_cohosted_or_spoken_in_by_people_i_follow(user):
    hosted, cohosted, spoken, listened, unrelated = (SpaceFactory() for _ in range(5))
    friend_host, friend_cohost, friend_speaker, friend_listener = (UserFactory() for _ in range(4))
    for friend in (friend_host, friend_cohost, friend_speaker, friend_listener):
        Follow.objects.create(follower=user, followee=friend)
    Space.objects.filter(pk=hosted.pk).update(host=friend_host)
    hosted.participants.filter(role="host").update(user=friend_host)
    make_cohost(cohosted, friend_cohost)
    make_speaker(spoken, friend_speaker)
    join(listened, friend_listener)
    join(unrelated)

    bubble = selectors.space_list_following(viewer=user)

    assert {s.pk for s in bubble} == {hosted.pk, cohosted.pk, spoken.pk}


def test_the_bubble_puts_spaces_with_more_followed_people_on_stage_first_then_listeners(user):
    one_friend_big, two_friends, one_friend_small = SpaceFactory(), SpaceFactory(), SpaceFactory()
    friends = [UserFactory() for _ in range(4)]
    for friend in friends:
        Follow.objects.create(follower=user, followee=friend)
    make_speaker(one_friend_big, friends[0])
    crowd(one_friend_big, 3)
    make_speaker(two_friends, friends[1])
    make_cohost(two_friends, friends[2])
    make_speaker(one_friend_small, friends[3])
    crowd(one_friend_small, 1)

    bubble = list(selectors.space_list_following(viewer=user))

    assert bubble == [two_friends, one_friend_big, one_friend_small]
    assert [s.followed_on_stage_count for s in bubble] == [2, 1, 1]
    assert [p.user for p in bubble[0].followed_on_stage] == [friends[2], friends[1]]


def test_the_bubble_hides_a_host_who_blocked_me(user):
    space = SpaceFactory()
    friend = UserFactory()
    Follow.objects.create(follower=user, followee=friend)
    make_speaker(space, friend)
    block_create(blocker=space.host, blocked=user)

    assert list(selectors.space_list_following(viewer=user)) == []


def test_the_bubble_is_two_queries_however_many_spaces_and_friends(user, django_assert_num_queries):
    def add_space_with_friends(n):
        space = SpaceFactory()
        for _ in range(n):
            friend = UserFactory()
            Follow.objects.create(follower=user, followee=friend)
            make_speaker(space, friend)

    add_space_with_friends(1)
    with django_assert_num_queries(2):
        rows = list(selectors.space_list_following(viewer=user))
        assert [len(s.followed_on_stage) for s in rows] == [1]
    for n in (2, 3, 4):
        add_space_with_friends(n)
    with django_assert_num_queries(2):
        rows = list(selectors.space_list_following(viewer=user))
        assert [len(s.followed_on_stage) for s in rows] == [4, 3, 2, 1]
        assert all(p.user.username for s in rows for p in s.followed_on_stage)


# --- Ended -------------------------------------------------------------------------------------


def test_ended_spaces_are_listed_most_recent_first_and_by_host(user, django_assert_num_queries):
    first = SpaceFactory()
    services.space_end(actor=first.host, space_id=first.pk)
    second = SpaceFactory()
    services.space_end(actor=second.host, space_id=second.pk)
    SpaceFactory()

    with django_assert_num_queries(1):
        assert list(selectors.space_list_ended(viewer=user)) == [second, first]
    assert list(selectors.space_list_ended(viewer=user, host_id=first.host_id)) == [first]


# --- Detail ------------------------------------------------------------------------------------


def test_the_detail_shows_stage_listeners_pins_and_my_place(space, space_host):
    bob = make_cohost(space)
    alice = make_speaker(space)
    carol = make_speaker(space)
    services.participant_unmute(actor=carol, space_id=space.pk, user_id=carol.pk)
    crowd(space, 2)
    me = join(space)
    request, _ = services.speaker_request_create(user=me, space_id=space.pk)
    services.pin_create(user=alice, space_id=space.pk, text="Read this")

    detail = selectors.space_detail(viewer=me, space_id=space.pk)

    assert [(p.user, p.role, p.is_muted) for p in detail.stage] == [
        (space_host, "host", True),
        (bob, "cohost", True),
        (alice, "speaker", True),
        (carol, "speaker", False),
    ]
    assert detail.listeners_sample[0].user == me
    assert len(detail.listeners_sample) == 3
    assert [p.text for p in detail.pins] == ["Read this"]
    assert detail.me.role == "listener"
    assert detail.pending_request_id == request.pk
    assert detail.space.listener_count == 3


def test_the_detail_is_eight_queries_however_many_people_pins_and_comments(
    space, space_host, django_assert_num_queries
):
    me = join(space)
    make_speaker(space)
    with django_assert_num_queries(8):
        selectors.space_detail(viewer=me, space_id=space.pk)

    for _ in range(2):
        make_cohost(space)
    for _ in range(5):
        make_speaker(space)
    crowd(space, 20)
    for i in range(3):
        services.pin_create(user=space_host, space_id=space.pk, text=f"pin {i}")
    invitee = join(space)
    services.invitation_create(
        actor=space_host, space_id=space.pk, invitee_id=invitee.pk, kind="speaker"
    )
    services.speaker_request_create(user=me, space_id=space.pk)
    for n in range(3):
        services.comment_post(user=me, space_id=space.pk, text=f"comment {n}")

    with django_assert_num_queries(8):
        detail = selectors.space_detail(viewer=invitee, space_id=space.pk)
        assert len(detail.stage) == 9
        assert len(detail.listeners_sample) == 12
        assert [i.kind for i in detail.invitations] == ["speaker"]
        assert all(p.author.username for p in detail.pins)
        assert all(p.user.username for p in detail.stage + detail.listeners_sample)


def test_the_detail_of_an_unknown_space_is_not_found(user):
    with pytest.raises(NotFound):
        selectors.space_detail(viewer=user, space_id=424242)


def test_a_user_blocked_by_the_host_cannot_see_the_detail(space, space_host, user):
    block_create(blocker=space_host, blocked=user)
    with pytest.raises(Forbidden) as exc:
        selectors.space_detail(viewer=user, space_id=space.pk)
    assert exc.value.code == "blocked"


def test_reaction_counts_in_the_detail_include_every_tap(settings, space):
    settings.SPACES_REACTION_RATE = "100/hour"
    who = join(space)
    for _ in range(4):
        services.reaction_send(user=who, space_id=space.pk, emoji="fire")

    detail = selectors.space_detail(viewer=who, space_id=space.pk)

    assert detail.reaction_counts["fire"] == 4
    assert detail.reaction_counts["clap"] == 0


def test_participants_list_by_role(space):
    make_speaker(space)
    people = crowd(space, 3)
    present = selectors.space_participants(viewer=people[0], space_id=space.pk, role="listener")
    assert {p.user for p in present} == set(people)


def test_the_request_queue_is_for_moderators_oldest_first(space, space_host):
    first, second = join(space), join(space)
    services.speaker_request_create(user=first, space_id=space.pk)
    services.speaker_request_create(user=second, space_id=space.pk)

    queue = selectors.speaker_requests_pending(viewer=space_host, space_id=space.pk)

    assert [r.user for r in queue] == [first, second]
    with pytest.raises(Forbidden):
        selectors.speaker_requests_pending(viewer=first, space_id=space.pk)
