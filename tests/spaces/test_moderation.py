"""Mute, remove, block, and the moderation log."""

from __future__ import annotations

import pytest

from accounts.models import Block
from spaces import selectors, services
from spaces.models import ModerationAction, Participant, SpeakerRequest
from spaces_project import bus
from spaces_project.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.factories import (
    SpaceFactory,
    UserFactory,
    fresh,
    join,
    make_cohost,
    make_speaker,
    participant,
)
from tests.helpers import event_types

pytestmark = pytest.mark.django_db


# --- Mute --------------------------------------------------------------------------------------


def test_a_speaker_unmutes_and_mutes_themselves(space, committed, published):
    alice = make_speaker(space)
    published.clear()
    with committed():
        services.participant_unmute(actor=alice, space_id=space.pk, user_id=alice.pk)
        assert not participant(space, alice).is_muted
        services.participant_mute_self(user=alice, space_id=space.pk)

    p = participant(space, alice)
    assert (p.is_muted, p.muted_by_host) == (True, False)
    assert event_types(published) == ["participant.unmuted", "participant.muted"]


def test_the_host_mutes_a_speaker_and_it_is_logged(space, space_host, committed, published):
    alice = make_speaker(space)
    services.participant_unmute(actor=alice, space_id=space.pk, user_id=alice.pk)
    published.clear()
    with committed():
        p = services.participant_mute(actor=space_host, space_id=space.pk, user_id=alice.pk)

    assert (p.is_muted, p.muted_by_host) == (True, True)
    assert ModerationAction.objects.filter(action="participant_muted", target=alice).exists()
    assert event_types(published) == ["participant.muted"]
    assert published[0][1]["by"]["id"] == space_host.pk


def test_the_host_cannot_unmute_a_speaker(space, space_host):
    alice = make_speaker(space)
    services.participant_unmute(actor=alice, space_id=space.pk, user_id=alice.pk)
    services.participant_mute(actor=space_host, space_id=space.pk, user_id=alice.pk)

    with pytest.raises(Forbidden) as exc:
        services.participant_unmute(actor=space_host, space_id=space.pk, user_id=alice.pk)

    assert exc.value.code == "only_self_unmute"
    assert participant(space, alice).is_muted


def test_a_speaker_muted_by_the_host_can_unmute_themselves(space, space_host):
    alice = make_speaker(space)
    services.participant_mute(actor=space_host, space_id=space.pk, user_id=alice.pk)

    p = services.participant_unmute(actor=alice, space_id=space.pk, user_id=alice.pk)

    assert (p.is_muted, p.muted_by_host) == (False, False)


def test_a_cohost_can_mute_a_speaker_but_not_another_cohost(space):
    bob, carol = make_cohost(space), make_cohost(space)
    alice = make_speaker(space)
    services.participant_unmute(actor=alice, space_id=space.pk, user_id=alice.pk)
    services.participant_unmute(actor=carol, space_id=space.pk, user_id=carol.pk)

    services.participant_mute(actor=bob, space_id=space.pk, user_id=alice.pk)
    with pytest.raises(Forbidden):
        services.participant_mute(actor=bob, space_id=space.pk, user_id=carol.pk)

    assert participant(space, alice).is_muted
    assert not participant(space, carol).is_muted


def test_a_listener_cannot_mute_a_speaker(space):
    alice = make_speaker(space)
    services.participant_unmute(actor=alice, space_id=space.pk, user_id=alice.pk)
    with pytest.raises(Forbidden):
        services.participant_mute(actor=join(space), space_id=space.pk, user_id=alice.pk)
    assert not participant(space, alice).is_muted


def test_muting_a_listener_is_a_conflict(space, space_host):
    who = join(space)
    with pytest.raises(Conflict) as exc:
        services.participant_mute(actor=space_host, space_id=space.pk, user_id=who.pk)
    assert exc.value.code == "not_on_stage"


