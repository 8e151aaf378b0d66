"""Every write to a Space: one function per use case, called by the API, the admin, and later
the socket, the site and the media worker alike.

Each service is one `transaction.atomic` block that loads the Space through `access_space`
(locking its row when capacity or state is at stake; lock order in spaces/access.py), asks
`spaces.permissions` whether the actor may act, writes, records host / co-host / staff actions in
the moderation log, and publishes room events, which leave only after commit.

Counters on the Space row (listeners, speakers, co-hosts, pins, peak, total joined) are written
with F() under the Space lock, so the in-memory Space stays exact too; CheckConstraints on the
row refuse a stage or co-host slot beyond the capacity even if a lock were ever skipped.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts import services as accounts_services
from accounts.models import Block, Follow, Notification, User
from accounts.selectors import follower_ids
from spaces import events, reactions
from spaces.access import access_space, lock_participants, lock_rows
from spaces.models import (
    MAX_PINS,
    MAX_TOPICS,
    PIN_TEXT_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    TOPIC_MAX_LENGTH,
    CaptionLine,
    Invitation,
    ModerationAction,
    Participant,
    Pin,
    Reaction,
    ReactionCount,
    Report,
    Space,
    SpeakerRequest,
)
from spaces.permissions import (
    STAGE,
    check_act_on,
    check_end,
    check_host_only,
    check_join,
    check_leave,
    check_live,
    check_moderate,
    check_pin,
    check_raise_hand,
    check_react,
    check_report,
    check_self_audio,
    check_share,
    check_step_down,
    check_toggle_captions,
    check_unpin,
    check_withdraw_hand,
    connected_cutoff,
    ensure,
    host_gone_cutoff,
)
from spaces_project.errors import Conflict, Forbidden, NotFound, RateLimited, ValidationFailed
from ticketing.selectors import ticket_admits

Role = Participant.Role
Action = ModerationAction.Action

MAX_SHARE_RECIPIENTS = 20
CAPTION_MAX_LENGTH = 1000
REPORT_DETAILS_MAX_LENGTH = 1000
# Pending reaction taps live in the cache at most this long without a flush.
REACTION_PENDING_TTL = 2 * 24 * 3600


# --- Small shared pieces ----------------------------------------------------------------------


# Which Space counter a present participant of each role counts towards (keys are role values).
_COUNTER: dict[str, str] = {
    Role.LISTENER: "listener_count",
    Role.SPEAKER: "speaker_count",
    Role.COHOST: "cohost_count",
}


def _bump(space: Space, **deltas: int) -> None:
    """Add `deltas` to the Space's counters with one UPDATE ... SET n = n + d.

    Caller holds the Space lock, so the in-memory copy is updated to match. A rise in listeners
    raises the peak in the same statement (both sides read the old row).
    """
    deltas = {name: d for name, d in deltas.items() if d}
    if not deltas:
        return
    updates: dict[str, Any] = {name: F(name) + d for name, d in deltas.items()}
    rise = deltas.get("listener_count", 0)
    if rise > 0:
        updates["peak_listener_count"] = Greatest(
            F("peak_listener_count"), F("listener_count") + rise
        )
    Space.objects.filter(pk=space.pk).update(**updates)
    for name, d in deltas.items():
        setattr(space, name, getattr(space, name) + d)
    if rise > 0:
        space.peak_listener_count = max(space.peak_listener_count, space.listener_count)


def _set_role(space: Space, participant: Participant, role: str, *, now: datetime) -> str:
    """Move a participant to `role`, keeping the counters right. Returns the previous role.

    Caller holds the Space lock and has checked capacity. Whoever comes on stage from the
    audience comes muted; whoever goes back to the audience is reset to muted.
    """
    previous = participant.role
    if previous == role:
        return previous
    deltas: Counter[str] = Counter()
    if participant.state == Participant.State.PRESENT:
        if previous in _COUNTER:
            deltas[_COUNTER[previous]] -= 1
        if role in _COUNTER:
            deltas[_COUNTER[role]] += 1
    participant.role = role
    participant.role_since = now
    participant.cohost_since = now if role == Role.COHOST else None
    if Role.LISTENER in (role, previous):
        participant.is_muted = True
        participant.muted_by_host = False
    participant.save(
        update_fields=["role", "role_since", "cohost_since", "is_muted", "muted_by_host"]
    )
    _bump(space, **deltas)
    return previous


def _cancel_pending(space: Space, user_id: int, *, now: datetime) -> None:
    """Raised hands and invitations of a user who left, was removed or got on stage."""
    SpeakerRequest.objects.filter(
        space=space, user_id=user_id, state=SpeakerRequest.State.PENDING
    ).update(state=SpeakerRequest.State.CANCELLED, decided_at=now)
    Invitation.objects.filter(
        space=space, invitee_id=user_id, state=Invitation.State.PENDING
    ).update(state=Invitation.State.CANCELLED, responded_at=now)


def _depart(space: Space, participant: Participant, *, state: str, now: datetime) -> str:
    """Take a participant out of the room (`left` or `removed`). Returns their previous role.

    A speaker or co-host goes back to the audience in the same UPDATE, which frees the slot.
    """
    previous = participant.role
    deltas: Counter[str] = Counter()
    if participant.state == Participant.State.PRESENT:
        if previous in _COUNTER:
            deltas[_COUNTER[previous]] -= 1
        participant.left_at = now
    if previous in (Role.SPEAKER, Role.COHOST):
        participant.role = Role.LISTENER
        participant.role_since = now
        participant.cohost_since = None
    participant.is_muted = True
    participant.muted_by_host = False
    participant.state = state
    participant.save(
        update_fields=[
            "role",
            "role_since",
            "cohost_since",
            "is_muted",
            "muted_by_host",
            "state",
            "left_at",
        ]
    )
    _bump(space, **deltas)
    _cancel_pending(space, participant.user_id, now=now)
    return previous


def _log(
    space: Space,
    actor: User | None,
    action: str,
    *,
    target: User | None = None,
    **details: Any,
) -> ModerationAction:
    return ModerationAction.objects.create(
        space=space, actor=actor, action=action, target=target, details=details
    )


def _blocked_by_host(space: Space, user: User) -> bool:
    if space.host_id == user.pk:
        return False
    return accounts_services.has_blocked(blocker_id=space.host_id, blocked_id=user.pk)


def _host_follows(space: Space, user: User) -> bool:
    return Follow.objects.filter(follower_id=space.host_id, followee_id=user.pk).exists()


def _ensure_stage_room(space: Space) -> None:
    """Caller holds the Space lock: the count cannot change until commit."""
    if space.speaker_count >= space.max_speakers:
        raise Conflict("The stage is full.", code="stage_full")


def _ensure_cohost_room(space: Space) -> None:
    if space.cohost_count >= space.max_cohosts:
        raise Conflict("This Space already has the most co-hosts it can have.", code="cohosts_full")


def _target(space: Space, user_id: int) -> Participant | None:
    """Lock and return the target participant (lock order: after the Space)."""
    return lock_participants(space=space, user_ids=[user_id]).get(user_id)


# --- Input cleaning ---------------------------------------------------------------------------


def _acted_on(
    space: Space, me: Participant | None, user_id: int
) -> tuple[Participant, Participant]:
    """Moderator `me` (the caller already checked the right to moderate) and the participant
    `user_id` they may act on; refuses a missing target, themselves, the host, or a co-host
    unless `me` is the host."""
    assert me is not None
    target = _target(space, user_id)
    ensure(check_act_on(me, target))
    assert target is not None
    return me, target


def _clean_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise ValidationFailed(
            "A Space needs a title.", fields={"title": ["This field may not be blank."]}
        )
    if len(title) > TITLE_MAX_LENGTH:
        raise ValidationFailed(
            "The title is too long.",
            fields={"title": [f"At most {TITLE_MAX_LENGTH} characters."]},
        )
    return title


def _clean_topics(topics: Sequence[str]) -> list[str]:
    cleaned: list[str] = []
    seen: set[str] = set()
    for raw in topics:
        topic = " ".join(str(raw).split())
        if not topic:
            raise ValidationFailed(
                "Topics cannot be blank.", fields={"topics": ["Topics cannot be blank."]}
            )
        if len(topic) > TOPIC_MAX_LENGTH:
            raise ValidationFailed(
                "A topic is too long.",
                fields={"topics": [f"Each topic has at most {TOPIC_MAX_LENGTH} characters."]},
            )
        if topic.casefold() not in seen:
            seen.add(topic.casefold())
            cleaned.append(topic)
    if len(cleaned) > MAX_TOPICS:
        raise ValidationFailed(
            "Too many topics.", fields={"topics": [f"At most {MAX_TOPICS} topics."]}
        )
    return cleaned


# --- Lifecycle --------------------------------------------------------------------------------


def space_start(
    *,
    host: User,
    title: str,
    topics: Sequence[str] = (),
    speaking_policy: str = Space.SpeakingPolicy.EVERYONE,
    captions_enabled: bool = False,
) -> Space:
    """Start a live Space now. Needs `can_host`; one live Space per host.

    The host's User row is locked first so two starts by the same host queue, and the partial
    unique index `space_one_live_per_host` catches anything that ever slips past.
    """
    title = _clean_title(title)
    topics = _clean_topics(topics)
    if speaking_policy not in Space.SpeakingPolicy.values:
        raise ValidationFailed(
            "Unknown speaking setting.", fields={"speaking_policy": ["Not a valid choice."]}
        )
    if not host.can_host:
        raise Forbidden(
            f"You need at least {settings.SPACES_HOST_MIN_FOLLOWERS} followers to host a Space.",
            code="not_enough_followers",
        )
    now = timezone.now()
    with transaction.atomic():
        lock_rows(User.objects.filter(pk=host.pk)).first()
        space = Space(
            host=host,
            title=title,
            topics=topics,
            speaking_policy=speaking_policy,
            captions_enabled=captions_enabled,
        )
        space_go_live(host=host, space=space, now=now)
    return space


def space_go_live(*, host: User, space: Space, now: datetime) -> None:
    """Make `space` the host's live Space: a new, unsaved one (`space_start`), or a scheduled
    one, which keeps its id (`scheduling.services.scheduled_space_start`).

    Caller is inside `transaction.atomic` and holds the lock on the host's User row (and, for a
    saved Space, then on the Space row: lock order in spaces/access.py), and has checked that
    the host may start it. One live Space per host: checked here under the host lock, with the
    partial unique index `space_one_live_per_host` behind it.
    """
    if Space.objects.filter(host=host, state=Space.State.LIVE).exists():
        raise Conflict("You already have a live Space.", code="already_live")
    space.state = Space.State.LIVE
    space.started_at = now
    space.original_host = host
    space.max_speakers = settings.SPACES_MAX_SPEAKERS
    space.max_cohosts = settings.SPACES_MAX_COHOSTS
    space.total_joined_count = 1
    try:
        with transaction.atomic():
            if space.pk is None:
                space.save(force_insert=True)
            else:
                space.save(
                    update_fields=[
                        "state",
                        "started_at",
                        "original_host",
                        "max_speakers",
                        "max_cohosts",
                        "total_joined_count",
                    ]
                )
    except IntegrityError as exc:
        raise Conflict("You already have a live Space.", code="already_live") from exc
    Participant.objects.create(
        space=space,
        user=host,
        role=Role.HOST,
        state=Participant.State.PRESENT,
        joined_at=now,
        last_seen_at=now,
        role_since=now,
    )
    events.publish(
        space,
        events.SPACE_STARTED,
        title=space.title,
        topics=space.topics,
        host=events.user_brief(host),
    )


def _end(space: Space, *, actor: User | None, now: datetime, **details: Any) -> None:
    """End a live Space whose row the caller has locked: everyone leaves, every open request
    and invitation is cancelled, the current counts drop to zero (peak and total stay)."""
    present = Participant.objects.filter(space=space, state=Participant.State.PRESENT)
    present.filter(role__in=[Role.COHOST, Role.SPEAKER]).update(
        role=Role.LISTENER, role_since=now, cohost_since=None, is_muted=True, muted_by_host=False
    )
    present.update(state=Participant.State.LEFT, left_at=now)
    SpeakerRequest.objects.filter(space=space, state=SpeakerRequest.State.PENDING).update(
        state=SpeakerRequest.State.CANCELLED, decided_at=now
    )
    Invitation.objects.filter(space=space, state=Invitation.State.PENDING).update(
        state=Invitation.State.CANCELLED, responded_at=now
    )
    space.state = Space.State.ENDED
    space.ended_at = now
    space.listener_count = space.speaker_count = space.cohost_count = 0
    space.save(
        update_fields=["state", "ended_at", "listener_count", "speaker_count", "cohost_count"]
    )
    _log(space, actor, Action.SPACE_ENDED, **details)
    events.publish(space, events.SPACE_ENDED, counts=events.counts(space))
    space_id = space.pk
    transaction.on_commit(lambda: reaction_counts_flush(space_id=space_id))


def space_end(*, actor: User, space_id: int) -> Space:
    """End a live Space: its host, or staff (for whom it is logged as such)."""
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_end(space, me, user=actor))
        by_staff = space.host_id != actor.pk
        _end(space, actor=actor, now=timezone.now(), by_staff=by_staff)
    return space


def host_ban(*, actor: User, host: User) -> int:
    """Staff: end every live Space `host` hosts (logged), then ban the account. Returns how
    many Spaces were ended."""
    if not actor.is_staff:
        raise Forbidden("Only staff can ban users.", code="staff_only")
    ended = 0
    with transaction.atomic():
        live_ids = list(
            Space.objects.filter(host=host, state=Space.State.LIVE).values_list("pk", flat=True)
        )
        for space_id in live_ids:
            space, _ = access_space(user=actor, space_id=space_id, lock=True)
            if space.state != Space.State.LIVE:
                continue
            _log(space, actor, Action.HOST_BANNED, target=host)
            _end(space, actor=actor, now=timezone.now(), by_staff=True, reason="host_banned")
            ended += 1
    accounts_services.user_ban(user=host)
    return ended


# --- Joining and leaving ----------------------------------------------------------------------


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
                and not ticket_admits(user=user, space=space, participant=participant),
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
            participant = Participant.objects.create(
                space=space,
                user=user,
                role=Role.LISTENER,
                state=Participant.State.PRESENT,
                joined_at=now,
                last_seen_at=now,
                role_since=now,
            )
            _bump(space, listener_count=1, total_joined_count=1)
        else:
            participant.state = Participant.State.PRESENT
            participant.joined_at = participant.last_seen_at = now
            participant.left_at = None
            participant.save(update_fields=["state", "joined_at", "last_seen_at", "left_at"])
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

    The host of a live Space hands it over at once (`_host_hand_over`): to `successor_id` if
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
            now = timezone.now()
            if successor_id is None:
                candidates = _successor_ids(space, now=now, exclude_user_id=user.pk)
            else:
                candidates = _named_successor(space, successor_id, now=now, me=user)
            ensure(check_leave(space, participant, successor_available=bool(candidates)))
            if (
                _host_hand_over(space, candidates, reason=events.HOST_LEFT, actor=user, now=now)
                is None
            ):
                # Every candidate started a Space of their own meanwhile.
                ensure(check_leave(space, participant, successor_available=False))
            participant.refresh_from_db()
            return participant
        if successor_id is not None and present:
            raise Forbidden("Only the host hands the Space over.", code="host_only")
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
            raise NotFound("No such Space.", code="space_not_found")
        raise Forbidden("Join the Space first.", code="not_in_space")


# --- Host handover (issue 9) ------------------------------------------------------------------
#
# `Space.host` is always the current host, so listings, bubbles, permissions and the
# one-live-per-host index follow a handover; `Space.original_host` remembers who started it.
# Three ways the role moves, all under the Space row lock (then participant rows in pk order):
# the host leaves (`space_leave`, at once), the host's heartbeat stops (`host_timeout_handover`,
# run by the sweep in spaces/realtime/presence.py after the grace), the original host returns
# (`space_join` → `_host_reclaim`). Events go out in an order that never shows two hosts: the
# old host's departure or demotion, then the new host's promotion, then `host.changed`.


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
            "Name a co-host to take over, not yourself.",
            code="cannot_target_self",
            fields={"successor_id": ["The successor cannot be you."]},
        )
    row = Participant.objects.filter(space=space, user_id=successor_id).first()
    if row is None or not row.is_present or row.role != Role.COHOST:
        raise Conflict(
            "Only a co-host who is in the Space can take over.", code="successor_not_cohost"
        )
    if row.last_seen_at < connected_cutoff(now):
        raise Conflict(
            "This co-host has lost their connection; choose another or let the Space pick.",
            code="successor_not_connected",
        )
    if Space.objects.filter(host_id=successor_id, state=Space.State.LIVE).exists():
        raise Conflict(
            "This co-host is hosting a live Space of their own.", code="successor_hosts_elsewhere"
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


# --- Getting on stage -------------------------------------------------------------------------


def speaker_request_create(*, user: User, space_id: int) -> tuple[SpeakerRequest, bool]:
    """Raise your hand. Returns (request, created); a second raise returns the open one."""
    with transaction.atomic():
        space, participant = access_space(user=user, space_id=space_id, lock=True)
        follows = space.speaking_policy == Space.SpeakingPolicy.FOLLOWED_BY_HOST and _host_follows(
            space, user
        )
        ensure(check_raise_hand(space, participant, host_follows_viewer=follows))
        existing = SpeakerRequest.objects.filter(
            space=space, user=user, state=SpeakerRequest.State.PENDING
        ).first()
        if existing is not None:
            return existing, False
        request = SpeakerRequest.objects.create(space=space, user=user)
        events.publish(space, events.HAND_RAISED, request=events.speaker_request(request))
    return request, True


def speaker_request_withdraw(*, user: User, space_id: int) -> SpeakerRequest | None:
    """Lower your hand. Idempotent: None when no request was open."""
    with transaction.atomic():
        space, participant = access_space(user=user, space_id=space_id, lock=True)
        ensure(check_withdraw_hand(space, participant))
        request = SpeakerRequest.objects.filter(
            space=space, user=user, state=SpeakerRequest.State.PENDING
        ).first()
        if request is None:
            return None
        request.state = SpeakerRequest.State.WITHDRAWN
        request.decided_at = timezone.now()
        request.save(update_fields=["state", "decided_at"])
        events.publish(space, events.HAND_WITHDRAWN, request=events.speaker_request(request))
    return request


def _pending_request(space: Space, request_id: int) -> SpeakerRequest:
    """A request of this Space (404 for another Space's id) that is still open (else 409)."""
    request = (
        SpeakerRequest.objects.filter(pk=request_id, space=space).select_related("user").first()
    )
    if request is None:
        raise NotFound("No such request in this Space.", code="request_not_found")
    if request.state != SpeakerRequest.State.PENDING:
        raise Conflict(f"This request is already {request.state}.", code="request_not_pending")
    return request


def speaker_request_approve(*, actor: User, space_id: int, request_id: int) -> Participant:
    """Host or co-host brings a requester on stage, if a slot is free (409 `stage_full`).

    Not idempotent by design: approving an answered request is 409 `request_not_pending`,
    whoever answered it, so two moderators clicking at once see who won.
    """
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_moderate(space, me))
        request = _pending_request(space, request_id)
        target = _target(space, request.user_id)
        if target is None or not target.is_present:
            raise Conflict("The requester is no longer in the Space.", code="not_in_space")
        if target.role in STAGE:
            raise Conflict("This user is already on stage.", code="already_speaker")
        _ensure_stage_room(space)
        now = timezone.now()
        previous = _set_role(space, target, Role.SPEAKER, now=now)
        request.state = SpeakerRequest.State.APPROVED
        request.decided_at = now
        request.decided_by = actor
        request.save(update_fields=["state", "decided_at", "decided_by"])
        _cancel_pending(space, target.user_id, now=now)
        _log(space, actor, Action.REQUEST_APPROVED, target=target.user, request_id=request.pk)
        events.publish(space, events.REQUEST_APPROVED, request=events.speaker_request(request))
        events.publish_role_changed(space, target, previous)
    return target


