"""Getting on stage: raised hands (speaker requests) and invitations to speak or co-host.

Stage and co-host slots are checked and taken under the Space lock (`_ensure_stage_room`,
`_ensure_cohost_room`), with the CheckConstraints on the Space's counters behind them. An
invitation checks capacity when sent and again when accepted. Answering a request or an
invitation that is no longer pending is 409, whoever answered it, so two moderators clicking
at once see who won.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts import services as accounts_services
from accounts.models import Follow, Notification, User
from spaces import events
from spaces.access import access_space
from spaces.models import Invitation, Participant, Space, SpeakerRequest
from spaces.permissions import (
    STAGE,
    check_host_only,
    check_live,
    check_moderate,
    check_raise_hand,
    check_withdraw_hand,
    ensure,
)
from spaces.services.common import Action, Role, _cancel_pending, _log, _set_role, _target
from spaces_project.errors import Conflict, Forbidden, NotFound, ValidationFailed


def _host_follows(space: Space, user: User) -> bool:
    return Follow.objects.filter(follower_id=space.host_id, followee_id=user.pk).exists()


def _ensure_stage_room(space: Space) -> None:
    """Caller holds the Space lock: the count cannot change until commit."""
    if space.speaker_count >= space.max_speakers:
        raise Conflict(gettext("The stage is full."), code="stage_full")


def _ensure_cohost_room(space: Space) -> None:
    if space.cohost_count >= space.max_cohosts:
        raise Conflict(
            gettext("This Space already has the most co-hosts it can have."), code="cohosts_full"
        )


def speaker_request_create(*, user: User, space_id: int) -> tuple[SpeakerRequest, bool]:
    """Raise your hand. Returns (request, created); a second raise returns the open one."""
    with transaction.atomic():
        space, participant = access_space(user=user, space_id=space_id, lock=True)
        follows = space.speaking_policy == Space.SpeakingPolicy.FOLLOWED_BY_HOST and _host_follows(
            space, user
        )
        ensure(check_raise_hand(space, participant, host_follows_viewer=follows))
        existing = SpeakerRequest.objects.filter(
            space=space, user=user, state=SpeakerRequest.State.PENDING
        ).first()
        if existing is not None:
            return existing, False
        request = SpeakerRequest.objects.create(space=space, user=user)
        events.publish(space, events.HAND_RAISED, request=events.speaker_request(request))
    return request, True


def speaker_request_withdraw(*, user: User, space_id: int) -> SpeakerRequest | None:
    """Lower your hand. Idempotent: None when no request was open."""
    with transaction.atomic():
        space, participant = access_space(user=user, space_id=space_id, lock=True)
        ensure(check_withdraw_hand(space, participant))
        request = SpeakerRequest.objects.filter(
            space=space, user=user, state=SpeakerRequest.State.PENDING
        ).first()
        if request is None:
            return None
        request.state = SpeakerRequest.State.WITHDRAWN
        request.decided_at = timezone.now()
        request.save(update_fields=["state", "decided_at"])
        events.publish(space, events.HAND_WITHDRAWN, request=events.speaker_request(request))
    return request


def _pending_request(space: Space, request_id: int) -> SpeakerRequest:
    """A request of this Space (404 for another Space's id) that is still open (else 409)."""
    request = (
        SpeakerRequest.objects.filter(pk=request_id, space=space).select_related("user").first()
    )
    if request is None:
        raise NotFound(gettext("No such request in this Space."), code="request_not_found")
    if request.state != SpeakerRequest.State.PENDING:
        raise Conflict(
            gettext("This request is already %(state)s.")
            % {"state": request.get_state_display().lower()},
            code="request_not_pending",
        )
    return request


def speaker_request_approve(*, actor: User, space_id: int, request_id: int) -> Participant:
    """Host or co-host brings a requester on stage, if a slot is free (409 `stage_full`).

    Not idempotent by design: approving an answered request is 409 `request_not_pending`,
    whoever answered it, so two moderators clicking at once see who won.
    """
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_moderate(space, me))
        request = _pending_request(space, request_id)
        target = _target(space, request.user_id)
        if target is None or not target.is_present:
            raise Conflict(gettext("The requester is no longer in the Space."), code="not_in_space")
        if target.role in STAGE:
            raise Conflict(gettext("This user is already on stage."), code="already_speaker")
        _ensure_stage_room(space)
        now = timezone.now()
        previous = _set_role(space, target, Role.SPEAKER, now=now)
        request.state = SpeakerRequest.State.APPROVED
        request.decided_at = now
        request.decided_by = actor
        request.save(update_fields=["state", "decided_at", "decided_by"])
        _cancel_pending(space, target.user_id, now=now)
        _log(space, actor, Action.REQUEST_APPROVED, target=target.user, request_id=request.pk)
        events.publish(space, events.REQUEST_APPROVED, request=events.speaker_request(request))
        events.publish_role_changed(space, target, previous)
    return target


