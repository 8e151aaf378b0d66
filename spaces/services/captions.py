"""Captions: moderators switch them on or off; the media worker, a trusted caller, appends the
lines it transcribes (spaces/audio/captions.py). Lines are append-only, so appending takes no
lock."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from spaces import events
from spaces.access import access_space
from spaces.models import CaptionLine, Participant, Space
from spaces.permissions import STAGE, check_live, check_toggle_captions, ensure
from spaces.services.common import Action, _log
from spaces_project.errors import Conflict, NotFound, ValidationFailed

CAPTION_MAX_LENGTH = 1000


def captions_toggle(*, actor: User, space_id: int, enabled: bool) -> Space:
    """Host or co-host turns captions on or off. Setting the current value changes nothing."""
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_toggle_captions(space, me))
        if space.captions_enabled == enabled:
            return space
        space.captions_enabled = enabled
        space.save(update_fields=["captions_enabled"])
        _log(space, actor, Action.CAPTIONS_TOGGLED, enabled=enabled)
        events.publish(space, events.CAPTIONS_TOGGLED, enabled=enabled)
    return space


def caption_append(
    *, space_id: int, speaker_id: int, text: str, started_at: datetime | None = None
) -> CaptionLine:
    """A line of captions from the media worker (a trusted caller: no actor).

    Refused when the Space is not live (409), captions are off (409 `captions_disabled`) or the
    speaker is not on stage (409 `not_on_stage`). Append-only, so no lock is taken.
    """
    text = " ".join(text.split())
    if not text:
        raise ValidationFailed(_("A caption needs text."), fields={"text": [_("Blank.")]})
    text = text[:CAPTION_MAX_LENGTH]
    with transaction.atomic():
        space = Space.objects.filter(pk=space_id).first()
        if space is None:
            raise NotFound(_("No such Space."), code="space_not_found")
        ensure(check_live(space))
        if not space.captions_enabled:
            raise Conflict(_("Captions are off in this Space."), code="captions_disabled")
        on_stage = Participant.objects.filter(
            space=space, user_id=speaker_id, role__in=STAGE, state=Participant.State.PRESENT
        ).exists()
        if not on_stage:
            raise Conflict(_("This user is not on stage."), code="not_on_stage")
        line = CaptionLine.objects.create(
            space=space,
            speaker_id=speaker_id,
            text=text,
            started_at=started_at or timezone.now(),
        )
        events.publish(space, events.CAPTION_ADDED, line=events.caption(line))
    return line
