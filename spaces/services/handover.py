"""Host handover (issue 9).

`Space.host` is always the current host, so listings, bubbles, permissions and the
one-live-per-host index follow a handover; `Space.original_host` remembers who started it.
Three ways the role moves, all under the Space row lock (then participant rows in pk order):
the host leaves (`space_leave` → `_host_leave`, at once), the host's heartbeat stops
(`host_timeout_handover`, run by the sweep in spaces/realtime/presence.py after the grace), the
original host returns (`space_join` → `_host_reclaim`). Events go out in an order that never
shows two hosts: the old host's departure or demotion, then the new host's promotion, then
`host.changed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from spaces import events
from spaces.access import access_space, lock_participants
from spaces.models import Participant, Space
from spaces.permissions import check_leave, connected_cutoff, ensure, host_gone_cutoff
from spaces.services.common import Action, Role, _cancel_pending, _log, _set_role
from spaces.services.lifecycle import _end
from spaces_project.errors import Conflict, ValidationFailed


def _successor_ids(space: Space, *, now: datetime, exclude_user_id: int) -> list[int]:
    """Co-hosts who can take the host role now, longest-serving first: present, connected, and
    not hosting a live Space of their own (one live Space per host). Caller holds the Space
    lock, so roles cannot change under it."""
    return list(
        Participant.objects.filter(
            space=space,
            role=Role.COHOST,
            state=Participant.State.PRESENT,
            last_seen_at__gte=connected_cutoff(now),
        )
        .exclude(user_id=exclude_user_id)
        .exclude(user__hosted_spaces__state=Space.State.LIVE)
        .order_by("cohost_since", "pk")
        .values_list("user_id", flat=True)
    )


def _named_successor(space: Space, successor_id: int, *, now: datetime, me: User) -> list[int]:
    """The successor the leaving host named, validated (caller holds the Space lock)."""
    if successor_id == me.pk:
        raise ValidationFailed(
            gettext("Name a co-host to take over, not yourself."),
            code="cannot_target_self",
            fields={"successor_id": [gettext("The successor cannot be you.")]},
        )
    row = Participant.objects.filter(space=space, user_id=successor_id).first()
    if row is None or not row.is_present or row.role != Role.COHOST:
        raise Conflict(
            gettext("Only a co-host who is in the Space can take over."),
            code="successor_not_cohost",
        )
    if row.last_seen_at < connected_cutoff(now):
        raise Conflict(
            gettext(
                "This co-host has lost their connection; choose another or let the Space pick."
            ),
            code="successor_not_connected",
        )
    if Space.objects.filter(host_id=successor_id, state=Space.State.LIVE).exists():
        raise Conflict(
            gettext("This co-host is hosting a live Space of their own."),
            code="successor_hosts_elsewhere",
        )
    return [successor_id]


def _move_host(space: Space, new_host: User) -> bool:
    """Point the Space at its new host. False when `space_one_live_per_host` refuses (the new
    host started a Space of their own since they were chosen); nothing is changed then."""
    original_id = space.original_host_id_or_host
    try:
        with transaction.atomic():
            Space.objects.filter(pk=space.pk).update(host=new_host, original_host_id=original_id)
    except IntegrityError:
        return False
    space.host = new_host
    space.original_host_id = original_id
    return True


def _host_changed(
    space: Space, previous: Participant, new: Participant, *, reason: str, actor: User | None
) -> None:
    _log(
        space,
        actor,
        Action.HOST_CHANGED,
        target=new.user,
        reason=reason,
        previous_host_id=previous.user_id,
    )
    events.publish(
        space,
        events.HOST_CHANGED,
        previous_host=events.user_brief(previous.user),
        new_host=events.user_brief(new.user),
        reason=reason,
        previous_host_role=previous.role,
        previous_host_state=previous.state,
        original_host_id=space.original_host_id_or_host,
        counts=events.counts(space),
    )


def _host_hand_over(
    space: Space, candidates: Sequence[int], *, reason: str, actor: User | None, now: datetime
) -> Participant | None:
    """The host leaves (`left`) or is gone (`timeout`); the first candidate who can becomes host.

    Caller holds the Space lock. Returns the new host, or None (and changes nothing) when no
    candidate could take it.
    """
    old_id = space.host_id
    rows = lock_participants(space=space, user_ids=[old_id, *candidates])
    old = rows[old_id]
    for user_id in candidates:
        new = rows.get(user_id)
        if new is None or not new.is_present or new.role != Role.COHOST:
            continue
        if not _move_host(space, new.user):
            continue
        # The old host's row stops being the host first (`participant_one_host`).
        old.role = Role.LISTENER
        old.role_since = now
        old.state = Participant.State.LEFT
        old.left_at = now
        old.is_muted = True
        old.muted_by_host = False
        old.save(
            update_fields=["role", "role_since", "state", "left_at", "is_muted", "muted_by_host"]
        )
        _cancel_pending(space, old_id, now=now)
        # `previous_role` host: the media worker drops them from the mix, feeds drop their
        # bubble, and a socket of theirs that is still open is told it is out.
        events.publish(
            space,
            events.PARTICIPANT_LEFT,
            user=events.user_brief(old.user),
            previous_role=Role.HOST,
            reason=reason,
            counts=events.counts(space),
        )
        previous = _set_role(space, new, Role.HOST, now=now)
        _cancel_pending(space, user_id, now=now)
        events.publish_role_changed(space, new, previous)
        _host_changed(space, old, new, reason=reason, actor=actor)
        return new
    return None


def _host_leave(space: Space, host: Participant, *, user: User, successor_id: int | None) -> None:
    """The host of a live Space leaves (`space_leave`): to `successor_id` if given, validated,
    else to the longest-serving connected co-host. 409 `host_cannot_leave` when nobody can take
    over. Caller holds the Space lock."""
    now = timezone.now()
    if successor_id is None:
        candidates = _successor_ids(space, now=now, exclude_user_id=user.pk)
    else:
        candidates = _named_successor(space, successor_id, now=now, me=user)
    ensure(check_leave(space, host, successor_available=bool(candidates)))
    if _host_hand_over(space, candidates, reason=events.HOST_LEFT, actor=user, now=now) is None:
        # Every candidate started a Space of their own meanwhile.
        ensure(check_leave(space, host, successor_available=False))


def _host_reclaim(space: Space, me: Participant, *, now: datetime) -> Participant | None:
    """The original host is back while the Space is live: they are host again and the interim
    host steps back to co-host (to speaker, or to the audience, when those slots are full).

    Caller holds the Space lock. None (nothing changed) when the original host hosts another
    live Space now: they join as anyone else would.
    """
    interim_id = space.host_id
    rows = lock_participants(space=space, user_ids=[interim_id, me.user_id])
    me = rows[me.user_id]
    interim = rows.get(interim_id)
    if not _move_host(space, me.user):
        return None
    if interim is not None:
        role = Role.LISTENER
        if interim.is_present and space.cohost_count < space.max_cohosts:
            role = Role.COHOST
        elif interim.is_present and space.speaker_count < space.max_speakers:
            role = Role.SPEAKER
        previous = _set_role(space, interim, role, now=now)
        events.publish_role_changed(space, interim, previous)
    if me.is_present:
        previous = _set_role(space, me, Role.HOST, now=now)
        me.last_seen_at = now
        me.save(update_fields=["last_seen_at"])
        events.publish_role_changed(space, me, previous)
    else:
        # Gone, so a listener row: it becomes the host and present in one write (no counter
        # counts the host).
        me.role = Role.HOST
        me.role_since = now
        me.cohost_since = None
        me.state = Participant.State.PRESENT
        me.joined_at = me.last_seen_at = now
        me.left_at = None
        me.is_muted = True
        me.muted_by_host = False
        me.save(
            update_fields=[
                "role",
                "role_since",
                "cohost_since",
                "state",
                "joined_at",
                "last_seen_at",
                "left_at",
                "is_muted",
                "muted_by_host",
            ]
        )
        events.publish(
            space,
            events.PARTICIPANT_JOINED,
            participant=events.participant(me),
            counts=events.counts(space),
        )
    _cancel_pending(space, me.user_id, now=now)
    if interim is not None:
        _host_changed(space, interim, me, reason=events.HOST_RETURNED, actor=me.user)
    return me


def host_timeout_handover(*, space_id: int) -> str | None:
    """The host of a live Space has not been seen for the grace (`host_gone_cutoff`): the
    longest-serving connected co-host takes over, or, with none, the Space ends for everyone.

    Everything is re-checked under the Space lock when it runs, so a duplicate, late or
    concurrent run, or a host whose heartbeat (or rejoin) landed meanwhile, changes nothing.
    Returns "handed_over", "ended" or None (nothing to do).
    """
    with transaction.atomic():
        space, _ = access_space(user=None, space_id=space_id, lock=True)
        if not space.is_live:
            return None
        now = timezone.now()
        host = (
            Participant.objects.filter(space=space, user_id=space.host_id)
            .only("state", "last_seen_at")
            .first()
        )
        if host is not None and host.is_present and host.last_seen_at >= host_gone_cutoff(now):
            return None
        candidates = _successor_ids(space, now=now, exclude_user_id=space.host_id)
        if host is not None and _host_hand_over(
            space, candidates, reason=events.HOST_TIMEOUT, actor=None, now=now
        ):
            return "handed_over"
        _end(space, actor=None, now=now, reason="host_timeout")
        return "ended"
