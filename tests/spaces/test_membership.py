"""Joining, leaving and presence."""

from __future__ import annotations

import pytest

from accounts.services import block_create
from spaces import services
from spaces.models import Invitation, Participant, SpeakerRequest
from spaces_project import bus
from spaces_project.errors import Conflict, Forbidden, NotFound
from tests.factories import (
    UserFactory,
    ended_space,
    fresh,
    join,
    make_cohost,
    make_speaker,
    participant,
)
from tests.helpers import event_types

pytestmark = pytest.mark.django_db


def test_a_signed_in_user_joins_as_a_present_listener(space, user):
    p = services.space_join(user=user, space_id=space.pk)

    assert (p.role, p.state) == (Participant.Role.LISTENER, Participant.State.PRESENT)
    space = fresh(space)
    assert (space.listener_count, space.peak_listener_count, space.total_joined_count) == (1, 1, 2)


def test_joining_twice_is_harmless_and_counts_once(space, user, committed, published):
    with committed():
        first = services.space_join(user=user, space_id=space.pk)
        second = services.space_join(user=user, space_id=space.pk)

    assert first.pk == second.pk
    assert Participant.objects.filter(space=space, user=user).count() == 1
    assert fresh(space).listener_count == 1
    assert event_types(published) == ["participant.joined"]


def test_joining_an_unknown_space_is_not_found(user):
    with pytest.raises(NotFound) as exc:
        services.space_join(user=user, space_id=999_999)
    assert exc.value.code == "space_not_found"


def test_joining_an_ended_space_is_refused(user):
    space = ended_space()

    with pytest.raises(Conflict) as exc:
        services.space_join(user=user, space_id=space.pk)

    assert exc.value.code == "space_ended"
    assert not Participant.objects.filter(space=space, user=user).exists()


def test_a_user_blocked_by_the_host_cannot_join(space, space_host, user):
    block_create(blocker=space_host, blocked=user)

    with pytest.raises(Forbidden) as exc:
        services.space_join(user=user, space_id=space.pk)

    assert exc.value.code == "blocked"
    assert fresh(space).listener_count == 0


def test_a_removed_user_cannot_rejoin(space, space_host, user):
    join(space, user)
    services.participant_remove(actor=space_host, space_id=space.pk, user_id=user.pk)

    with pytest.raises(Forbidden) as exc:
        services.space_join(user=user, space_id=space.pk)

    assert exc.value.code == "removed"
    assert participant(space, user).state == Participant.State.REMOVED


def test_leaving_and_coming_back_counts_one_more_listener_but_not_one_more_joiner(space, user):
    join(space, user)
    services.space_leave(user=user, space_id=space.pk)
    assert fresh(space).listener_count == 0

    services.space_join(user=user, space_id=space.pk)

    space = fresh(space)
    assert (space.listener_count, space.total_joined_count, space.peak_listener_count) == (1, 2, 1)
    p = participant(space, user)
    assert (p.state, p.left_at) == (Participant.State.PRESENT, None)


def test_the_peak_keeps_the_most_listeners_ever_present(space):
    crowd = [join(space) for _ in range(3)]
    for who in crowd[:2]:
        services.space_leave(user=who, space_id=space.pk)
    join(space)

    space = fresh(space)
    assert (space.listener_count, space.peak_listener_count) == (2, 3)


def test_a_speaker_leaving_frees_a_stage_slot(space):
    alice = make_speaker(space)
    assert fresh(space).speaker_count == 1

    services.space_leave(user=alice, space_id=space.pk)

    space = fresh(space)
    assert (space.speaker_count, space.listener_count) == (0, 0)
    p = participant(space, alice)
    assert (p.role, p.state) == (Participant.Role.LISTENER, Participant.State.LEFT)


def test_a_cohost_leaving_frees_a_cohost_slot(space):
    bob = make_cohost(space)

    services.space_leave(user=bob, space_id=space.pk)

    p = participant(space, bob)
    assert (p.role, p.cohost_since) == (Participant.Role.LISTENER, None)
    assert fresh(space).cohost_count == 0


def test_leaving_cancels_a_raised_hand_and_open_invitations(space, space_host, user):
    join(space, user)
    services.speaker_request_create(user=user, space_id=space.pk)
    services.invitation_create(
        actor=space_host, space_id=space.pk, invitee_id=user.pk, kind=Invitation.Kind.COHOST
    )

    services.space_leave(user=user, space_id=space.pk)

    assert SpeakerRequest.objects.get(user=user).state == SpeakerRequest.State.CANCELLED
    assert Invitation.objects.get(invitee=user).state == Invitation.State.CANCELLED


def test_leaving_when_not_in_the_space_changes_nothing(space, user, committed, published):
    with committed():
        assert services.space_leave(user=user, space_id=space.pk) is None

    assert published == []
    assert fresh(space).listener_count == 0


def test_the_host_cannot_leave_a_live_space(space, space_host):
    with pytest.raises(Conflict) as exc:
        services.space_leave(user=space_host, space_id=space.pk)

    assert exc.value.code == "host_cannot_leave"
    assert participant(space, space_host).state == Participant.State.PRESENT


def test_join_and_leave_publish_counts_to_the_space_group(space, user, committed, published):
    with committed():
        services.space_join(user=user, space_id=space.pk)
        services.space_leave(user=user, space_id=space.pk)

    assert [group for group, _ in published] == [bus.space_group(space.pk)] * 2
    joined, left = (event for _, event in published)
    assert joined["type"] == "participant.joined"
    assert joined["participant"]["user"]["id"] == user.pk
    assert joined["counts"]["listeners"] == 1
    assert left["type"] == "participant.left"
    assert (left["previous_role"], left["counts"]["listeners"]) == ("listener", 0)


def test_a_heartbeat_moves_last_seen_forward(space, user):
    p = services.space_join(user=user, space_id=space.pk)
    Participant.objects.filter(pk=p.pk).update(last_seen_at=p.last_seen_at.replace(year=2000))

    services.participant_heartbeat(user=user, space_id=space.pk)

    assert participant(space, user).last_seen_at.year > 2000


def test_a_heartbeat_from_someone_not_in_the_space_is_refused(space, user):
    with pytest.raises(Forbidden):
        services.participant_heartbeat(user=user, space_id=space.pk)
    with pytest.raises(NotFound):
        services.participant_heartbeat(user=user, space_id=999_999)


def test_a_user_the_host_did_not_block_joins_even_if_they_blocked_someone_else(space, user):
    block_create(blocker=user, blocked=UserFactory())

    services.space_join(user=user, space_id=space.pk)

    assert participant(space, user).state == Participant.State.PRESENT