def speaker_request_deny(*, actor: User, space_id: int, request_id: int) -> SpeakerRequest:
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_moderate(space, me))
        request = _pending_request(space, request_id)
        request.state = SpeakerRequest.State.DENIED
        request.decided_at = timezone.now()
        request.decided_by = actor
        request.save(update_fields=["state", "decided_at", "decided_by"])
        _log(space, actor, Action.REQUEST_DENIED, target=request.user, request_id=request.pk)
        events.publish(space, events.REQUEST_DENIED, request=events.speaker_request(request))
    return request


def invitation_create(
    *, actor: User, space_id: int, invitee_id: int, kind: str
) -> tuple[Invitation, bool]:
    """Invite a present participant to speak (host or co-host) or to co-host (host only).

    Returns (invitation, created); inviting again while one is open returns it. The invitee
    gets a notification in their inbox. Capacity is checked now and again on accepting.
    """
    if kind not in Invitation.Kind.values:
        raise ValidationFailed(
            gettext("Unknown invitation kind."), fields={"kind": [gettext("Not a valid choice.")]}
        )
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        if kind == Invitation.Kind.COHOST:
            ensure(check_host_only(space, me, what=gettext("invite co-hosts")))
        else:
            ensure(check_moderate(space, me))
        if invitee_id == actor.pk:
            raise ValidationFailed(
                gettext("You cannot invite yourself."), code="cannot_target_self"
            )
        target = _target(space, invitee_id)
        if target is None:
            raise NotFound(gettext("This user is not in the Space."), code="participant_not_found")
        if not target.is_present:
            raise Conflict(gettext("This user is not in the Space now."), code="not_in_space")
        if kind == Invitation.Kind.SPEAKER:
            if target.role in STAGE:
                raise Conflict(gettext("This user is already on stage."), code="already_speaker")
            _ensure_stage_room(space)
        else:
            if target.role in (Role.HOST, Role.COHOST):
                raise Conflict(gettext("This user is already a co-host."), code="already_cohost")
            _ensure_cohost_room(space)
        existing = Invitation.objects.filter(
            space=space, invitee_id=invitee_id, kind=kind, state=Invitation.State.PENDING
        ).first()
        if existing is not None:
            return existing, False
        invitation = Invitation.objects.create(
            space=space, kind=kind, inviter=actor, invitee=target.user
        )
        action = Action.COHOST_INVITED if kind == Invitation.Kind.COHOST else Action.SPEAKER_INVITED
        _log(space, actor, action, target=target.user, invitation_id=invitation.pk)
        accounts_services.notification_create(
            recipient=target.user,
            kind=Notification.Kind.SPACE_INVITE,
            payload={
                "space_id": space.pk,
                "title": space.title,
                "invitation_id": invitation.pk,
                "kind": kind,
                "from": actor.username,
            },
        )
        event_type = (
            events.COHOST_INVITED if kind == Invitation.Kind.COHOST else events.SPEAKER_INVITED
        )
        events.publish(
            space,
            event_type,
            invitation=events.invitation(invitation),
            by=events.user_brief(actor),
        )
    return invitation, True