def speaker_request_deny(*, actor: User, space_id: int, request_id: int) -> SpeakerRequest:
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_moderate(space, me))
        request = _pending_request(space, request_id)
        request.state = SpeakerRequest.State.DENIED
        request.decided_at = timezone.now()
        request.decided_by = actor
        request.save(update_fields=["state", "decided_at", "decided_by"])
        _log(space, actor, Action.REQUEST_DENIED, target=request.user, request_id=request.pk)
        events.publish(space, events.REQUEST_DENIED, request=events.speaker_request(request))
    return request


def invitation_create(
    *, actor: User, space_id: int, invitee_id: int, kind: str
) -> tuple[Invitation, bool]:
    """Invite a present participant to speak (host or co-host) or to co-host (host only).

    Returns (invitation, created); inviting again while one is open returns it. The invitee
    gets a notification in their inbox. Capacity is checked now and again on accepting.
    """
    if kind not in Invitation.Kind.values:
        raise ValidationFailed("Unknown invitation kind.", fields={"kind": ["Not a valid choice."]})
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        if kind == Invitation.Kind.COHOST:
            ensure(check_host_only(space, me, what="invite co-hosts"))
        else:
            ensure(check_moderate(space, me))
        if invitee_id == actor.pk:
            raise ValidationFailed("You cannot invite yourself.", code="cannot_target_self")
        target = _target(space, invitee_id)
        if target is None:
            raise NotFound("This user is not in the Space.", code="participant_not_found")
        if not target.is_present:
            raise Conflict("This user is not in the Space now.", code="not_in_space")
        if kind == Invitation.Kind.SPEAKER:
            if target.role in STAGE:
                raise Conflict("This user is already on stage.", code="already_speaker")
            _ensure_stage_room(space)
        else:
            if target.role in (Role.HOST, Role.COHOST):
                raise Conflict("This user is already a co-host.", code="already_cohost")
            _ensure_cohost_room(space)
        existing = Invitation.objects.filter(
            space=space, invitee_id=invitee_id, kind=kind, state=Invitation.State.PENDING
        ).first()
        if existing is not None:
            return existing, False
        invitation = Invitation.objects.create(
            space=space, kind=kind, inviter=actor, invitee=target.user
        )
        action = Action.COHOST_INVITED if kind == Invitation.Kind.COHOST else Action.SPEAKER_INVITED
        _log(space, actor, action, target=target.user, invitation_id=invitation.pk)
        accounts_services.notification_create(
            recipient=target.user,
            kind=Notification.Kind.SPACE_INVITE,
            payload={
                "space_id": space.pk,
                "title": space.title,
                "invitation_id": invitation.pk,
                "kind": kind,
                "from": actor.username,
            },
        )
        event_type = (
            events.COHOST_INVITED if kind == Invitation.Kind.COHOST else events.SPEAKER_INVITED
        )
        events.publish(
            space,
            event_type,
            invitation=events.invitation(invitation),
            by=events.user_brief(actor),
        )
    return invitation, True


