"""Starting and ending a Space."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from spaces import services
from spaces.models import ModerationAction, Participant, Space, SpeakerRequest
from spaces_project import bus
from spaces_project.errors import Conflict, Forbidden, ValidationFailed
from tests.factories import (
    SpaceFactory,
    UserFactory,
    fresh,
    join,
    make_cohost,
    make_followers,
    make_speaker,
    participant,
)
from tests.helpers import event_types

pytestmark = pytest.mark.django_db


def test_a_host_with_enough_followers_starts_a_live_space_and_is_its_present_host(host):
    space = services.space_start(host=host, title="  Morning   coffee ", topics=["Jazz", "news"])

    assert space.state == Space.State.LIVE
    assert space.title == "Morning coffee"
    assert space.topics == ["Jazz", "news"]
    assert space.started_at is not None
    assert (space.max_speakers, space.max_cohosts) == (10, 2)
    me = participant(space, host)
    assert (me.role, me.state) == (Participant.Role.HOST, Participant.State.PRESENT)


def test_a_user_with_too_few_followers_cannot_start_a_space(settings, user):
    make_followers(user, settings.SPACES_HOST_MIN_FOLLOWERS - 1)

    with pytest.raises(Forbidden) as exc:
        services.space_start(host=user, title="Nope")

    assert exc.value.code == "not_enough_followers"
    assert not Space.objects.exists()


def test_a_host_cannot_have_two_live_spaces_at_once(host):
    services.space_start(host=host, title="First")

    with pytest.raises(Conflict) as exc:
        services.space_start(host=host, title="Second")

    assert exc.value.code == "already_live"
    assert Space.objects.filter(host=host).count() == 1


def test_a_double_submit_of_start_returns_the_space_the_first_started(host, clock):
    first = services.space_start(host=host, title="Morning show")
    again = services.space_start(host=host, title="Morning show")

    assert again.pk == first.pk
    assert Space.objects.filter(host=host).count() == 1
    # Later, the same title is a second Space, which one live Space per host refuses.
    clock.advance(seconds=services.START_REPEAT_SECONDS + 1)
    with pytest.raises(Conflict) as exc:
        services.space_start(host=host, title="Morning show")
    assert exc.value.code == "already_live"


def test_a_host_can_start_again_once_the_previous_space_ended(host):
    first = services.space_start(host=host, title="First")
    services.space_end(actor=host, space_id=first.pk)

    second = services.space_start(host=host, title="Second")

    assert second.state == Space.State.LIVE


def test_the_database_refuses_a_second_live_space_for_one_host():
    space = SpaceFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        SpaceFactory(host=space.host)


@pytest.mark.parametrize(
    ("title", "topics", "field"),
    [
        ("", [], "title"),
        ("   ", [], "title"),
        ("x" * 71, [], "title"),
        ("Fine", ["a", "b", "c", "d"], "topics"),
        ("Fine", ["x" * 31], "topics"),
        ("Fine", [" "], "topics"),
    ],
)
def test_start_refuses_a_bad_title_or_topics_with_field_errors(host, title, topics, field):
    with pytest.raises(ValidationFailed) as exc:
        services.space_start(host=host, title=title, topics=topics)

    assert field in exc.value.fields


def test_duplicate_topics_are_kept_once_ignoring_case(host):
    space = services.space_start(host=host, title="T", topics=["Jazz", "jazz", "Soul"])

    assert space.topics == ["Jazz", "Soul"]


def test_starting_publishes_space_started_to_the_space_group(host, committed, published):
    with committed():
        space = services.space_start(host=host, title="Hello")

    # (The followers' go-live alert goes to `following.<host>`: alerts/, tests/alerts.)
    room = [(group, e) for group, e in published if group.startswith("space.")]
    assert [(group, {k: v for k, v in e.items() if k != "seq"}) for group, e in room] == [
        (
            bus.space_group(space.pk),
            {
                "type": "space.started",
                "space_id": space.pk,
                "title": "Hello",
                "topics": [],
                "host": {"id": host.pk, "username": host.username, "name": host.name},
            },
        )
    ]


def test_the_host_ends_the_space_and_everyone_leaves_the_stage(space, space_host):
    alice = make_speaker(space)
    bob = make_cohost(space)
    carol = join(space)
    dave = join(space)
    services.speaker_request_create(user=dave, space_id=space.pk)

    ended = services.space_end(actor=space_host, space_id=space.pk)

    assert ended.state == Space.State.ENDED
    assert ended.ended_at is not None
    space = fresh(space)
    assert (space.listener_count, space.speaker_count, space.cohost_count) == (0, 0, 0)
    assert space.peak_listener_count == 2  # speakers and co-hosts left the audience
    assert space.total_joined_count == 5
    for who in (alice, bob, carol):
        p = participant(space, who)
        assert (p.role, p.state) == (Participant.Role.LISTENER, Participant.State.LEFT)
    assert participant(space, space_host).state == Participant.State.LEFT
    assert SpeakerRequest.objects.get(user=dave).state == SpeakerRequest.State.CANCELLED
    log = ModerationAction.objects.get(space=space, action=ModerationAction.Action.SPACE_ENDED)
    assert log.actor == space_host
    assert log.details == {"by_staff": False}


def test_staff_can_end_someone_elses_space_and_it_is_logged_as_staff(space):
    staff = UserFactory(is_staff=True)

    services.space_end(actor=staff, space_id=space.pk)

    assert fresh(space).state == Space.State.ENDED
    log = ModerationAction.objects.get(space=space, action=ModerationAction.Action.SPACE_ENDED)
    assert (log.actor, log.details) == (staff, {"by_staff": True})


def test_a_cohost_cannot_end_the_space(space):
    bob = make_cohost(space)

    with pytest.raises(Forbidden) as exc:
        services.space_end(actor=bob, space_id=space.pk)

    assert exc.value.code == "host_only"
    assert fresh(space).state == Space.State.LIVE


def test_a_listener_or_a_stranger_cannot_end_the_space(space):
    for who in (join(space), UserFactory()):
        with pytest.raises(Forbidden):
            services.space_end(actor=who, space_id=space.pk)
    assert fresh(space).state == Space.State.LIVE


def test_ending_an_ended_space_is_a_conflict(space, space_host):
    services.space_end(actor=space_host, space_id=space.pk)

    with pytest.raises(Conflict) as exc:
        services.space_end(actor=space_host, space_id=space.pk)

    assert exc.value.code == "space_ended"


def test_the_host_of_space_a_cannot_end_space_b(space):
    other = SpaceFactory()

    with pytest.raises(Forbidden):
        services.space_end(actor=other.host, space_id=space.pk)

    assert fresh(space).state == Space.State.LIVE


def test_ending_publishes_space_ended_with_zero_counts(space, space_host, committed, published):
    join(space)
    published.clear()
    with committed():
        services.space_end(actor=space_host, space_id=space.pk)

    assert event_types(published) == ["space.ended"]
    assert published[0][1]["counts"]["listeners"] == 0


def test_the_database_requires_an_end_time_on_an_ended_space(space):
    with pytest.raises(IntegrityError), transaction.atomic():
        Space.objects.filter(pk=space.pk).update(state=Space.State.ENDED)


def test_ban_host_ends_their_live_space_logs_it_and_deactivates_them(space, space_host):
    staff = UserFactory(is_staff=True)

    ended = services.host_ban(actor=staff, host=space_host)

    assert ended == 1
    assert fresh(space).state == Space.State.ENDED
    space_host.refresh_from_db()
    assert not space_host.is_active
    actions = set(ModerationAction.objects.filter(space=space).values_list("action", flat=True))
    assert {"host_banned", "space_ended"} <= actions


def test_only_staff_can_ban_a_host(space, space_host):
    with pytest.raises(Forbidden):
        services.host_ban(actor=UserFactory(), host=space_host)
    space_host.refresh_from_db()
    assert space_host.is_active


def test_a_space_starting_now_has_its_start_time_before_any_join(host):
    before = timezone.now()
    space = services.space_start(host=host, title="Timing")
    assert space.started_at >= before
