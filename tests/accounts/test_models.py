import pytest
from django.db import IntegrityError, transaction

from accounts.models import Block, Follow, User
from tests.factories import UserFactory, make_followers

pytestmark = pytest.mark.django_db


def test_follow_pair_is_unique_in_the_database(user, other_user):
    Follow.objects.create(follower=user, followee=other_user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Follow.objects.create(follower=user, followee=other_user)


def test_self_follow_is_refused_by_the_database(user):
    with pytest.raises(IntegrityError), transaction.atomic():
        Follow.objects.create(follower=user, followee=user)


def test_self_block_is_refused_by_the_database(user):
    with pytest.raises(IntegrityError), transaction.atomic():
        Block.objects.create(blocker=user, blocked=user)


def test_follow_counts_are_annotated_in_one_query(django_assert_num_queries, user, other_user):
    make_followers(user, 3)
    Follow.objects.create(follower=user, followee=other_user)
    with django_assert_num_queries(1):
        rows = {u.username: u for u in User.objects.with_follow_counts()}
    assert rows["alice"].follower_count == 3
    assert rows["alice"].following_count == 1
    assert rows["bob"].follower_count == 1
    assert rows["bob"].following_count == 0


def test_can_host_needs_the_configured_number_of_followers(settings):
    settings.SPACES_HOST_MIN_FOLLOWERS = 5
    almost = UserFactory(username="almost")
    make_followers(almost, 4)
    assert not almost.can_host
    make_followers(almost, 1, prefix="one-more-")
    assert almost.can_host
    annotated = User.objects.with_follow_counts().get(pk=almost.pk)
    assert annotated.can_host