def _my_invitation(space: Space, user: User, invitation_id: int) -> Invitation:
    """The user's own invitation in this Space: 404 for anyone else's or another Space's."""
    invitation = (
        Invitation.objects.filter(pk=invitation_id, space=space, invitee=user)
        .select_related("invitee")
        .first()
    )
    if invitation is None:
        raise NotFound("No such invitation.", code="invitation_not_found")
    return invitation


def invitation_accept(*, user: User, space_id: int, invitation_id: int) -> Participant:
    with transaction.atomic():
        space, _ = access_space(user=user, space_id=space_id, lock=True)
        invitation = _my_invitation(space, user, invitation_id)
        ensure(check_live(space))
        if invitation.state != Invitation.State.PENDING:
            raise Conflict(
                f"This invitation is already {invitation.state}.", code="invitation_not_pending"
            )
        me = _target(space, user.pk)
        if me is None or not me.is_present:
            raise Forbidden("Join the Space first.", code="not_in_space")
        now = timezone.now()
        if invitation.kind == Invitation.Kind.SPEAKER:
            if me.role in STAGE:
                raise Conflict("You are already on stage.", code="already_speaker")
            _ensure_stage_room(space)
            previous = _set_role(space, me, Role.SPEAKER, now=now)
        else:
            if me.role in (Role.HOST, Role.COHOST):
                raise Conflict("You are already a co-host.", code="already_cohost")
            _ensure_cohost_room(space)
            previous = _set_role(space, me, Role.COHOST, now=now)
            _log(
                space,
                user,
                Action.COHOST_ADDED,
                target=user,
                invitation_id=invitation.pk,
                invited_by=invitation.inviter_id,
            )
            events.publish(space, events.COHOST_ADDED, participant=events.participant(me))
        invitation.state = Invitation.State.ACCEPTED
        invitation.responded_at = now
        invitation.save(update_fields=["state", "responded_at"])
        _cancel_pending(space, user.pk, now=now)
        events.publish_role_changed(space, me, previous)
    return me


