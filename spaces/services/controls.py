"""Live controls of the host and co-hosts: who can ask to speak, a locked stage, mute everyone.

Each is one locked write of the Space, logged and published like every moderation action; doing
what is already done publishes nothing (a double click is one change). A locked stage refuses new
raised hands (409 `stage_locked`, in `check_raise_hand`); invitations still bring people up, so a
host can still call someone up from their comment.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from spaces import events
from spaces.access import access_space
from spaces.models import Participant, Space
from spaces.permissions import STAGE, check_moderate, ensure
from spaces.services.common import Action, _log
from spaces_project.errors import ValidationFailed


def speaking_policy_set(*, actor: User, space_id: int, policy: str) -> Space:
    """Change who can ask to speak while live. Hands already raised stay for the host to
    answer."""
    if policy not in Space.SpeakingPolicy.values:
        choices = ", ".join(Space.SpeakingPolicy.values)
        raise ValidationFailed(
            _("Not a speaking setting."),
            fields={"speaking_policy": [_("One of: %(choices)s.") % {"choices": choices}]},
        )
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_moderate(space, me))
        if space.speaking_policy == policy:
            return space
        space.speaking_policy = policy
        space.save(update_fields=["speaking_policy"])
        _log(space, actor, Action.SPEAKING_POLICY_CHANGED, speaking_policy=policy)
        events.publish(
            space,
            events.SPEAKING_POLICY_CHANGED,
            speaking_policy=policy,
            by=events.user_brief(actor),
        )
    return space


def stage_lock_set(*, actor: User, space_id: int, locked: bool) -> Space:
    """Lock the stage (no new raised hands) or open it again."""
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_moderate(space, me))
        if space.stage_locked == locked:
            return space
        space.stage_locked = locked
        space.save(update_fields=["stage_locked"])
        _log(space, actor, Action.STAGE_LOCKED, locked=locked)
        events.publish(space, events.STAGE_LOCK_CHANGED, locked=locked, by=events.user_brief(actor))
    return space


def mute_all(*, actor: User, space_id: int) -> list[Participant]:
    """Mute everyone on stage but yourself and the host, as a host's mute: each unmutes
    themselves when they want to speak again (a host cannot unmute anyone). Returns who was
    muted; each gets the usual `participant.muted`."""
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_moderate(space, me))
        targets = list(
            Participant.objects.filter(
                space=space, role__in=STAGE, state=Participant.State.PRESENT, is_muted=False
            )
            .exclude(user_id__in=[actor.pk, space.host_id])
            .select_related("user")
            .order_by("role_since", "pk")
        )
        if not targets:
            return []
        Participant.objects.filter(pk__in=[t.pk for t in targets]).update(
            is_muted=True, muted_by_host=True
        )
        _log(space, actor, Action.MUTED_ALL, user_ids=[t.user_id for t in targets])
        for target in targets:
            target.is_muted, target.muted_by_host = True, True
            events.publish(
                space,
                events.PARTICIPANT_MUTED,
                participant=events.participant(target),
                by=events.user_brief(actor),
            )
    return targets