def test_muting_a_muted_speaker_changes_nothing(space, space_host, committed, published):
    alice = make_speaker(space)
    published.clear()
    with committed():
        services.participant_mute(actor=space_host, space_id=space.pk, user_id=alice.pk)
    assert published == []
    assert not ModerationAction.objects.filter(action="participant_muted").exists()


def test_listeners_cannot_unmute_themselves(space):
    who = join(space)
    with pytest.raises(Conflict) as exc:
        services.participant_unmute(actor=who, space_id=space.pk, user_id=who.pk)
    assert exc.value.code == "not_on_stage"


def test_the_host_mutes_and_unmutes_themselves(space, space_host):
    services.participant_unmute(actor=space_host, space_id=space.pk, user_id=space_host.pk)
    assert not participant(space, space_host).is_muted
    services.participant_mute_self(user=space_host, space_id=space.pk)
    assert participant(space, space_host).is_muted


def test_moderators_cannot_target_themselves(space, space_host):
    with pytest.raises(ValidationFailed) as exc:
        services.participant_mute(actor=space_host, space_id=space.pk, user_id=space_host.pk)
    assert exc.value.code == "cannot_target_self"


# --- Remove and block --------------------------------------------------------------------------


def test_the_host_removes_a_speaker_who_loses_the_stage_and_cannot_rejoin(
    space, space_host, committed, published
):
    alice = make_speaker(space)
    published.clear()
    with committed():
        services.participant_remove(actor=space_host, space_id=space.pk, user_id=alice.pk)

    p = participant(space, alice)
    assert (p.role, p.state) == (Participant.Role.LISTENER, Participant.State.REMOVED)
    assert fresh(space).speaker_count == 0
    log = ModerationAction.objects.get(action="participant_removed")
    assert (log.actor, log.target, log.details) == (space_host, alice, {"previous_role": "speaker"})
    assert [(group, e["type"]) for group, e in published] == [
        (bus.space_group(space.pk), "participant.removed"),
        (bus.user_group(alice.pk), "participant.removed"),
    ]
    with pytest.raises(Forbidden):
        services.space_join(user=alice, space_id=space.pk)


def test_a_cohost_removes_a_listener(space):
    bob = make_cohost(space)
    who = join(space)
    services.speaker_request_create(user=who, space_id=space.pk)

    services.participant_remove(actor=bob, space_id=space.pk, user_id=who.pk)

    assert participant(space, who).state == Participant.State.REMOVED
    assert fresh(space).listener_count == 0
    assert SpeakerRequest.objects.get(user=who).state == SpeakerRequest.State.CANCELLED


def test_removing_someone_who_left_still_keeps_them_out(space, space_host):
    who = join(space)
    services.space_leave(user=who, space_id=space.pk)

    services.participant_remove(actor=space_host, space_id=space.pk, user_id=who.pk)

    assert participant(space, who).state == Participant.State.REMOVED
    assert fresh(space).listener_count == 0
    with pytest.raises(Forbidden):
        services.space_join(user=who, space_id=space.pk)


def test_removing_twice_changes_nothing(space, space_host):
    who = join(space)
    services.participant_remove(actor=space_host, space_id=space.pk, user_id=who.pk)
    services.participant_remove(actor=space_host, space_id=space.pk, user_id=who.pk)
    assert ModerationAction.objects.filter(action="participant_removed").count() == 1


def test_nobody_removes_the_host_and_cohosts_do_not_remove_cohosts(space, space_host):
    bob, carol = make_cohost(space), make_cohost(space)
    with pytest.raises(Forbidden):
        services.participant_remove(actor=bob, space_id=space.pk, user_id=space_host.pk)
    with pytest.raises(Forbidden):
        services.participant_remove(actor=bob, space_id=space.pk, user_id=carol.pk)
    services.participant_remove(actor=space_host, space_id=space.pk, user_id=carol.pk)
    assert participant(space, carol).state == Participant.State.REMOVED
    assert fresh(space).cohost_count == 1