def invitation_decline(*, user: User, space_id: int, invitation_id: int) -> Invitation:
    with transaction.atomic():
        space, _ = access_space(user=user, space_id=space_id, lock=True)
        invitation = _my_invitation(space, user, invitation_id)
        if invitation.state != Invitation.State.PENDING:
            raise Conflict(
                f"This invitation is already {invitation.state}.", code="invitation_not_pending"
            )
        invitation.state = Invitation.State.DECLINED
        invitation.responded_at = timezone.now()
        invitation.save(update_fields=["state", "responded_at"])
        events.publish(space, events.INVITATION_DECLINED, invitation=events.invitation(invitation))
    return invitation


def invitation_cancel(*, actor: User, space_id: int, invitation_id: int) -> Invitation:
    """Take back an open invitation: moderators for speaker invitations, the host for co-host
    ones. 409 `invitation_not_pending` once it was answered, like answering twice."""
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        invitation = (
            Invitation.objects.filter(pk=invitation_id, space=space)
            .select_related("invitee")
            .first()
        )
        if invitation is None:
            raise NotFound("No such invitation.", code="invitation_not_found")
        if invitation.kind == Invitation.Kind.COHOST:
            ensure(check_host_only(space, me, what="manage co-hosts"))
        else:
            ensure(check_moderate(space, me))
        if invitation.state != Invitation.State.PENDING:
            raise Conflict(
                f"This invitation is already {invitation.state}.", code="invitation_not_pending"
            )
        invitation.state = Invitation.State.CANCELLED
        invitation.responded_at = timezone.now()
        invitation.save(update_fields=["state", "responded_at"])
        _log(
            space,
            actor,
            Action.INVITATION_CANCELLED,
            target=invitation.invitee,
            invitation_id=invitation.pk,
            kind=invitation.kind,
        )
        events.publish(space, events.INVITATION_CANCELLED, invitation=events.invitation(invitation))
    return invitation


