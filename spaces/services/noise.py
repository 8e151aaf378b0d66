"""Server-side noise suppression (issue 23): the host's switch for a live Space.

The media worker runs RNNoise on each speaker's decoded audio before the mix while the switch
is on (media/denoise.py, media/origin.py). The switch is Space state like the other live
controls: one locked write, logged, published as `noise_suppression.changed`; the media bridge
(spaces/audio/bridge.py) hands that event to the worker that mixes the Space, and every join
carries the current value, so a worker that missed the event still converges.
"""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from spaces import events
from spaces.access import access_space
from spaces.models import Space
from spaces.permissions import check_moderate, ensure
from spaces.services.common import Action, _log


def noise_suppression_set(*, actor: User, space_id: int, enabled: bool) -> Space:
    """Turn noise suppression of every speaker on or off (host and co-hosts of a live Space).
    Setting what is already set changes nothing and publishes nothing (a double click)."""
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_moderate(space, me))
        if space.noise_suppression == enabled:
            return space
        space.noise_suppression = enabled
        space.save(update_fields=["noise_suppression"])
        _log(space, actor, Action.NOISE_SUPPRESSION_CHANGED, enabled=enabled)
        events.publish(
            space,
            events.NOISE_SUPPRESSION_CHANGED,
            noise_suppression=enabled,
            by=events.user_brief(actor),
        )
    return space
