"""Logged-out listening (issue 20): guests hear a public live Space over live HLS.

A guest has no account, so no Participant row, no media connection and no vote in anything: they
hear the live HLS playlist the origin writes anyway (media/live.py), which a CDN serves at no cost
to the media workers, and read the room over a listen-only socket (spaces/realtime/consumers.py).
Two writes live here:

- the host's switch (`guests_allowed_set`): host and co-hosts, logged, published as
  `guests.changed`; open guest sockets close when it goes off;
- the guest count (`guest_count_set`): how many guest sockets the server processes hold, summed
  across processes in the cache (spaces/realtime/guests.py), folded into the Space row under
  its lock. `listener_count` includes the guests, so lists, cards, bubbles, the API and every
  `counts` show them without knowing they exist; `guest_count` says how many of them are guests.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest

from accounts.models import User
from spaces import events
from spaces.access import access_space
from spaces.models import Space
from spaces.permissions import check_guests_allowed_set, ensure
from spaces.services.common import Action, _log


def guests_allowed_set(*, actor: User, space_id: int, allowed: bool) -> Space:
    """Let people without an account listen, or stop them (their sockets close). Setting
    what is already set changes nothing and publishes nothing (a double click)."""
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_guests_allowed_set(space, me))
        if space.guests_allowed == allowed:
            return space
        space.guests_allowed = allowed
        space.save(update_fields=["guests_allowed"])
        _log(space, actor, Action.GUESTS_CHANGED, allowed=allowed)
        events.publish(
            space, events.GUESTS_CHANGED, guests_allowed=allowed, by=events.user_brief(actor)
        )
    return space


def guest_count_set(*, space_id: int, count: int) -> bool:
    """Fold the guests counted across the server processes into the Space row: `guest_count`
    becomes `count` and `listener_count` moves by the difference (the peak follows a rise),
    then `guests.counted` tells the room. Idempotent: the same count twice (two processes
    folding the same window) changes nothing. An ended Space keeps its zero. Returns whether
    the row changed."""
    count = max(0, int(count))
    with transaction.atomic():
        space, _ = access_space(user=None, space_id=space_id, lock=True)
        if not space.is_live or space.guest_count == count:
            return False
        delta = count - space.guest_count
        updates = {"guest_count": count, "listener_count": F("listener_count") + delta}
        if delta > 0:
            updates["peak_listener_count"] = Greatest(
                F("peak_listener_count"), F("listener_count") + delta
            )
        Space.objects.filter(pk=space.pk).update(**updates)
        space.guest_count = count
        space.listener_count += delta
        space.peak_listener_count = max(space.peak_listener_count, space.listener_count)
        events.publish(space, events.GUESTS_COUNTED, counts=events.counts(space))
    return True