# --- Moderating the stage ---------------------------------------------------------------------


def participant_demote(*, actor: User, space_id: int, user_id: int) -> Participant:
    """Move a speaker (or, for the host, a co-host) back to the audience."""
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_moderate(space, me))
        me, target = _acted_on(space, me, user_id)
        if not target.on_stage:
            raise Conflict("This user is not on stage.", code="not_on_stage")
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
            raise Conflict("This user is not on stage.", code="not_on_stage")
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
            raise Forbidden("Only the speaker can unmute themselves.", code="only_self_unmute")
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
        ensure(check_host_only(space, me, what="block people"))
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
        ensure(check_host_only(space, me, what="manage co-hosts"))
        target = _target(space, user_id)
        if target is None:
            raise NotFound("This user is not in the Space.", code="participant_not_found")
        if target.role != Role.COHOST:
            raise Conflict("This user is not a co-host.", code="not_cohost")
        has_room = space.speaker_count < space.max_speakers
        role = Role.SPEAKER if has_room else Role.LISTENER
        previous = _set_role(space, target, role, now=timezone.now())
        _log(space, actor, Action.COHOST_REMOVED, target=target.user, new_role=role)
        events.publish(space, events.COHOST_REMOVED, user=events.user_brief(target.user))
        events.publish_role_changed(space, target, previous)
    return target


