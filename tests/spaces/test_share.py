"""Sharing a Space by direct message or with all your followers."""

from __future__ import annotations

import pytest

from accounts.models import DirectMessage, Notification
from accounts.services import block_create
from spaces import services
from spaces_project.errors import Conflict, Forbidden, RateLimited, ValidationFailed
from tests.factories import UserFactory, ended_space, join, make_followers

pytestmark = pytest.mark.django_db


def test_share_sends_a_direct_message_with_the_space_attached(space, user):
    friends = [UserFactory(), UserFactory()]

    result = services.space_share(
        user=user, space_id=space.pk, user_ids=[f.pk for f in friends], message="Come!"
    )

    assert (result.messages_sent, result.notifications_sent) == (2, 0)
    messages = DirectMessage.objects.filter(sender=user).order_by("recipient_id")
    assert [(m.recipient_id, m.body, m.attachment) for m in messages] == [
        (f.pk, "Come!", {"space_id": space.pk}) for f in friends
    ]


def test_share_has_a_default_message(space, user, other_user):
    services.space_share(user=user, space_id=space.pk, user_ids=[other_user.pk])
    assert space.title in DirectMessage.objects.get().body


def test_share_skips_yourself_unknown_ids_blocks_and_people_the_host_blocked(
    space, space_host, user
):
    ok, blocks_me, i_block, host_blocks = (UserFactory() for _ in range(4))
    block_create(blocker=blocks_me, blocked=user)
    block_create(blocker=user, blocked=i_block)
    block_create(blocker=space_host, blocked=host_blocks)
    asked = [ok.pk, blocks_me.pk, i_block.pk, host_blocks.pk, user.pk, 999_999]

    result = services.space_share(user=user, space_id=space.pk, user_ids=asked)

    assert result.messages_sent == 1
    assert result.skipped_user_ids == asked[1:]
    assert list(DirectMessage.objects.values_list("recipient_id", flat=True)) == [ok.pk]


def test_share_to_followers_writes_one_notification_per_follower(space, user):
    fans = make_followers(user, 7)

    result = services.space_share(user=user, space_id=space.pk, to_followers=True)

    assert result.notifications_sent == 7
    notes = Notification.objects.filter(kind=Notification.Kind.SPACE_SHARED)
    assert sorted(notes.values_list("recipient_id", flat=True)) == sorted(f.pk for f in fans)
    assert notes.first().payload == {
        "space_id": space.pk,
        "title": space.title,
        "from": user.username,
        "from_name": user.name,
    }


def test_share_to_followers_takes_the_same_number_of_queries_for_5_or_60_followers(
    space, django_assert_num_queries
):
    few, many = UserFactory(), UserFactory()
    make_followers(few, 5)
    make_followers(many, 60)

    with django_assert_num_queries(6) as few_queries:
        services.space_share(user=few, space_id=space.pk, to_followers=True)
    with django_assert_num_queries(len(few_queries.captured_queries)):
        result = services.space_share(user=many, space_id=space.pk, to_followers=True)

    assert result.notifications_sent == 60


def test_share_to_followers_leaves_out_people_the_host_blocked(space, space_host, user):
    fans = make_followers(user, 3)
    block_create(blocker=space_host, blocked=fans[0])

    result = services.space_share(user=user, space_id=space.pk, to_followers=True)

    assert result.notifications_sent == 2
    assert not Notification.objects.filter(recipient=fans[0]).exists()


def test_sharing_with_followers_twice_in_a_row_is_rate_limited(space, user):
    make_followers(user, 2)
    services.space_share(user=user, space_id=space.pk, to_followers=True)

    with pytest.raises(RateLimited):
        services.space_share(user=user, space_id=space.pk, to_followers=True)

    assert Notification.objects.filter(kind=Notification.Kind.SPACE_SHARED).count() == 2


def test_sharing_needs_recipients_and_at_most_twenty(space, user):
    with pytest.raises(ValidationFailed):
        services.space_share(user=user, space_id=space.pk)
    with pytest.raises(ValidationFailed) as exc:
        services.space_share(user=user, space_id=space.pk, user_ids=list(range(1, 22)))
    assert "user_ids" in exc.value.fields


def test_an_ended_space_cannot_be_shared(user, other_user):
    space = ended_space()
    with pytest.raises(Conflict):
        services.space_share(user=user, space_id=space.pk, user_ids=[other_user.pk])


def test_a_user_blocked_by_the_host_cannot_share_the_space(space, space_host, user, other_user):
    block_create(blocker=space_host, blocked=user)
    with pytest.raises(Forbidden):
        services.space_share(user=user, space_id=space.pk, user_ids=[other_user.pk])
    assert not DirectMessage.objects.exists()


def test_a_listener_in_the_space_can_share_it_too(space, other_user):
    who = join(space)
    assert (
        services.space_share(user=who, space_id=space.pk, user_ids=[other_user.pk]).messages_sent
        == 1
    )
