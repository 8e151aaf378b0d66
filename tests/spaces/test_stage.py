"""Getting on stage and off it: requests, invitations, co-hosts, capacity."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from accounts.models import Follow, Notification
from spaces import services
from spaces.models import Invitation, ModerationAction, Participant, Space, SpeakerRequest
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

Role = Participant.Role


def raise_hand(space, who=None):
    who = join(space, who)
    request, _ = services.speaker_request_create(user=who, space_id=space.pk)
    return who, request


# --- Raising and lowering a hand ---------------------------------------------------------------


def test_a_listener_raises_a_hand_once_and_a_second_raise_returns_the_same_request(space):
    who, first = raise_hand(space)

    second, created = services.speaker_request_create(user=who, space_id=space.pk)

    assert (second.pk, created) == (first.pk, False)
    assert SpeakerRequest.objects.filter(space=space, user=who).count() == 1


def test_the_database_allows_one_open_request_per_user_and_space(space):
    who, _ = raise_hand(space)
    with pytest.raises(IntegrityError), transaction.atomic():
        SpeakerRequest.objects.create(space=space, user=who)


def test_someone_not_in_the_space_cannot_raise_a_hand(space, user):
    with pytest.raises(Forbidden) as exc:
        services.speaker_request_create(user=user, space_id=space.pk)
    assert exc.value.code == "not_in_space"


def test_a_speaker_raising_a_hand_is_told_they_are_already_a_speaker(space):
    alice = make_speaker(space)
    with pytest.raises(Conflict) as exc:
        services.speaker_request_create(user=alice, space_id=space.pk)
    assert exc.value.code == "already_speaker"


def test_in_an_invited_only_space_nobody_can_ask_to_speak(space):
    Space.objects.filter(pk=space.pk).update(speaking_policy=Space.SpeakingPolicy.INVITED_ONLY)
    who = join(space)
    with pytest.raises(Forbidden) as exc:
        services.speaker_request_create(user=who, space_id=space.pk)
    assert exc.value.code == "speaking_invite_only"


def test_in_a_followed_by_host_space_only_people_the_host_follows_can_ask(space, space_host):
    Space.objects.filter(pk=space.pk).update(speaking_policy=Space.SpeakingPolicy.FOLLOWED_BY_HOST)
    stranger, friend = join(space), join(space)
    Follow.objects.create(follower=space_host, followee=friend)

    with pytest.raises(Forbidden) as exc:
        services.speaker_request_create(user=stranger, space_id=space.pk)
    assert exc.value.code == "speaking_followed_only"

    _, created = services.speaker_request_create(user=friend, space_id=space.pk)
    assert created


def test_withdrawing_lowers_the_hand_and_withdrawing_again_changes_nothing(
    space, committed, published
):
    who, _ = raise_hand(space)
    with committed():
        withdrawn = services.speaker_request_withdraw(user=who, space_id=space.pk)
        again = services.speaker_request_withdraw(user=who, space_id=space.pk)

    assert withdrawn.state == SpeakerRequest.State.WITHDRAWN
    assert again is None
    assert event_types(published) == ["hand.withdrawn"]


# --- Approving and denying ---------------------------------------------------------------------


def test_the_host_approves_a_request_and_the_requester_is_a_muted_speaker(space, space_host):
    who, request = raise_hand(space)

    p = services.speaker_request_approve(actor=space_host, space_id=space.pk, request_id=request.pk)

    assert (p.role, p.is_muted) == (Role.SPEAKER, True)
    request.refresh_from_db()
    assert (request.state, request.decided_by) == (SpeakerRequest.State.APPROVED, space_host)
    space = fresh(space)
    assert (space.speaker_count, space.listener_count) == (1, 0)
    log = ModerationAction.objects.get(action=ModerationAction.Action.REQUEST_APPROVED)
    assert (log.actor, log.target, log.details) == (space_host, who, {"request_id": request.pk})


def test_a_cohost_can_approve_a_request(space):
    bob = make_cohost(space)
    who, request = raise_hand(space)

    services.speaker_request_approve(actor=bob, space_id=space.pk, request_id=request.pk)

    assert participant(space, who).role == Role.SPEAKER


def test_a_listener_cannot_approve_a_request(space):
    _, request = raise_hand(space)
    nosy = join(space)

    with pytest.raises(Forbidden) as exc:
        services.speaker_request_approve(actor=nosy, space_id=space.pk, request_id=request.pk)

    assert exc.value.code == "not_moderator"
    request.refresh_from_db()
    assert request.state == SpeakerRequest.State.PENDING


def test_a_speaker_cannot_approve_a_request(space):
    alice = make_speaker(space)
    _, request = raise_hand(space)
    with pytest.raises(Forbidden):
        services.speaker_request_approve(actor=alice, space_id=space.pk, request_id=request.pk)


def test_the_host_of_space_a_cannot_approve_a_request_in_space_b(space):
    other = SpaceFactory()
    _, request = raise_hand(space)

    with pytest.raises(Forbidden):
        services.speaker_request_approve(actor=other.host, space_id=space.pk, request_id=request.pk)
    request.refresh_from_db()
    assert request.state == SpeakerRequest.State.PENDING


def test_a_request_of_space_b_used_under_space_a_is_not_found(space, space_host):
    other = SpaceFactory()
    _, request_in_b = raise_hand(other)

    with pytest.raises(NotFound) as exc:
        services.speaker_request_approve(
            actor=space_host, space_id=space.pk, request_id=request_in_b.pk
        )

    assert exc.value.code == "request_not_found"
    request_in_b.refresh_from_db()
    assert request_in_b.state == SpeakerRequest.State.PENDING


def test_approving_on_an_ended_space_is_a_conflict(space, space_host):
    _, request = raise_hand(space)
    services.space_end(actor=space_host, space_id=space.pk)

    with pytest.raises(Conflict) as exc:
        services.speaker_request_approve(actor=space_host, space_id=space.pk, request_id=request.pk)

    assert exc.value.code == "space_ended"


def test_approving_an_approved_request_again_is_a_conflict(space, space_host):
    _, request = raise_hand(space)
    services.speaker_request_approve(actor=space_host, space_id=space.pk, request_id=request.pk)

    with pytest.raises(Conflict) as exc:
        services.speaker_request_approve(actor=space_host, space_id=space.pk, request_id=request.pk)

    assert exc.value.code == "request_not_pending"
    assert fresh(space).speaker_count == 1


def test_approving_a_withdrawn_request_is_a_conflict(space, space_host):
    who, request = raise_hand(space)
    services.speaker_request_withdraw(user=who, space_id=space.pk)

    with pytest.raises(Conflict) as exc:
        services.speaker_request_approve(actor=space_host, space_id=space.pk, request_id=request.pk)
    assert exc.value.code == "request_not_pending"


def test_approving_when_the_stage_is_full_is_refused_and_nothing_changes(space, space_host):
    Space.objects.filter(pk=space.pk).update(max_speakers=2)
    make_speaker(space)
    make_speaker(space)
    who, request = raise_hand(space)

    with pytest.raises(Conflict) as exc:
        services.speaker_request_approve(actor=space_host, space_id=space.pk, request_id=request.pk)

    assert exc.value.code == "stage_full"
    assert participant(space, who).role == Role.LISTENER
    request.refresh_from_db()
    assert request.state == SpeakerRequest.State.PENDING
    assert fresh(space).speaker_count == 2


def test_the_host_and_cohosts_do_not_take_speaker_slots(space, space_host):
    Space.objects.filter(pk=space.pk).update(max_speakers=1)
    make_cohost(space)
    make_cohost(space)

    alice = make_speaker(space)

    assert participant(space, alice).role == Role.SPEAKER
    assert fresh(space).speaker_count == 1


def test_the_database_refuses_more_speakers_than_the_stage_holds(space):
    Space.objects.filter(pk=space.pk).update(max_speakers=1)
    make_speaker(space)
    with pytest.raises(IntegrityError), transaction.atomic():
        Space.objects.filter(pk=space.pk).update(speaker_count=2)


def test_the_database_refuses_a_speaker_who_is_not_present(space):
    alice = make_speaker(space)
    with pytest.raises(IntegrityError), transaction.atomic():
        Participant.objects.filter(space=space, user=alice).update(state="left")


def test_denying_a_request_keeps_the_requester_in_the_audience_and_logs_it(
    space, space_host, committed, published
):
    who, request = raise_hand(space)
    with committed():
        denied = services.speaker_request_deny(
            actor=space_host, space_id=space.pk, request_id=request.pk
        )

    assert denied.state == SpeakerRequest.State.DENIED
    assert participant(space, who).role == Role.LISTENER
    assert ModerationAction.objects.filter(action="request_denied", target=who).exists()
    assert event_types(published) == ["request.denied"]


def test_a_listener_cannot_deny_a_request(space):
    _, request = raise_hand(space)
    with pytest.raises(Forbidden):
        services.speaker_request_deny(actor=join(space), space_id=space.pk, request_id=request.pk)


def test_approval_publishes_request_approved_and_role_changed(
    space, space_host, committed, published
):
    _, request = raise_hand(space)
    published.clear()
    with committed():
        services.speaker_request_approve(actor=space_host, space_id=space.pk, request_id=request.pk)

    assert event_types(published) == ["request.approved", "role.changed"]
    role_changed = published[1][1]
    assert role_changed["participant"]["role"] == "speaker"
    assert role_changed["previous_role"] == "listener"
    assert role_changed["counts"]["speakers"] == 1


# --- Invitations -------------------------------------------------------------------------------


def test_the_host_invites_a_listener_to_speak_and_they_accept(space, space_host):
    who = join(space)

    invitation, created = services.invitation_create(
        actor=space_host, space_id=space.pk, invitee_id=who.pk, kind="speaker"
    )
    p = services.invitation_accept(user=who, space_id=space.pk, invitation_id=invitation.pk)

    assert created
    assert p.role == Role.SPEAKER
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.ACCEPTED
    note = Notification.objects.get(recipient=who, kind=Notification.Kind.SPACE_INVITE)
    assert note.payload["invitation_id"] == invitation.pk
    assert ModerationAction.objects.filter(action="speaker_invited", target=who).exists()


def test_inviting_twice_returns_the_open_invitation(space, space_host):
    who = join(space)
    first, _ = services.invitation_create(
        actor=space_host, space_id=space.pk, invitee_id=who.pk, kind="speaker"
    )
    second, created = services.invitation_create(
        actor=space_host, space_id=space.pk, invitee_id=who.pk, kind="speaker"
    )
    assert (second.pk, created) == (first.pk, False)


def test_accepting_an_invitation_also_settles_a_raised_hand(space, space_host):
    who, request = raise_hand(space)
    invitation, _ = services.invitation_create(
        actor=space_host, space_id=space.pk, invitee_id=who.pk, kind="speaker"
    )

    services.invitation_accept(user=who, space_id=space.pk, invitation_id=invitation.pk)

    request.refresh_from_db()
    assert request.state == SpeakerRequest.State.CANCELLED


def test_a_listener_declines_an_invitation(space, space_host, committed, published):
    who = join(space)
    invitation, _ = services.invitation_create(
        actor=space_host, space_id=space.pk, invitee_id=who.pk, kind="speaker"
    )
    with committed():
        declined = services.invitation_decline(
            user=who, space_id=space.pk, invitation_id=invitation.pk
        )

    assert declined.state == Invitation.State.DECLINED
    assert participant(space, who).role == Role.LISTENER
    assert event_types(published) == ["invitation.declined"]
    with pytest.raises(Conflict) as exc:
        services.invitation_accept(user=who, space_id=space.pk, invitation_id=invitation.pk)
    assert exc.value.code == "invitation_not_pending"


def test_someone_else_cannot_accept_your_invitation(space, space_host):
    who, thief = join(space), join(space)
    invitation, _ = services.invitation_create(
        actor=space_host, space_id=space.pk, invitee_id=who.pk, kind="speaker"
    )

    with pytest.raises(NotFound) as exc:
        services.invitation_accept(user=thief, space_id=space.pk, invitation_id=invitation.pk)

    assert exc.value.code == "invitation_not_found"
    assert participant(space, thief).role == Role.LISTENER


def test_an_invitation_of_space_b_cannot_be_accepted_under_space_a(space):
    other = SpaceFactory()
    who = join(other)
    join(space, who)
    invitation, _ = services.invitation_create(
        actor=other.host, space_id=other.pk, invitee_id=who.pk, kind="speaker"
    )

    with pytest.raises(NotFound):
        services.invitation_accept(user=who, space_id=space.pk, invitation_id=invitation.pk)


def test_a_listener_cannot_invite_anyone(space):
    who, target = join(space), join(space)
    with pytest.raises(Forbidden):
        services.invitation_create(
            actor=who, space_id=space.pk, invitee_id=target.pk, kind="speaker"
        )


def test_inviting_someone_who_never_joined_is_not_found(space, space_host, user):
    with pytest.raises(NotFound) as exc:
        services.invitation_create(
            actor=space_host, space_id=space.pk, invitee_id=user.pk, kind="speaker"
        )
    assert exc.value.code == "participant_not_found"


def test_inviting_a_speaker_to_speak_is_a_conflict(space, space_host):
    alice = make_speaker(space)
    with pytest.raises(Conflict) as exc:
        services.invitation_create(
            actor=space_host, space_id=space.pk, invitee_id=alice.pk, kind="speaker"
        )
    assert exc.value.code == "already_speaker"


def test_inviting_yourself_is_refused(space, space_host):
    with pytest.raises(ValidationFailed) as exc:
        services.invitation_create(
            actor=space_host, space_id=space.pk, invitee_id=space_host.pk, kind="cohost"
        )
    assert exc.value.code == "cannot_target_self"


def test_a_speaker_invitation_accepted_when_the_stage_filled_meanwhile_is_refused(
    space, space_host
):
    Space.objects.filter(pk=space.pk).update(max_speakers=1)
    who = join(space)
    invitation, _ = services.invitation_create(
        actor=space_host, space_id=space.pk, invitee_id=who.pk, kind="speaker"
    )
    make_speaker(space)

    with pytest.raises(Conflict) as exc:
        services.invitation_accept(user=who, space_id=space.pk, invitation_id=invitation.pk)

    assert exc.value.code == "stage_full"
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.PENDING


def test_an_unknown_invitation_kind_is_a_field_error(space, space_host):
    who = join(space)
    with pytest.raises(ValidationFailed) as exc:
        services.invitation_create(
            actor=space_host, space_id=space.pk, invitee_id=who.pk, kind="emperor"
        )
    assert "kind" in exc.value.fields


def test_the_host_cancels_an_open_invitation(space, space_host):
    who = join(space)
    invitation, _ = services.invitation_create(
        actor=space_host, space_id=space.pk, invitee_id=who.pk, kind="speaker"
    )

    services.invitation_cancel(actor=space_host, space_id=space.pk, invitation_id=invitation.pk)

    assert ModerationAction.objects.filter(action="invitation_cancelled", target=who).exists()

    with pytest.raises(Conflict):
        services.invitation_accept(user=who, space_id=space.pk, invitation_id=invitation.pk)


# --- Co-hosts ----------------------------------------------------------------------------------


def test_the_host_makes_a_speaker_cohost_which_frees_the_speaker_slot(
    space, space_host, committed, published
):
    alice = make_speaker(space)
    invitation, _ = services.invitation_create(
        actor=space_host, space_id=space.pk, invitee_id=alice.pk, kind="cohost"
    )
    published.clear()
    with committed():
        p = services.invitation_accept(user=alice, space_id=space.pk, invitation_id=invitation.pk)

    assert p.role == Role.COHOST
    assert p.cohost_since is not None
    space = fresh(space)
    assert (space.speaker_count, space.cohost_count) == (0, 1)
    assert ModerationAction.objects.filter(action="cohost_added", target=alice).exists()
    assert event_types(published) == ["cohost.added", "role.changed"]


def test_a_cohost_cannot_invite_a_cohost(space):
    bob = make_cohost(space)
    who = join(space)

    with pytest.raises(Forbidden) as exc:
        services.invitation_create(actor=bob, space_id=space.pk, invitee_id=who.pk, kind="cohost")

    assert exc.value.code == "host_only"
    assert not Invitation.objects.filter(invitee=who).exists()


def test_a_cohost_can_invite_a_listener_to_speak(space):
    bob = make_cohost(space)
    who = join(space)

    invitation, _ = services.invitation_create(
        actor=bob, space_id=space.pk, invitee_id=who.pk, kind="speaker"
    )

    assert invitation.inviter == bob


def test_there_are_at_most_max_cohosts(space, space_host):
    make_cohost(space)
    make_cohost(space)
    who = join(space)

    with pytest.raises(Conflict) as exc:
        services.invitation_create(
            actor=space_host, space_id=space.pk, invitee_id=who.pk, kind="cohost"
        )

    assert exc.value.code == "cohosts_full"
    assert fresh(space).cohost_count == 2


def test_the_database_refuses_more_cohosts_than_allowed(space):
    make_cohost(space)
    make_cohost(space)
    with pytest.raises(IntegrityError), transaction.atomic():
        Space.objects.filter(pk=space.pk).update(cohost_count=3)


def test_cohost_invitations_accepted_after_the_slots_filled_are_refused(space, space_host):
    waiting = join(space)
    invitation, _ = services.invitation_create(
        actor=space_host, space_id=space.pk, invitee_id=waiting.pk, kind="cohost"
    )
    make_cohost(space)
    make_cohost(space)

    with pytest.raises(Conflict) as exc:
        services.invitation_accept(user=waiting, space_id=space.pk, invitation_id=invitation.pk)
    assert exc.value.code == "cohosts_full"


def test_the_host_revokes_a_cohost_who_stays_on_stage_as_a_speaker(space, space_host):
    bob = make_cohost(space)

    p = services.cohost_revoke(actor=space_host, space_id=space.pk, user_id=bob.pk)

    assert (p.role, p.cohost_since) == (Role.SPEAKER, None)
    space = fresh(space)
    assert (space.cohost_count, space.speaker_count) == (0, 1)
    assert ModerationAction.objects.filter(action="cohost_removed", target=bob).exists()


def test_a_revoked_cohost_goes_to_the_audience_when_the_stage_is_full(space, space_host):
    Space.objects.filter(pk=space.pk).update(max_speakers=1)
    bob = make_cohost(space)
    make_speaker(space)

    p = services.cohost_revoke(actor=space_host, space_id=space.pk, user_id=bob.pk)

    assert p.role == Role.LISTENER


def test_a_cohost_cannot_revoke_another_cohost(space):
    bob, carol = make_cohost(space), make_cohost(space)
    with pytest.raises(Forbidden):
        services.cohost_revoke(actor=bob, space_id=space.pk, user_id=carol.pk)
    assert participant(space, carol).role == Role.COHOST


def test_revoking_someone_who_is_not_a_cohost_is_a_conflict(space, space_host):
    alice = make_speaker(space)
    with pytest.raises(Conflict) as exc:
        services.cohost_revoke(actor=space_host, space_id=space.pk, user_id=alice.pk)
    assert exc.value.code == "not_cohost"


# --- Back to the audience ----------------------------------------------------------------------


def test_the_host_moves_a_speaker_back_to_the_audience(space, space_host, committed, published):
    alice = make_speaker(space)
    published.clear()
    with committed():
        p = services.participant_demote(actor=space_host, space_id=space.pk, user_id=alice.pk)

    assert p.role == Role.LISTENER
    space = fresh(space)
    assert (space.speaker_count, space.listener_count) == (0, 1)
    assert ModerationAction.objects.filter(action="speaker_demoted", target=alice).exists()
    assert event_types(published) == ["role.changed"]


def test_a_cohost_can_demote_a_speaker_but_not_another_cohost_or_the_host(space, space_host):
    bob, carol = make_cohost(space), make_cohost(space)
    alice = make_speaker(space)

    services.participant_demote(actor=bob, space_id=space.pk, user_id=alice.pk)
    with pytest.raises(Forbidden) as exc:
        services.participant_demote(actor=bob, space_id=space.pk, user_id=carol.pk)
    assert exc.value.code == "host_only"
    with pytest.raises(Forbidden) as exc:
        services.participant_demote(actor=bob, space_id=space.pk, user_id=space_host.pk)
    assert exc.value.code == "cannot_target_host"


def test_the_host_can_move_a_cohost_straight_to_the_audience(space, space_host):
    bob = make_cohost(space)

    services.participant_demote(actor=space_host, space_id=space.pk, user_id=bob.pk)

    assert participant(space, bob).role == Role.LISTENER
    assert fresh(space).cohost_count == 0


def test_demoting_a_listener_is_a_conflict(space, space_host):
    who = join(space)
    with pytest.raises(Conflict) as exc:
        services.participant_demote(actor=space_host, space_id=space.pk, user_id=who.pk)
    assert exc.value.code == "not_on_stage"


def test_a_speaker_steps_down_by_themselves(space):
    alice = make_speaker(space)

    p = services.participant_step_down(user=alice, space_id=space.pk)

    assert p.role == Role.LISTENER
    assert fresh(space).speaker_count == 0


def test_a_cohost_stepping_down_is_logged_as_a_cohost_change(space):
    bob = make_cohost(space)

    services.participant_step_down(user=bob, space_id=space.pk)

    assert ModerationAction.objects.filter(action="cohost_stepped_down", actor=bob).exists()


def test_the_host_and_listeners_cannot_step_down(space, space_host):
    with pytest.raises(Conflict) as exc:
        services.participant_step_down(user=space_host, space_id=space.pk)
    assert exc.value.code == "host_cannot_step_down"
    with pytest.raises(Conflict) as exc:
        services.participant_step_down(user=join(space), space_id=space.pk)
    assert exc.value.code == "not_on_stage"


def test_a_stranger_acting_on_a_space_is_refused_without_changing_it(space):
    alice = make_speaker(space)
    stranger = UserFactory()
    with pytest.raises(Forbidden):
        services.participant_demote(actor=stranger, space_id=space.pk, user_id=alice.pk)
    assert participant(space, alice).role == Role.SPEAKER