# --- Reactions ----------------------------------------------------------------------------------


def _parse_rate(rate: str) -> tuple[int, int]:
    number, _, period = rate.partition("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period.strip()[0]]
    return int(number), seconds


def _reaction_rate() -> tuple[int, int]:
    return _parse_rate(settings.SPACES_REACTION_RATE)


def _rate_limit(key: str, *, limit: int, period: int, message: str) -> None:
    """A fixed window per key, starting at the first hit; shared by every process through
    the cache (Redis in the distributed shape)."""
    now = time.time()
    cache.add(f"{key}:start", now, timeout=period)
    cache.add(f"{key}:n", 0, timeout=period)
    try:
        hits = cache.incr(f"{key}:n")
    except ValueError:  # the window expired between add and incr
        cache.set(f"{key}:n", 1, timeout=period)
        hits = 1
    if hits > limit:
        start = cache.get(f"{key}:start") or now
        retry_after = max(0.0, float(start) + period - now)
        raise RateLimited(message, retry_after=retry_after, extra={"retry_after": retry_after})


def _reaction_code(value: str) -> str:
    if value in Reaction.values:
        return value
    by_emoji = {label: code for code, label in Reaction.choices}
    # Accept the emoji too, with or without the variation selector (❤ / ❤️).
    code = by_emoji.get(value) or by_emoji.get(value + "\ufe0f")
    if code is None:
        raise ValidationFailed(
            "Not one of the reactions.",
            code="invalid",
            fields={"emoji": [f"One of: {', '.join(Reaction.values)}."]},
        )
    return code


def reaction_send(*, user: User, space_id: int, emoji: str) -> str:
    """Send a reaction (a code like `clap`, or the emoji). Returns its code.

    Rate-limited per user per Space (`SPACES_REACTION_RATE`, else the `reaction` throttle rate;
    429 with `retry_after`). No database row per tap: the tap is counted in the cache and added
    to ReactionCount by `reaction_counts_flush`, which the first tap after each flush interval
    runs (and the end of the Space runs once more); so the database sees at most one small
    UPDATE per emoji per interval per Space however many people tap.
    """
    code = _reaction_code(emoji)
    space, participant = access_space(user=user, space_id=space_id)
    ensure(check_react(space, participant))
    limit, period = _reaction_rate()
    _rate_limit(
        f"spaces:react:{space.pk}:{user.pk}",
        limit=limit,
        period=period,
        message="Too many reactions; try again in a moment.",
    )
    key = reactions.pending_key(space.pk, code)
    cache.add(key, 0, timeout=REACTION_PENDING_TTL)
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=REACTION_PENDING_TTL)
    events.publish(
        space,
        events.REACTION_SENT,
        user=events.user_brief(user),
        code=code,
        emoji=Reaction(code).label,
    )
    interval = settings.SPACES_REACTION_FLUSH_SECONDS
    if cache.add(f"spaces:reactions:flushed:{space.pk}", 1, timeout=interval):
        reaction_counts_flush(space_id=space.pk)
    return code


