"""A scheduled Space's life before it goes live: scheduled, edited, cancelled by its host,
started (the same row becomes the live Space), or expired by the sweep.

Edits re-arm: a change of time bumps `SpaceSchedule.version`, skips the pending rows of the old
version and writes new ones (delivery.py). A cancel and an expiry share `_withdraw`, the one
place the cancel hooks run (scheduling/hooks.py: ticketing's refunds). A use case that makes a
notification due now queues a sweep after commit (`_kick_sweep`), so "told at once" does not
wait for the next beat.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from scheduling import hooks
from scheduling.models import HOLDER_LEAD, SpaceSchedule
from scheduling.services.common import (
    TIMED_KINDS,
    Kind,
    Skip,
    _arm,
    _arm_holders,
    _arm_host,
    _clean_policy,
    _lock_space,
    _schedule_of,
    _skip_pending,
    clean_scheduled_for,
    ensure_host,
    ensure_scheduled,
)
from spaces import services as spaces_services
from spaces.access import lock_rows
from spaces.models import Space
from spaces_project.celery import app as celery_app
from spaces_project.errors import Conflict, Forbidden

logger = logging.getLogger("scheduling.services")

# Queued by name: the task (scheduling/tasks.py) runs these services, so importing it here
# would close a cycle. SchedulingConfig.ready() imports it, so it is always registered.
SWEEP_TASK = "scheduling.tasks.scheduling_sweep"


def _kick_sweep() -> None:
    """Queue a sweep now (after commit) so "told at once" does not wait for the next beat.
    Best effort: if the broker is away, the periodic sweep sends the same rows later."""
    try:
        celery_app.signature(SWEEP_TASK).apply_async()
    except Exception:
        logger.warning("scheduling: could not queue a sweep now; the periodic one will run")


# A double click on "Schedule" (or a retried request) is one Space: the same host, title and
# time within this many seconds of the first returns the Space already made.
SCHEDULE_REPEAT_SECONDS = 60


def scheduled_space_create(
    *,
    host: User,
    title: str,
    scheduled_for: datetime,
    topics: Sequence[str] = (),
    speaking_policy: str = Space.SpeakingPolicy.EVERYONE,
    recording_enabled: bool = True,
    clips_enabled: bool = True,
) -> Space:
    """Schedule a Space. Needs `can_host` (checked here, not again at the start: the host
    committed to this Space when scheduling it); at most SPACES_MAX_UPCOMING_PER_HOST
    scheduled Spaces per host, counted under the lock on the host's User row.
    Idempotent over a double submit: the same title at the same time within
    SCHEDULE_REPEAT_SECONDS returns the Space already scheduled."""
    space, _ = _schedule(
        host=host,
        title=title,
        scheduled_for=scheduled_for,
        topics=topics,
        speaking_policy=speaking_policy,
        ticketed=False,
        recording_enabled=recording_enabled,
        clips_enabled=clips_enabled,
    )
    return space


def _schedule(
    *,
    host: User,
    title: str,
    scheduled_for: datetime,
    topics: Sequence[str],
    speaking_policy: str,
    ticketed: bool,
    recording_enabled: bool = True,
    clips_enabled: bool = True,
) -> tuple[Space, bool]:
    """Schedule a Space, or find the one a moment ago's identical request scheduled (a
    free one for a free request, one on sale for a sale). Returns (space, created)."""
    now = timezone.now()
    title = spaces_services.clean_title(title)
    topics = spaces_services.clean_topics(topics)
    speaking_policy = _clean_policy(speaking_policy)
    scheduled_for = clean_scheduled_for(scheduled_for, now=now)
    if not host.can_host:
        raise Forbidden(
            gettext("You need at least %(count)s followers to host a Space.")
            % {"count": settings.SPACES_HOST_MIN_FOLLOWERS},
            code="not_enough_followers",
        )
    with transaction.atomic():
        # The host's row lock also orders two identical requests racing: the second waits
        # here until the first commits, then finds its Space below.
        lock_rows(User.objects.filter(pk=host.pk)).first()
        repeat = (
            Space.objects.filter(
                host=host,
                state=Space.State.SCHEDULED,
                title=title,
                scheduled_for=scheduled_for,
                is_ticketed=ticketed,
                created_at__gte=now - timedelta(seconds=SCHEDULE_REPEAT_SECONDS),
            )
            .order_by("-created_at", "-pk")
            .first()
        )
        if repeat is not None:
            return repeat, False
        upcoming = Space.objects.filter(host=host, state=Space.State.SCHEDULED).count()
        if upcoming >= settings.SPACES_MAX_UPCOMING_PER_HOST:
            raise Conflict(
                gettext("You already have %(count)s upcoming Spaces, the most you can schedule.")
                % {"count": upcoming},
                code="too_many_upcoming",
            )
        space = Space.objects.create(
            host=host,
            title=title,
            topics=topics,
            speaking_policy=speaking_policy,
            state=Space.State.SCHEDULED,
            scheduled_for=scheduled_for,
            recording_enabled=recording_enabled,
            clips_enabled=clips_enabled,
            max_speakers=settings.SPACES_MAX_SPEAKERS,
            max_cohosts=settings.SPACES_MAX_COHOSTS,
        )
        SpaceSchedule.objects.create(space=space)
        _arm_host(space, version=1, now=now)
    return space, True


def scheduled_space_create_for_sale(
    *,
    host: User,
    title: str,
    scheduled_for: datetime,
    price: int,
    capacity: int,
    currency: str | None = None,
    guests: Sequence[str] = (),
    topics: Sequence[str] = (),
    speaking_policy: str = Space.SpeakingPolicy.EVERYONE,
    sales_close_at: datetime | None = None,
    recording_enabled: bool = True,
    clips_enabled: bool = True,
) -> Space:
    """Schedule a Space and put it on sale (`price` in minor units) as one: ticketing's
    `ticket_offer_open`, reached through `hooks.ticket_offer_open`, runs in the transaction
    that schedules, so any refusal of the terms (`not_enough_followers_to_sell`, a bad price,
    capacity or guest) leaves nothing scheduled. A double submit returns the Space on sale
    already (as `scheduled_space_create`), not a refusal for selling it twice."""
    if not len(hooks.ticket_offer_open):
        raise Conflict(gettext("Ticket sales are not available here."), code="tickets_unavailable")
    with transaction.atomic():
        space, created = _schedule(
            host=host,
            title=title,
            scheduled_for=scheduled_for,
            topics=topics,
            speaking_policy=speaking_policy,
            ticketed=True,
            recording_enabled=recording_enabled,
            clips_enabled=clips_enabled,
        )
        if not created:
            return space
        for offer_open in hooks.ticket_offer_open:
            offer_open(
                host=host,
                space_id=space.pk,
                price=price,
                capacity=capacity,
                currency=currency,
                guests=guests,
                sales_close_at=sales_close_at,
            )
        space.refresh_from_db()
    return space


def scheduled_space_update(
    *,
    actor: User,
    space_id: int,
    title: str | None = None,
    topics: Sequence[str] | None = None,
    speaking_policy: str | None = None,
    scheduled_for: datetime | None = None,
    recording_enabled: bool | None = None,
    clips_enabled: bool | None = None,
) -> Space:
    """Edit a scheduled Space (host only). A new time must be in the same window as a new
    Space; it re-arms every timed notification for the new time and tells reminder holders
    at once. A new title reaches notifications not yet sent (they read the Space when sent)."""
    now = timezone.now()
    if title is not None:
        title = spaces_services.clean_title(title)
    if topics is not None:
        topics = spaces_services.clean_topics(topics)
    if speaking_policy is not None:
        speaking_policy = _clean_policy(speaking_policy)
    if scheduled_for is not None:
        scheduled_for = clean_scheduled_for(scheduled_for, now=now)
    with transaction.atomic():
        space = _lock_space(space_id)
        ensure_host(space, actor)
        ensure_scheduled(space)
        changed: list[str] = []
        for name, value in (
            ("title", title),
            ("topics", topics),
            ("speaking_policy", speaking_policy),
            ("recording_enabled", recording_enabled),
            ("clips_enabled", clips_enabled),
        ):
            if value is not None and getattr(space, name) != value:
                setattr(space, name, value)
                changed.append(name)
        if scheduled_for is not None and scheduled_for != space.scheduled_for:
            space.scheduled_for = scheduled_for
            changed.append("scheduled_for")
            schedule = _schedule_of(space)
            schedule.version += 1
            schedule.rescheduled_at = now
            schedule.save(update_fields=["version", "rescheduled_at"])
            _skip_pending(space, reason=Skip.RESCHEDULED, kinds=TIMED_KINDS)
            _arm_host(space, version=schedule.version, now=now)
            _arm_holders(
                space,
                kind=Kind.REMINDER,
                version=schedule.version,
                due_at=scheduled_for - HOLDER_LEAD,
                now=now,
            )
            _arm_holders(space, kind=Kind.CHANGED, version=schedule.version, due_at=now, now=now)
            transaction.on_commit(_kick_sweep)
        if changed:
            space.save(update_fields=changed)
    return space


def _withdraw(space: Space, *, reason: str, now: datetime) -> None:
    """Cancel a scheduled Space whose row the caller has locked and checked: the one place a
    cancel and an expiry share (holders told, pending notifications dropped, cancel hooks)."""
    schedule = _schedule_of(space)
    space.state = Space.State.CANCELLED
    space.save(update_fields=["state"])
    schedule.cancel_reason = reason
    schedule.cancelled_at = now
    schedule.save(update_fields=["cancel_reason", "cancelled_at"])
    _skip_pending(space, reason=Skip.CANCELLED)
    _arm_holders(space, kind=Kind.CANCELLED, version=schedule.version, due_at=now, now=now)
    if reason == SpaceSchedule.CancelReason.EXPIRED:
        _arm(space, space.host_id, Kind.CANCELLED, schedule.version, now)
    for hook in hooks.space_cancelled:
        hook(space, reason)
    transaction.on_commit(_kick_sweep)


def scheduled_space_cancel(*, actor: User, space_id: int) -> Space:
    """Cancel (host only). Cancelling a cancelled Space changes nothing."""
    with transaction.atomic():
        space = _lock_space(space_id)
        ensure_host(space, actor)
        if space.state == Space.State.CANCELLED:
            return space
        ensure_scheduled(space)
        _withdraw(space, reason=SpaceSchedule.CancelReason.HOST, now=timezone.now())
    return space


def scheduled_space_start(*, actor: User, space_id: int) -> Space:
    """The host starts a scheduled Space, early or late: the same row becomes the live Space
    (spaces.services.space_go_live: one live Space per host), the host's and the holders'
    pending reminders are skipped, and every holder is told it is live at once."""
    now = timezone.now()
    with transaction.atomic():
        lock_rows(User.objects.filter(pk=actor.pk)).first()
        space = _lock_space(space_id)
        ensure_host(space, actor)
        ensure_scheduled(space)
        spaces_services.space_go_live(host=actor, space=space, now=now)
        schedule = _schedule_of(space)
        _skip_pending(space, reason=Skip.STARTED, kinds=TIMED_KINDS)
        _arm_holders(space, kind=Kind.LIVE, version=schedule.version, due_at=now, now=now)
        transaction.on_commit(_kick_sweep)
    return space


def scheduled_spaces_expire(*, now: datetime | None = None, limit: int = 100) -> int:
    """Cancel (reason `expired`) scheduled Spaces not started SPACES_SCHEDULED_EXPIRE_HOURS
    after their time; the host and the holders are told. One short transaction per Space;
    a Space locked by its host starting it right now is skipped (SKIP LOCKED) and looked at
    again by the next sweep. Returns how many expired."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.SPACES_SCHEDULED_EXPIRE_HOURS)
    overdue = Space.objects.filter(state=Space.State.SCHEDULED, scheduled_for__lte=cutoff)
    ids = list(overdue.order_by("scheduled_for", "id").values_list("pk", flat=True)[:limit])
    expired = 0
    for space_id in ids:
        try:
            with transaction.atomic():
                space = (
                    overdue.filter(pk=space_id)
                    .select_for_update(no_key=True, skip_locked=True, of=("self",))
                    .first()
                )
                if space is None:
                    continue
                _withdraw(space, reason=SpaceSchedule.CancelReason.EXPIRED, now=now)
        except Exception:
            # Rolled back (a cancel hook failed, say); the next sweep tries again, and the
            # deliveries below still go out.
            logger.exception("scheduling: could not expire Space %s", space_id)
            continue
        expired += 1
    if expired:
        logger.info("scheduling: %d scheduled Space(s) expired", expired)
    return expired
