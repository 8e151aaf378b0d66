"""The small pieces every Space use case shares: counters, role moves, departures, the
moderation log, the target lookup and input cleaning.

Everything here runs inside a use case's transaction, with the Space row locked by the caller
(lock order in spaces/access.py): the counters on the Space row are written with F() under that
lock, so the in-memory Space stays exact too, and CheckConstraints on the row refuse a stage or
co-host slot beyond the capacity even if a lock were ever skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import F
from django.db.models.functions import Greatest
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.selectors import is_blocked
from spaces.access import lock_participants
from spaces.models import (
    MAX_TOPICS,
    TITLE_MAX_LENGTH,
    TOPIC_MAX_LENGTH,
    Invitation,
    ModerationAction,
    Participant,
    Space,
    SpeakerRequest,
)
from spaces.permissions import check_act_on, ensure
from spaces_project.counters import rate_limit
from spaces_project.errors import ValidationFailed
from spaces_project.text import clean_text

Role = Participant.Role
Action = ModerationAction.Action


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
    return is_blocked(blocker_id=space.host_id, blocked_id=user.pk)


def _target(space: Space, user_id: int) -> Participant | None:
    """Lock and return the target participant (lock order: after the Space)."""
    return lock_participants(space=space, user_ids=[user_id]).get(user_id)


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


def clean_title(title: str) -> str:
    title = clean_text(title, field="title", strip_bidi=True)
    if not title:
        raise ValidationFailed(
            _("A Space needs a title."), fields={"title": [_("This field may not be blank.")]}
        )
    if len(title) > TITLE_MAX_LENGTH:
        raise ValidationFailed(
            _("The title is too long."),
            fields={"title": [_("At most %(count)s characters.") % {"count": TITLE_MAX_LENGTH}]},
        )
    return title


def clean_topics(topics: Sequence[str]) -> list[str]:
    cleaned: list[str] = []
    seen: set[str] = set()
    for raw in topics:
        topic = clean_text(raw, field="topics", strip_bidi=True)
        if not topic:
            raise ValidationFailed(
                _("Topics cannot be blank."), fields={"topics": [_("Topics cannot be blank.")]}
            )
        if len(topic) > TOPIC_MAX_LENGTH:
            raise ValidationFailed(
                _("A topic is too long."),
                fields={
                    "topics": [
                        _("Each topic has at most %(count)s characters.")
                        % {"count": TOPIC_MAX_LENGTH}
                    ]
                },
            )
        if topic.casefold() not in seen:
            seen.add(topic.casefold())
            cleaned.append(topic)
    if len(cleaned) > MAX_TOPICS:
        raise ValidationFailed(
            _("Too many topics."),
            fields={"topics": [_("At most %(count)s topics.") % {"count": MAX_TOPICS}]},
        )
    return cleaned


# The fixed-window limit the services share with accounts (direct messages).
_rate_limit = rate_limit