def reaction_counts_flush(*, space_id: int) -> int:
    """Move the pending taps of a Space from the cache into ReactionCount. Returns how many.

    Each emoji's pending count is claimed with an atomic DECR, so two flushes at once never add
    the same taps twice (one that over-claims gives the excess back). Taps claimed by a flush
    whose transaction then fails are lost: a reaction count is not worth a two-phase commit.
    """
    keys = reactions.pending_keys(space_id)
    pending = cache.get_many(list(keys.values()))
    claimed: dict[str, int] = {}
    for code, key in keys.items():
        n = int(pending.get(key) or 0)
        if n <= 0:
            continue
        try:
            after = cache.decr(key, n)
        except ValueError:
            continue
        if after < 0:
            cache.incr(key, -after)
            n += after
        if n > 0:
            claimed[code] = n
    if not claimed:
        return 0
    with transaction.atomic():
        ReactionCount.objects.bulk_create(
            [ReactionCount(space_id=space_id, code=code) for code in claimed],
            ignore_conflicts=True,
        )
        for code, n in claimed.items():
            ReactionCount.objects.filter(space_id=space_id, code=code).update(count=F("count") + n)
    return sum(claimed.values())


def reaction_counts_pending(*, space_id: int) -> dict[str, int]:
    """Taps counted in the cache and not yet flushed."""
    return reactions.pending_counts(space_id)


# --- Pins -------------------------------------------------------------------------------------


def pin_create(*, user: User, space_id: int, text: str, url: str = "") -> Pin:
    """Host, co-hosts and speakers pin a post; at most MAX_PINS at once (409 `too_many_pins`)."""
    text = text.strip()
    url = url.strip()
    if not text:
        raise ValidationFailed(
            "A pin needs text.", fields={"text": ["This field may not be blank."]}
        )
    if len(text) > PIN_TEXT_MAX_LENGTH:
        raise ValidationFailed(
            "The text is too long.",
            fields={"text": [f"At most {PIN_TEXT_MAX_LENGTH} characters."]},
        )
    if url:
        try:
            if len(url) > 500:
                raise DjangoValidationError("too long")
            URLValidator(schemes=["http", "https"])(url)
        except DjangoValidationError as exc:
            raise ValidationFailed(
                "The link is not valid.",
                fields={"url": ["Enter a valid http:// or https:// URL (at most 500 characters)."]},
            ) from exc
    with transaction.atomic():
        space, me = access_space(user=user, space_id=space_id, lock=True)
        ensure(check_pin(space, me))
        if space.pin_count >= MAX_PINS:
            raise Conflict(
                f"At most {MAX_PINS} posts can be pinned; unpin one first.", code="too_many_pins"
            )
        pin = Pin.objects.create(space=space, author=user, text=text, url=url)
        _bump(space, pin_count=1)
        events.publish(space, events.PIN_ADDED, pin=events.pin(pin))
    return pin


def pin_remove(*, user: User, space_id: int, pin_id: int) -> Pin:
    """Unpin: the author, the host or a co-host. Idempotent on an unpinned pin."""
    with transaction.atomic():
        space, me = access_space(user=user, space_id=space_id, lock=True)
        pin = Pin.objects.filter(pk=pin_id, space=space).select_related("author").first()
        if pin is None:
            raise NotFound("No such pin in this Space.", code="pin_not_found")
        ensure(check_unpin(space, me, author_id=pin.author_id))
        if pin.unpinned_at is not None:
            return pin
        pin.unpinned_at = timezone.now()
        pin.unpinned_by = user
        pin.save(update_fields=["unpinned_at", "unpinned_by"])
        _bump(space, pin_count=-1)
        if pin.author_id != user.pk:
            _log(space, user, Action.PIN_REMOVED, target=pin.author, pin_id=pin.pk, text=pin.text)
        events.publish(space, events.PIN_REMOVED, pin_id=pin.pk, by=events.user_brief(user))
    return pin


# --- Captions -----------------------------------------------------------------------------------


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
        raise ValidationFailed("A caption needs text.", fields={"text": ["Blank."]})
    text = text[:CAPTION_MAX_LENGTH]
    with transaction.atomic():
        space = Space.objects.filter(pk=space_id).first()
        if space is None:
            raise NotFound("No such Space.", code="space_not_found")
        ensure(check_live(space))
        if not space.captions_enabled:
            raise Conflict("Captions are off in this Space.", code="captions_disabled")
        on_stage = Participant.objects.filter(
            space=space, user_id=speaker_id, role__in=STAGE, state=Participant.State.PRESENT
        ).exists()
        if not on_stage:
            raise Conflict("This user is not on stage.", code="not_on_stage")
        line = CaptionLine.objects.create(
            space=space,
            speaker_id=speaker_id,
            text=text,
            started_at=started_at or timezone.now(),
        )
        events.publish(space, events.CAPTION_ADDED, line=events.caption(line))
    return line


