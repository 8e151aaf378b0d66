"""Joining and leaving a live Space, and the presence heartbeat.

Who may enter is decided under the Space lock: the Space's own rules (`check_join`: live, not
removed, not blocked by the host) and the entry rules other apps register (`spaces.hooks`:
ticketing's entitlement). The original host coming back and the host leaving move the host
role: that part lives in handover.py.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from spaces import events
from spaces.access import access_space
from spaces.hooks import entry_admits
from spaces.models import Participant, Space
from spaces.permissions import check_join, check_leave, ensure
from spaces.services.common import Role, _blocked_by_host, _bump, _depart
from spaces.services.handover import _host_leave, _host_reclaim
from spaces.services.listening import assign_on_join
from spaces_project.errors import Forbidden, NotFound


def space_join(*, user: User, space_id: int) -> Participant:
    """Join as a listener (or come back in your old role if you are the host).

    Refused for an ended Space (409), a user the host blocked or who was removed from this Space
    (403). Joining while present publishes nothing; it only refreshes the presence heartbeat
    (under the Space lock, so a host handover sweep that runs next sees it).

    The original host of a live Space that another user hosts now gets the host role back
    (`_host_reclaim`); the host's blocks and tickets do not keep them out.
    """
    with transaction.atomic():
        space, participant = access_space(user=user, space_id=space_id, lock=True)
        returning_host = (
            participant is not None
            and space.is_live
            and space.host_id != user.pk
            and space.original_host_id_or_host == user.pk
        )
        ensure(
            check_join(
                space,
                participant,
                blocked_by_host=not returning_host and _blocked_by_host(space, user),
                lacks_ticket=not returning_host
                and not entry_admits(user=user, space=space, participant=participant),
            )
        )
        now = timezone.now()
        if returning_host:
            assert participant is not None
            reclaimed = _host_reclaim(space, participant, now=now)
            if reclaimed is not None:
                return reclaimed
        if participant is not None and participant.is_present:
            Participant.objects.filter(pk=participant.pk).update(last_seen_at=now)
            participant.last_seen_at = now
            return participant
        if participant is None:
            participant = Participant(
                space=space,
                user=user,
                role=Role.LISTENER,
                state=Participant.State.PRESENT,
                joined_at=now,
                last_seen_at=now,
                role_since=now,
            )
            assign_on_join(space, participant)
            participant.save(force_insert=True)
            _bump(space, listener_count=1, total_joined_count=1)
        else:
            participant.state = Participant.State.PRESENT
            participant.joined_at = participant.last_seen_at = now
            participant.left_at = None
            assign_on_join(space, participant)
            participant.save(
                update_fields=["state", "joined_at", "last_seen_at", "left_at", "listen_mode"]
            )
            if participant.role == Role.LISTENER:
                _bump(space, listener_count=1)
        events.publish(
            space,
            events.PARTICIPANT_JOINED,
            participant=events.participant(participant),
            counts=events.counts(space),
        )
    return participant


def space_leave(
    *, user: User, space_id: int, successor_id: int | None = None
) -> Participant | None:
    """Leave; a speaker's or co-host's slot is freed. Idempotent.

    The host of a live Space hands it over at once (`_host_leave`): to `successor_id` if
    given (a present, connected co-host, else 409 `successor_not_cohost` /
    `successor_not_connected` / `successor_hosts_elsewhere`), else to the longest-serving
    connected co-host. With nobody to take over: 409 `host_cannot_leave` (end it instead).
    Naming a successor is for the host only (403 `host_only` for anyone else present).
    """
    with transaction.atomic():
        space, participant = access_space(user=user, space_id=space_id, lock=True)
        present = participant is not None and participant.is_present
        if present and space.is_live and participant.role == Role.HOST:  # type: ignore[union-attr]
            assert participant is not None
            _host_leave(space, participant, user=user, successor_id=successor_id)
            participant.refresh_from_db()
            return participant
        if successor_id is not None and present:
            raise Forbidden(_("Only the host hands the Space over."), code="host_only")
        ensure(check_leave(space, participant))
        if participant is None or not participant.is_present:
            return participant
        previous = _depart(space, participant, state=Participant.State.LEFT, now=timezone.now())
        events.publish(
            space,
            events.PARTICIPANT_LEFT,
            user=events.user_brief(user),
            previous_role=previous,
            counts=events.counts(space),
        )
    return participant


def participant_heartbeat(*, user: User, space_id: int) -> None:
    """Presence: the client is still there. One UPDATE, no lock (the realtime issue sweeps
    participants whose heartbeat stopped)."""
    updated = Participant.objects.filter(
        space_id=space_id, user=user, state=Participant.State.PRESENT
    ).update(last_seen_at=timezone.now())
    if not updated:
        if not Space.objects.filter(pk=space_id).exists():
            raise NotFound(_("No such Space."), code="space_not_found")
        raise Forbidden(_("Join the Space first."), code="not_in_space")
