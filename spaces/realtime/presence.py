"""Presence: who is still in a Space, decided by a heartbeat timestamp, never by a socket.

`Participant.last_seen_at` moves forward while the user has a socket open in a live server
process (spaces/realtime/hub.py refreshes it for every open socket) or sends a `heartbeat`. A
process that dies runs no `disconnect`, so its users simply stop being refreshed; `presence_sweep`,
run periodically (Celery beat in the distributed shape, the in-process ticker in the embedded one),
marks everyone not seen for `SPACES_PRESENCE_TIMEOUT` seconds as gone through the domain's own
`space_leave`, which frees a speaker's or co-host's stage slot and tells the room.

The host is never swept by `presence_sweep`: when the host disappears, `host_sweep` waits
SPACES_HOST_GRACE_SECONDS, then a connected co-host takes over, or the Space ends (issue 9). It
reads the same `last_seen_at`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from spaces import services
from spaces.access import access_space, lock_participants
from spaces.models import Participant, Space
from spaces.permissions import host_gone_cutoff

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


def banned_user_let_go(user_id: int) -> int:
    """A banned account leaves every live Space now (registered on accounts' `user_banned`).

    It goes the way presence lets anyone go, only without waiting for the timeout: its
    heartbeat is moved into the past, then a listener, speaker or co-host leaves through
    `participant_mark_gone` (`participant.left`, stage slot freed), and a host's Space is
    handed to a connected co-host or ended, as for a host whose connection dropped
    (`host_timeout_handover`, reason `timeout`). A ban that races a sweep changes nothing twice.
    Returns how many Spaces the user left."""
    now = timezone.now()
    gone_since = now - presence_timeout() - timedelta(days=1)
    rows = list(
        Participant.objects.filter(
            user_id=user_id, state=Participant.State.PRESENT, space__state=Space.State.LIVE
        ).values_list("space_id", "role")
    )
    Participant.objects.filter(user_id=user_id, state=Participant.State.PRESENT).update(
        last_seen_at=gone_since
    )
    left = 0
    for space_id, role in rows:
        try:
            if role == Participant.Role.HOST:
                left += services.host_timeout_handover(space_id=space_id) is not None
            else:
                left += participant_mark_gone(space_id=space_id, user_id=user_id, cutoff=now)
        except Exception:
            logger.exception("presence: could not let banned user %s go in %s", user_id, space_id)
    return left


# --- The host: a grace period, then a co-host takes over (issue 9) ------------------------------


def stale_host_spaces(*, cutoff: datetime, limit: int = SWEEP_BATCH) -> list[int]:
    """Live Spaces whose host has not been seen since `cutoff` (or is not present)."""
    return list(
        Participant.objects.filter(role=Participant.Role.HOST, space__state=Space.State.LIVE)
        .filter(Q(last_seen_at__lt=cutoff) | ~Q(state=Participant.State.PRESENT))
        .order_by("last_seen_at", "pk")
        .values_list("space_id", flat=True)[:limit]
    )


def host_sweep(*, now: datetime | None = None) -> int:
    """Hand over (or end) every live Space whose host has been gone longer than the grace.

    The timer lives in the database, not in a process: `last_seen_at` stops moving when the
    host's socket (or their whole server) is gone, and this sweep, run every
    SPACES_HOST_SWEEP_SECONDS by Celery beat or the embedded ticker, re-checks each Space
    under its row lock (services.host_timeout_handover). A duplicate, late or concurrent run is
    harmless. Returns how many Spaces changed host or ended.
    """
    cutoff = host_gone_cutoff(now or timezone.now())
    changed = 0
    for space_id in stale_host_spaces(cutoff=cutoff):
        try:
            outcome = services.host_timeout_handover(space_id=space_id)
        except Exception:
            logger.exception("presence: could not hand over space %s", space_id)
            continue
        if outcome is not None:
            logger.info("presence: host of space %s gone: %s", space_id, outcome)
            changed += 1
    return changed


# Here rather than in spaces/tasks.py (which imports this module, so Celery's autodiscovery
# registers it all the same) to keep the handover in one module.
@shared_task(name="spaces.tasks.host_sweep", ignore_result=True)
def host_sweep_task() -> int:
    return host_sweep()
