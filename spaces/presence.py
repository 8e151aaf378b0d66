"""Presence: who is still in a Space, decided by a heartbeat timestamp, never by a socket.

`Participant.last_seen_at` moves forward while the user has a socket open in a live server
process (spaces/hub.py refreshes it for every open socket) or sends a `heartbeat`. A process that
dies runs no `disconnect`, so its users simply stop being refreshed; `presence_sweep`, run
periodically (Celery beat in the distributed shape, the in-process ticker in the embedded one),
marks everyone not seen for `SPACES_PRESENCE_TIMEOUT` seconds as gone through the domain's own
`space_leave`, which frees a speaker's or co-host's stage slot and tells the room.

The host is never swept here: what happens when the host disappears (a grace period, then a
co-host takes over) is the handover issue's, and it reads the same `last_seen_at`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from spaces import services
from spaces.access import access_space, lock_participants
from spaces.models import Participant, Space

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500


def presence_timeout() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "SPACES_PRESENCE_TIMEOUT", 45)))


def stale_participants(*, cutoff: datetime, limit: int = SWEEP_BATCH) -> list[tuple[int, int]]:
    """(space_id, user_id) of present non-hosts of live Spaces not seen since `cutoff`."""
    return list(
        Participant.objects.filter(
            state=Participant.State.PRESENT,
            last_seen_at__lt=cutoff,
            space__state=Space.State.LIVE,
        )
        .exclude(role=Participant.Role.HOST)
        .order_by("last_seen_at", "pk")
        .values_list("space_id", "user_id")[:limit]
    )


def participant_mark_gone(*, space_id: int, user_id: int, cutoff: datetime) -> bool:
    """Take a participant not seen since `cutoff` out of the Space, as if they had left.

    Re-checked under the Space row lock (lock order: Space, then participant rows), so a
    heartbeat that lands while the sweep runs wins and the participant stays. Returns whether
    they were marked gone. Safe to run twice, or from two sweepers at once.
    """
    with transaction.atomic():
        space, _ = access_space(user=None, space_id=space_id, lock=True)
        if not space.is_live:
            return False
        participant = lock_participants(space=space, user_ids=[user_id]).get(user_id)
        if (
            participant is None
            or not participant.is_present
            or participant.role == Participant.Role.HOST
            or participant.last_seen_at >= cutoff
        ):
            return False
        # The domain's own departure: frees the slot, cancels open requests, publishes
        # `participant.left` after commit. Runs inside our transaction, under our lock.
        services.space_leave(user=participant.user, space_id=space_id)
        return True


def presence_sweep(*, now: datetime | None = None) -> int:
    """Mark every participant whose heartbeat is older than the timeout as gone. Returns how
    many; each is its own short transaction, so one failure does not stop the rest."""
    cutoff = (now or timezone.now()) - presence_timeout()
    gone = 0
    for space_id, user_id in stale_participants(cutoff=cutoff):
        try:
            if participant_mark_gone(space_id=space_id, user_id=user_id, cutoff=cutoff):
                gone += 1
        except Exception:
            logger.exception("presence: could not sweep user %s in space %s", user_id, space_id)
    if gone:
        logger.info("presence: %d participant(s) timed out", gone)
    return gone