# --- Share and report ---------------------------------------------------------------------------


@dataclass
class ShareResult:
    messages_sent: int = 0
    notifications_sent: int = 0
    skipped_user_ids: list[int] = field(default_factory=list)


def space_share(
    *,
    user: User,
    space_id: int,
    user_ids: Sequence[int] = (),
    to_followers: bool = False,
    message: str = "",
) -> ShareResult:
    """Send the Space to chosen users as direct messages (at most MAX_SHARE_RECIPIENTS), and/or
    to all your followers as an inbox notification each, written in batches.

    Recipients who cannot see the Space (blocked by the host) or with whom you cannot exchange
    messages (a block either way), inactive accounts and yourself are skipped and listed.
    Posting to followers is limited to once per Space every 10 minutes.
    """
    requested = list(dict.fromkeys(user_ids))
    if not requested and not to_followers:
        raise ValidationFailed(
            "Choose people to send the Space to, or your followers.",
            fields={"non_field_errors": ["Give user_ids or followers=true."]},
        )
    if len(requested) > MAX_SHARE_RECIPIENTS:
        raise ValidationFailed(
            "Too many recipients.",
            fields={"user_ids": [f"At most {MAX_SHARE_RECIPIENTS} people at once."]},
        )
    result = ShareResult()
    with transaction.atomic():
        space, _ = access_space(user=None, space_id=space_id)
        ensure(check_share(space, blocked_by_host=_blocked_by_host(space, user)))
        if to_followers:
            _rate_limit(
                f"spaces:share:{space.pk}:{user.pk}",
                limit=1,
                period=600,
                message="You already shared this Space with your followers.",
            )
        blocked_by_host = Block.objects.filter(blocker_id=space.host_id).values("blocked_id")
        if requested:
            recipients = list(
                User.objects.filter(pk__in=requested, is_active=True)
                .exclude(pk=user.pk)
                .exclude(pk__in=blocked_by_host)
                .exclude(pk__in=Block.objects.filter(blocker=user).values("blocked_id"))
                .exclude(pk__in=Block.objects.filter(blocked=user).values("blocker_id"))
                .order_by("pk")
            )
            body = message.strip() or f"Listen to “{space.title}” with me."
            for recipient in recipients:
                accounts_services.direct_message_send(
                    sender=user, recipient=recipient, body=body, attachment={"space_id": space.pk}
                )
            sent = {r.pk for r in recipients}
            result.messages_sent = len(sent)
            result.skipped_user_ids = [pk for pk in requested if pk not in sent]
        if to_followers:
            audience = (
                follower_ids(user_id=user.pk)
                .exclude(follower_id__in=blocked_by_host)
                .exclude(follower_id=space.host_id)
            )
            result.notifications_sent = accounts_services.notifications_create_bulk(
                recipient_ids=list(audience),
                kind=Notification.Kind.SPACE_SHARED,
                payload={
                    "space_id": space.pk,
                    "title": space.title,
                    "from": user.username,
                    "from_name": user.name,
                },
            )
    return result


def report_create(
    *,
    reporter: User,
    space_id: int,
    reason: str,
    details: str = "",
    target_user_id: int | None = None,
) -> Report:
    """Anyone who was in the Space reports it, or one of its participants, to staff."""
    details = details.strip()
    if reason not in Report.Reason.values:
        raise ValidationFailed("Unknown reason.", fields={"reason": ["Not a valid choice."]})
    if len(details) > REPORT_DETAILS_MAX_LENGTH:
        raise ValidationFailed(
            "The details are too long.",
            fields={"details": [f"At most {REPORT_DETAILS_MAX_LENGTH} characters."]},
        )
    if reason == Report.Reason.OTHER and not details:
        raise ValidationFailed(
            "Say what is wrong.", fields={"details": ["Required when the reason is `other`."]}
        )
    if target_user_id is not None and target_user_id == reporter.pk:
        raise ValidationFailed("You cannot report yourself.", code="cannot_target_self")
    with transaction.atomic():
        space, me = access_space(user=reporter, space_id=space_id)
        ensure(check_report(space, me))
        target = None
        if target_user_id is not None:
            participant = (
                Participant.objects.filter(space=space, user_id=target_user_id)
                .select_related("user")
                .first()
            )
            if participant is None:
                raise NotFound("This user was not in the Space.", code="participant_not_found")
            target = participant.user
        return Report.objects.create(
            space=space, reporter=reporter, target=target, reason=reason, details=details
        )


def report_resolve(*, actor: User, report_id: int, note: str = "") -> Report:
    """Staff close a report. Resolving a resolved report changes nothing."""
    if not actor.is_staff:
        raise Forbidden("Only staff can resolve reports.", code="staff_only")
    with transaction.atomic():
        report = lock_rows(Report.objects.filter(pk=report_id)).first()
        if report is None:
            raise NotFound("No such report.", code="report_not_found")
        if report.status == Report.Status.RESOLVED:
            return report
        report.status = Report.Status.RESOLVED
        report.resolved_at = timezone.now()
        report.resolved_by = actor
        report.resolution_note = note.strip()[:1000]
        report.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note"])
    return report
