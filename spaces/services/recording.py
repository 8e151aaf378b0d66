"""Recording, live side: each stage member's consent, and the recording's start.

The host chooses at start (or when scheduling) whether the Space is recorded; each stage member
may then keep their voice out at any moment ("Don't record my voice"): the media origin records
a mix without them from its next tick while listeners still hear them (media/origin.py). The
choice is kept on their participant row across leaving and returning, written in the moderation
log (the replay lists who was left out from it), and published as `recording.consent_changed`,
which the media bridge applies (spaces/audio/bridge.py).

What happens to a recording after the end (the replay, clips, deletion) is the `replays` app's.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction

from accounts.models import User
from spaces import events, hooks
from spaces.access import access_space
from spaces.models import Participant, Recording, Space
from spaces.permissions import check_recording_consent, ensure
from spaces.services.common import Action, _log


def recording_consent_set(*, actor: User, space_id: int, recorded: bool) -> Participant:
    """A stage member keeps their voice out of the recording (`recorded=False`) or lets it
    back in. Setting the current value changes nothing (a double click logs once)."""
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_recording_consent(space, me))
        assert me is not None  # the check refuses a missing participant
        if me.voice_recorded == recorded:
            return me
        me.voice_recorded = recorded
        me.save(update_fields=["voice_recorded"])
        _log(space, actor, Action.RECORDING_CONSENT, target=actor, recorded=recorded)
        events.publish(space, events.RECORDING_CONSENT_CHANGED, participant=events.participant(me))
    return me


def recording_mark_started(*, space_id: int, started_at: datetime) -> Recording | None:
    """The media worker stored a recording's first segment (a trusted caller). The first call
    for a Space creates its `Recording` and publishes `recording.started`; later ones (another
    part, after the origin moved) change nothing. None for a Space that is not recorded."""
    space = Space.objects.filter(pk=space_id, recording_enabled=True).first()
    if space is None:
        return None
    existing = Recording.objects.filter(space_id=space_id).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            recording = Recording.objects.create(space=space, started_at=started_at)
            events.publish(space, events.RECORDING_STARTED, started_at=started_at.isoformat())
    except IntegrityError:  # another process's part got there first
        return Recording.objects.filter(space_id=space_id).first()
    return recording


def recording_part_closed(*, space_id: int) -> None:
    """A part of the recording is stored whole (its origin stopped). Replays finalizes the
    recording if the Space has ended (a hook: `replays` sits above Spaces)."""
    for finalize in hooks.recording_closed:
        finalize(space_id=space_id)


def left_out_user_ids(space: Space) -> list[int]:
    """Stage members who kept their voice out of the recording at any moment, from the log."""
    return sorted(
        set(
            space.moderation_actions.filter(
                action=Action.RECORDING_CONSENT, details__recorded=False
            )
            .exclude(target_id=None)
            .values_list("target_id", flat=True)
        )
    )