def test_a_listener_cannot_remove_anyone(space):
    who, target = join(space), join(space)
    with pytest.raises(Forbidden):
        services.participant_remove(actor=who, space_id=space.pk, user_id=target.pk)
    assert participant(space, target).state == Participant.State.PRESENT


def test_removing_someone_who_never_joined_is_not_found(space, space_host, user):
    with pytest.raises(NotFound) as exc:
        services.participant_remove(actor=space_host, space_id=space.pk, user_id=user.pk)
    assert exc.value.code == "participant_not_found"


def test_the_host_of_space_a_cannot_remove_someone_from_space_b(space):
    other = SpaceFactory()
    who = join(space)
    with pytest.raises(Forbidden):
        services.participant_remove(actor=other.host, space_id=space.pk, user_id=who.pk)
    assert participant(space, who).state == Participant.State.PRESENT


def test_the_host_blocks_a_participant_account_wide(space, space_host):
    who = join(space)

    services.participant_block(actor=space_host, space_id=space.pk, user_id=who.pk)

    assert Block.objects.filter(blocker=space_host, blocked=who).exists()
    assert participant(space, who).state == Participant.State.REMOVED
    assert ModerationAction.objects.filter(action="user_blocked", target=who).exists()


def test_a_blocked_user_cannot_join_the_hosts_next_space(space, space_host):
    who = join(space)
    services.participant_block(actor=space_host, space_id=space.pk, user_id=who.pk)
    services.space_end(actor=space_host, space_id=space.pk)
    next_space = SpaceFactory(host=space_host)

    with pytest.raises(Forbidden) as exc:
        services.space_join(user=who, space_id=next_space.pk)
    assert exc.value.code == "blocked"


def test_a_cohost_cannot_block_account_wide(space):
    bob = make_cohost(space)
    who = join(space)
    with pytest.raises(Forbidden) as exc:
        services.participant_block(actor=bob, space_id=space.pk, user_id=who.pk)
    assert exc.value.code == "host_only"
    assert not Block.objects.exists()


# --- The log -----------------------------------------------------------------------------------


def test_every_moderation_action_is_in_the_log_with_actor_target_and_time(space, space_host):
    bob = make_cohost(space)
    alice = make_speaker(space)
    services.participant_unmute(actor=alice, space_id=space.pk, user_id=alice.pk)
    services.participant_mute(actor=bob, space_id=space.pk, user_id=alice.pk)
    services.participant_demote(actor=bob, space_id=space.pk, user_id=alice.pk)
    services.captions_toggle(actor=space_host, space_id=space.pk, enabled=True)
    services.cohost_revoke(actor=space_host, space_id=space.pk, user_id=bob.pk)
    services.participant_remove(actor=space_host, space_id=space.pk, user_id=alice.pk)
    services.space_end(actor=space_host, space_id=space.pk)

    log = list(
        ModerationAction.objects.filter(space=space)
        .order_by("created_at", "id")
        .values_list("action", "actor", "target")
    )
    assert log == [
        ("cohost_invited", space_host.pk, bob.pk),
        ("cohost_added", bob.pk, bob.pk),
        ("request_approved", space_host.pk, alice.pk),
        ("participant_muted", bob.pk, alice.pk),
        ("speaker_demoted", bob.pk, alice.pk),
        ("captions_toggled", space_host.pk, None),
        ("cohost_removed", space_host.pk, bob.pk),
        ("participant_removed", space_host.pk, alice.pk),
        ("space_ended", space_host.pk, None),
    ]
    assert all(a.created_at is not None for a in ModerationAction.objects.filter(space=space))


def test_the_log_is_visible_to_the_host_cohosts_and_staff_only(space, space_host):
    bob = make_cohost(space)
    who = join(space)
    staff = UserFactory(is_staff=True)

    for viewer in (space_host, bob, staff):
        assert selectors.moderation_log_for(viewer=viewer, space_id=space.pk).count() == 2
    for viewer in (who, UserFactory()):
        with pytest.raises(Forbidden):
            selectors.moderation_log_for(viewer=viewer, space_id=space.pk)