def _my_invitation(space: Space, user: User, invitation_id: int) -> Invitation:
    """The user's own invitation in this Space: 404 for anyone else's or another Space's."""
    invitation = (
        Invitation.objects.filter(pk=invitation_id, space=space, invitee=user)
        .select_related("invitee")
        .first()
    )
    if invitation is None:
        raise NotFound(gettext("No such invitation."), code="invitation_not_found")
    return invitation


def invitation_accept(*, user: User, space_id: int, invitation_id: int) -> Participant:
    with transaction.atomic():
        space, _ = access_space(user=user, space_id=space_id, lock=True)
        invitation = _my_invitation(space, user, invitation_id)
        ensure(check_live(space))
        if invitation.state != Invitation.State.PENDING:
            raise Conflict(
                gettext("This invitation is already %(state)s.")
                % {"state": invitation.get_state_display().lower()},
                code="invitation_not_pending",
            )
        me = _target(space, user.pk)
        if me is None or not me.is_present:
            raise Forbidden(gettext("Join the Space first."), code="not_in_space")
        now = timezone.now()
        if invitation.kind == Invitation.Kind.SPEAKER:
            if me.role in STAGE:
                raise Conflict(gettext("You are already on stage."), code="already_speaker")
            _ensure_stage_room(space)
            previous = _set_role(space, me, Role.SPEAKER, now=now)
        else:
            if me.role in (Role.HOST, Role.COHOST):
                raise Conflict(gettext("You are already a co-host."), code="already_cohost")
            _ensure_cohost_room(space)
            previous = _set_role(space, me, Role.COHOST, now=now)
            _log(
                space,
                user,
                Action.COHOST_ADDED,
                target=user,
                invitation_id=invitation.pk,
                invited_by=invitation.inviter_id,
            )
            events.publish(space, events.COHOST_ADDED, participant=events.participant(me))
        invitation.state = Invitation.State.ACCEPTED
        invitation.responded_at = now
        invitation.save(update_fields=["state", "responded_at"])
        _cancel_pending(space, user.pk, now=now)
        events.publish_role_changed(space, me, previous)
    return me


def invitation_decline(*, user: User, space_id: int, invitation_id: int) -> Invitation:
    with transaction.atomic():
        space, _ = access_space(user=user, space_id=space_id, lock=True)
        invitation = _my_invitation(space, user, invitation_id)
        if invitation.state != Invitation.State.PENDING:
            raise Conflict(
                gettext("This invitation is already %(state)s.")
                % {"state": invitation.get_state_display().lower()},
                code="invitation_not_pending",
            )
        invitation.state = Invitation.State.DECLINED
        invitation.responded_at = timezone.now()
        invitation.save(update_fields=["state", "responded_at"])
        events.publish(space, events.INVITATION_DECLINED, invitation=events.invitation(invitation))
    return invitation


def invitation_cancel(*, actor: User, space_id: int, invitation_id: int) -> Invitation:
    """Take back an open invitation: moderators for speaker invitations, the host for co-host
    ones. 409 `invitation_not_pending` once it was answered, like answering twice."""
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        invitation = (
            Invitation.objects.filter(pk=invitation_id, space=space)
            .select_related("invitee")
            .first()
        )
        if invitation is None:
            raise NotFound(gettext("No such invitation."), code="invitation_not_found")
        if invitation.kind == Invitation.Kind.COHOST:
            ensure(check_host_only(space, me, what=gettext("manage co-hosts")))
        else:
            ensure(check_moderate(space, me))
        if invitation.state != Invitation.State.PENDING:
            raise Conflict(
                gettext("This invitation is already %(state)s.")
                % {"state": invitation.get_state_display().lower()},
                code="invitation_not_pending",
            )
        invitation.state = Invitation.State.CANCELLED
        invitation.responded_at = timezone.now()
        invitation.save(update_fields=["state", "responded_at"])
        _log(
            space,
            actor,
            Action.INVITATION_CANCELLED,
            target=invitation.invitee,
            invitation_id=invitation.pk,
            kind=invitation.kind,
        )
        events.publish(space, events.INVITATION_CANCELLED, invitation=events.invitation(invitation))
    return invitation
