"""The pieces every scheduling use case shares: the checks, the locks, and the writers of
`Delivery` rows (each notification owed; delivery.py sends them).

Lock order is that of spaces/access.py: the host's User row (when scheduling or starting), then
the Space row (`_lock_space`, `FOR NO KEY UPDATE`), taken by every change of a scheduled Space's
state or time. Setting or removing a reminder takes only `FOR SHARE` on the Space row
(`_share_lock_space`), so reminders are set side by side but never while the Space starts, moves
or is cancelled: the `INSERT ... SELECT` over the reminders (`_arm_holders`) never misses one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from accounts.selectors import blocked_ids
from scheduling.models import HOST_SOON_LEAD, Delivery, Reminder, SpaceSchedule
from spaces.access import access_space
from spaces.models import Space
from spaces_project.errors import Conflict, Forbidden, ValidationFailed

Kind = Delivery.Kind
State = Delivery.State
Skip = Delivery.SkipReason

# Kinds that belong to the time a Space was scheduled for: skipped once it starts, is cancelled
# or moves to another time.
TIMED_KINDS = (Kind.HOST_SOON, Kind.HOST_START, Kind.REMINDER, Kind.CHANGED)
HOLDER_KINDS = (Kind.REMINDER, Kind.LIVE, Kind.CHANGED, Kind.CANCELLED)


def clean_scheduled_for(value: datetime, *, now: datetime) -> datetime:
    """`value` must be aware and between SPACES_SCHEDULE_MIN_LEAD_MINUTES and
    SPACES_SCHEDULE_MAX_DAYS from `now`."""
    if timezone.is_naive(value):
        raise ValidationFailed(
            gettext("The time needs a time zone."),
            fields={"scheduled_for": [gettext("Give a time zone, e.g. 2030-01-01T18:00:00Z.")]},
        )
    lead = timedelta(minutes=settings.SPACES_SCHEDULE_MIN_LEAD_MINUTES)
    if value < now + lead:
        raise ValidationFailed(
            gettext("That time is too soon."),
            fields={
                "scheduled_for": [
                    gettext("Schedule at least %(count)s minutes ahead.")
                    % {"count": settings.SPACES_SCHEDULE_MIN_LEAD_MINUTES}
                ]
            },
        )
    if value > now + timedelta(days=settings.SPACES_SCHEDULE_MAX_DAYS):
        raise ValidationFailed(
            gettext("That time is too far ahead."),
            fields={
                "scheduled_for": [
                    gettext("Schedule at most %(count)s days ahead.")
                    % {"count": settings.SPACES_SCHEDULE_MAX_DAYS}
                ]
            },
        )
    return value


def _clean_policy(speaking_policy: str) -> str:
    if speaking_policy not in Space.SpeakingPolicy.values:
        raise ValidationFailed(
            gettext("Unknown speaking setting."),
            fields={"speaking_policy": [gettext("Not a valid choice.")]},
        )
    return speaking_policy


def ensure_host(space: Space, user: User) -> None:
    """Host-only actions on a scheduled Space answer 403 to anyone else, whatever its state."""
    if space.host_id != user.pk:
        raise Forbidden(gettext("Only the host can do this."), code="not_host")


def ensure_scheduled(space: Space) -> None:
    if space.state == Space.State.SCHEDULED:
        return
    if space.state == Space.State.CANCELLED:
        raise Conflict(gettext("This Space was cancelled."), code="space_cancelled")
    if space.state == Space.State.ENDED:
        raise Conflict(gettext("This Space has ended."), code="space_ended")
    raise Conflict(gettext("This Space has already started."), code="space_started")


def _lock_space(space_id: int) -> Space:
    """The Space row, locked until commit (404 `space_not_found`)."""
    space, _ = access_space(user=None, space_id=space_id, lock=True)
    return space


def _share_lock_space(space_id: int) -> None:
    """`FOR SHARE` on the Space row: reminders may be set side by side, but not while the
    Space starts, moves or is cancelled (those hold `FOR NO KEY UPDATE`, which conflicts), so
    `INSERT ... SELECT` over the reminders never misses one committed in between. SQLite
    serialises writers anyway."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {connection.ops.quote_name(Space._meta.db_table)} "
            "WHERE id = %s FOR SHARE",
            [space_id],
        )


def _schedule_of(space: Space) -> SpaceSchedule:
    """Caller holds the Space lock. Every scheduled Space has one; a Space put in state
    `scheduled` by other means gets one here."""
    schedule, _ = SpaceSchedule.objects.get_or_create(space=space)
    return schedule


def _arm(space: Space, recipient_id: int, kind: str, version: int, due_at: datetime) -> None:
    Delivery.objects.create(
        space=space,
        recipient_id=recipient_id,
        kind=kind,
        version=version,
        due_at=due_at,
        next_attempt_at=due_at,
    )


def _arm_host(space: Space, *, version: int, now: datetime) -> None:
    """The host's "in 30 minutes" (only if that moment is still ahead) and "time to start"."""
    assert space.scheduled_for is not None
    soon = space.scheduled_for - HOST_SOON_LEAD
    if soon > now:
        _arm(space, space.host_id, Kind.HOST_SOON, version, soon)
    _arm(space, space.host_id, Kind.HOST_START, version, space.scheduled_for)


def _arm_holders(space: Space, *, kind: str, version: int, due_at: datetime, now: datetime) -> int:
    """One pending delivery of `kind` for every reminder holder of `space`, in one
    `INSERT ... SELECT` whatever their number. Holders the host has blocked and deactivated
    accounts are left out. Caller holds the Space lock (see `_share_lock_space`)."""
    qn = connection.ops.quote_name
    adapt = connection.ops.adapt_datetimefield_value
    delivery = qn(Delivery._meta.db_table)
    reminder = qn(Reminder._meta.db_table)
    user = qn(User._meta.db_table)
    # "Blocked by the host" as accounts.selectors says it, compiled into this statement.
    blocked_sql, blocked_params = blocked_ids(blocker=space.host_id).query.sql_with_params()
    sql = f"""
        INSERT INTO {delivery}
            (space_id, recipient_id, kind, version, due_at, next_attempt_at, state,
             skip_reason, attempts, last_error, created_at)
        SELECT r.space_id, r.user_id, %s, %s, %s, %s, %s, '', 0, '', %s
        FROM {reminder} r
        JOIN {user} u ON u.id = r.user_id
        WHERE r.space_id = %s
          AND u.is_active
          AND r.user_id NOT IN ({blocked_sql})
    """
    params: list[Any] = [
        kind,
        version,
        adapt(due_at),
        adapt(due_at),
        State.PENDING,
        adapt(now),
        space.pk,
        *blocked_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _skip_pending(space: Space, *, reason: str, kinds: Sequence[str] | None = None) -> int:
    qs = Delivery.objects.filter(space=space, state=State.PENDING)
    if kinds is not None:
        qs = qs.filter(kind__in=kinds)
    return qs.update(state=State.SKIPPED, skip_reason=reason)
