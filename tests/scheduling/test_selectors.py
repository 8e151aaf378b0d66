"""The upcoming lists: what they show, to whom, and their query counts (pinned)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from accounts.models import Block, Follow
from scheduling import selectors, services
from spaces_project.errors import Forbidden, NotFound
from tests.factories import SpaceFactory, UserFactory, make_followers
from tests.scheduling.helpers import holders

pytestmark = pytest.mark.django_db


@pytest.fixture
def hosts(db, clock, settings):
    """Three hosts able to host (the threshold lowered to keep this fast), each with one
    upcoming Space."""
    settings.SPACES_HOST_MIN_FOLLOWERS = 2
    made = []
    for i in range(3):
        host = UserFactory(username=f"star{i}")
        make_followers(host, 2, prefix=f"star{i}-fan-")
        services.scheduled_space_create(
            host=host, title=f"Show {i}", scheduled_for=clock.now + timedelta(hours=3 - i)
        )
        made.append(host)
    return made


def test_following_lists_upcoming_spaces_of_followed_hosts_soonest_first(hosts, user):
    for host in hosts[:2]:
        Follow.objects.create(follower=user, followee=host)

    titles = [s.title for s in selectors.scheduled_list_following(viewer=user)]

    assert titles == ["Show 1", "Show 0"]


def test_started_and_cancelled_spaces_leave_the_upcoming_lists(hosts, user):
    for host in hosts:
        Follow.objects.create(follower=user, followee=host)
    first, second, _ = (s for s in selectors.scheduled_list_following(viewer=user))
    services.scheduled_space_start(actor=first.host, space_id=first.pk)
    services.scheduled_space_cancel(actor=second.host, space_id=second.pk)

    assert [s.title for s in selectors.scheduled_list_following(viewer=user)] == ["Show 0"]


def test_each_space_carries_its_reminder_count_and_whether_i_set_one(hosts, user):
    Follow.objects.create(follower=user, followee=hosts[0])
    space = selectors.scheduled_list_following(viewer=user).get()
    holders(space, 4)
    services.reminder_set(user=user, space_id=space.pk)

    [row] = selectors.scheduled_list_following(viewer=user)
    assert (row.reminder_count, row.has_reminder) == (5, True)
    [other_view] = selectors.scheduled_list_for_host(viewer=UserFactory(), host=hosts[0])
    assert (other_view.reminder_count, other_view.has_reminder) == (5, False)


def test_blocks_either_way_hide_a_hosts_upcoming_spaces(hosts, user):
    Follow.objects.create(follower=user, followee=hosts[0])
    Follow.objects.create(follower=user, followee=hosts[1])
    Block.objects.create(blocker=hosts[0], blocked=user)
    Block.objects.create(blocker=user, blocked=hosts[1])

    assert list(selectors.scheduled_list_following(viewer=user)) == []
    assert list(selectors.scheduled_list_for_host(viewer=user, host=hosts[0])) == []
    space = hosts[0].hosted_spaces.get()
    with pytest.raises(Forbidden):
        selectors.scheduled_detail(viewer=user, space_id=space.pk)


def test_the_detail_is_404_for_a_space_that_was_never_scheduled(user):
    live = SpaceFactory()
    with pytest.raises(NotFound):
        selectors.scheduled_detail(viewer=user, space_id=live.pk)


@pytest.mark.parametrize("count", [1, 3])
def test_the_following_list_is_one_query_whatever_its_length(
    hosts, user, count, django_assert_num_queries
):
    for host in hosts[:count]:
        Follow.objects.create(follower=user, followee=host)
        holders(host.hosted_spaces.get(), 2, prefix=f"h-{host.pk}-")

    with django_assert_num_queries(1):
        rows = list(selectors.scheduled_list_following(viewer=user))
        assert [(r.host.username, r.reminder_count) for r in rows]
    assert {r.reminder_count for r in rows} == {2}


def test_a_hosts_list_and_the_detail_are_one_query_each(hosts, user, django_assert_num_queries):
    space = hosts[0].hosted_spaces.get()
    holders(space, 3)
    with django_assert_num_queries(1):
        rows = list(selectors.scheduled_list_for_host(viewer=user, host=hosts[0]))
        assert rows[0].host.username == "star0"
        assert selectors.cancel_reason_of(rows[0]) is None
    with django_assert_num_queries(1):
        detail = selectors.scheduled_detail(viewer=user, space_id=space.pk)
        assert (detail.reminder_count, detail.host.username) == (3, "star0")
