"""A Space's life: started now or from a schedule (`space_go_live`), ended by its host or
staff, and every live Space of a banned host ended at once.

Starting locks the host's User row first, so two starts by the same host queue; the partial
unique index `space_one_live_per_host` catches anything that ever slips past. Ending moves
everyone out in a few set-wise UPDATEs under the Space lock and flushes the reaction taps after
commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts import services as accounts_services
from accounts.models import User
from spaces import events, hooks
from spaces.access import access_space, lock_rows
from spaces.models import Invitation, Participant, Space, SpeakerRequest
from spaces.permissions import check_end, ensure
from spaces.services.common import Action, Role, _log, clean_title, clean_topics
from spaces_project.errors import Conflict, Forbidden, ValidationFailed

logger = logging.getLogger(__name__)

# A second identical start this soon after the first is the same click, twice.
START_REPEAT_SECONDS = 10


def space_start(
    *,
    host: User,
    title: str,
    topics: Sequence[str] = (),
    speaking_policy: str = Space.SpeakingPolicy.EVERYONE,
    captions_enabled: bool = False,
    recording_enabled: bool = True,
    clips_enabled: bool = True,
) -> Space:
    """Start a live Space now. Needs `can_host`; one live Space per host.

    The host's User row is locked first so two starts by the same host queue, and the partial
    unique index `space_one_live_per_host` catches anything that ever slips past. A double submit
    (the same title within START_REPEAT_SECONDS) returns the Space the first one started, rather
    than refusing the second as `already_live`.
    """
    title = clean_title(title)
    topics = clean_topics(topics)
    if speaking_policy not in Space.SpeakingPolicy.values:
        raise ValidationFailed(
            gettext("Unknown speaking setting."),
            fields={"speaking_policy": [gettext("Not a valid choice.")]},
        )
    if not host.can_host:
        raise Forbidden(
            gettext("You need at least %(count)s followers to host a Space.")
            % {"count": settings.SPACES_HOST_MIN_FOLLOWERS},
            code="not_enough_followers",
        )
    now = timezone.now()
    with transaction.atomic():
        lock_rows(User.objects.filter(pk=host.pk)).first()
        repeat = Space.objects.filter(
            host=host,
            state=Space.State.LIVE,
            title=title,
            started_at__gte=now - timedelta(seconds=START_REPEAT_SECONDS),
        ).first()
        if repeat is not None:
            return repeat
        space = Space(
            host=host,
            title=title,
            topics=topics,
            speaking_policy=speaking_policy,
            captions_enabled=captions_enabled,
            recording_enabled=recording_enabled,
            clips_enabled=clips_enabled,
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
        raise Conflict(gettext("You already have a live Space."), code="already_live")
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
        raise Conflict(gettext("You already have a live Space."), code="already_live") from exc
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
    space_id = space.pk
    # robust: the Space is live whatever a hook does (the alert's own sweep catches up).
    transaction.on_commit(lambda: _space_live(space_id), robust=True)


def _space_live(space_id: int) -> None:
    """After the go-live commits: what other apps do about it (spaces/hooks.py `space_live`)."""
    for hook in hooks.space_live:
        try:
            hook(space_id=space_id)
        except Exception:
            logger.exception("space_live hook %r failed for Space %s", hook, space_id)


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
    space.listener_count = space.speaker_count = space.cohost_count = space.guest_count = 0
    space.save(
        update_fields=[
            "state",
            "ended_at",
            "listener_count",
            "speaker_count",
            "cohost_count",
            "guest_count",
        ]
    )
    _log(space, actor, Action.SPACE_ENDED, **details)
    events.publish(space, events.SPACE_ENDED, counts=events.counts(space))


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
        raise Forbidden(gettext("Only staff can ban users."), code="staff_only")
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
