"""Moderating the stage, and a speaker's own microphone: demote, mute, unmute, step down,
remove, block, take the co-host role back.

Only the speaker unmutes themselves (as on X); a host or co-host may mute them, and the mute
is marked `muted_by_host`. Removal and blocking end the target's presence in one UPDATE that
frees their slot; the removed user's own sockets hear it too.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import services as accounts_services
from accounts.models import User
from spaces import events
from spaces.access import access_space
from spaces.models import Participant, Space
from spaces.permissions import (
    check_host_only,
    check_live,
    check_moderate,
    check_self_audio,
    check_step_down,
    ensure,
)
from spaces.services.common import Action, Role, _acted_on, _depart, _log, _set_role, _target
from spaces_project.errors import Conflict, Forbidden, NotFound


def participant_demote(*, actor: User, space_id: int, user_id: int) -> Participant:
    """Move a speaker (or, for the host, a co-host) back to the audience."""
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_moderate(space, me))
        me, target = _acted_on(space, me, user_id)
        if not target.on_stage:
            raise Conflict(_("This user is not on stage."), code="not_on_stage")
        previous = _set_role(space, target, Role.LISTENER, now=timezone.now())
        _log(space, actor, Action.SPEAKER_DEMOTED, target=target.user, previous_role=previous)
        if previous == Role.COHOST:
            events.publish(space, events.COHOST_REMOVED, user=events.user_brief(target.user))
        events.publish_role_changed(space, target, previous)
    return target


def participant_mute(*, actor: User, space_id: int, user_id: int) -> Participant:
    """Host or co-host mutes someone on stage (the host also co-hosts). Only they can unmute.
    Muting a muted speaker changes nothing."""
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_moderate(space, me))
        me, target = _acted_on(space, me, user_id)
        if not target.on_stage:
            raise Conflict(_("This user is not on stage."), code="not_on_stage")
        if target.is_muted:
            return target
        target.is_muted = True
        target.muted_by_host = True
        target.save(update_fields=["is_muted", "muted_by_host"])
        _log(space, actor, Action.PARTICIPANT_MUTED, target=target.user)
        events.publish(
            space,
            events.PARTICIPANT_MUTED,
            participant=events.participant(target),
            by=events.user_brief(actor),
        )
    return target


def participant_mute_self(*, user: User, space_id: int) -> Participant:
    with transaction.atomic():
        space, me = access_space(user=user, space_id=space_id, lock=True)
        ensure(check_self_audio(space, me))
        assert me is not None
        if me.is_muted:
            return me
        me.is_muted = True
        me.muted_by_host = False
        me.save(update_fields=["is_muted", "muted_by_host"])
        events.publish(
            space,
            events.PARTICIPANT_MUTED,
            participant=events.participant(me),
            by=events.user_brief(user),
        )
    return me


def participant_unmute(*, actor: User, space_id: int, user_id: int) -> Participant:
    """Only the speaker unmutes themselves (as on X): anyone else gets 403
    `only_self_unmute`, the host included."""
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_live(space))
        if user_id != actor.pk:
            raise Forbidden(_("Only the speaker can unmute themselves."), code="only_self_unmute")
        ensure(check_self_audio(space, me))
        assert me is not None
        if not me.is_muted:
            return me
        me.is_muted = False
        me.muted_by_host = False
        me.save(update_fields=["is_muted", "muted_by_host"])
        events.publish(space, events.PARTICIPANT_UNMUTED, participant=events.participant(me))
    return me


def participant_step_down(*, user: User, space_id: int) -> Participant:
    """A speaker or co-host goes back to the audience by themselves."""
    with transaction.atomic():
        space, me = access_space(user=user, space_id=space_id, lock=True)
        ensure(check_step_down(space, me))
        assert me is not None
        previous = _set_role(space, me, Role.LISTENER, now=timezone.now())
        if previous == Role.COHOST:
            _log(space, user, Action.COHOST_STEPPED_DOWN, target=user)
            events.publish(space, events.COHOST_REMOVED, user=events.user_brief(user))
        events.publish_role_changed(space, me, previous)
    return me


def _remove(space: Space, actor: User, target: Participant, *, now: datetime) -> str:
    previous = _depart(space, target, state=Participant.State.REMOVED, now=now)
    payload = {
        "user": events.user_brief(target.user),
        "previous_role": previous,
        "counts": events.counts(space),
    }
    events.publish(space, events.PARTICIPANT_REMOVED, **payload)
    # The removed user's own sockets hear it too, to close the room.
    events.publish_to_user(target.user_id, space, events.PARTICIPANT_REMOVED, **payload)
    return previous


def participant_remove(*, actor: User, space_id: int, user_id: int) -> Participant:
    """Host or co-host removes a participant; they cannot rejoin this Space. Idempotent."""
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_moderate(space, me))
        me, target = _acted_on(space, me, user_id)
        if target.state == Participant.State.REMOVED:
            return target
        previous = _remove(space, actor, target, now=timezone.now())
        _log(space, actor, Action.PARTICIPANT_REMOVED, target=target.user, previous_role=previous)
    return target


def participant_block(*, actor: User, space_id: int, user_id: int) -> Participant:
    """The host removes a participant and blocks them account-wide."""
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_host_only(space, me, what=_("block people")))
        me, target = _acted_on(space, me, user_id)
        if target.state != Participant.State.REMOVED:
            _remove(space, actor, target, now=timezone.now())
        accounts_services.block_create(blocker=actor, blocked=target.user)
        _log(space, actor, Action.USER_BLOCKED, target=target.user)
    return target


def cohost_revoke(*, actor: User, space_id: int, user_id: int) -> Participant:
    """The host takes the co-host role back. The former co-host stays on stage as a speaker if
    a slot is free, else goes to the audience."""
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_host_only(space, me, what=_("manage co-hosts")))
        target = _target(space, user_id)
        if target is None:
            raise NotFound(_("This user is not in the Space."), code="participant_not_found")
        if target.role != Role.COHOST:
            raise Conflict(_("This user is not a co-host."), code="not_cohost")
        has_room = space.speaker_count < space.max_speakers
        role = Role.SPEAKER if has_room else Role.LISTENER
        previous = _set_role(space, target, role, now=timezone.now())
        _log(space, actor, Action.COHOST_REMOVED, target=target.user, new_role=role)
        events.publish(space, events.COHOST_REMOVED, user=events.user_brief(target.user))
        events.publish_role_changed(space, target, previous)
    return target
