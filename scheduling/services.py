"""Scheduled Spaces and reminders: every write, one function per use case.

The API, the site, the admin and the Celery sweep all call these. Each use case is one
`transaction.atomic` block; the Space row is locked (`FOR NO KEY UPDATE`, spaces/access.py) by
every change of a scheduled Space's state or time, after the host's User row where both are
taken (scheduling and starting), so the lock order is that of spaces/access.py.

Delivery, and why each notification reaches the inbox exactly once
===================================================================

Every notification owed is a `Delivery` row: (Space, recipient, kind, schedule version), with a
due time. Rows are written by the use cases below, never one query per holder: a reminder adds
its own row; going live, a change of time and a cancel write one row per holder with a single
`INSERT ... SELECT` from the reminders (`_arm_holders`).

No Celery task is ever scheduled for a reminder's time (no ETA or countdown): with a Redis
broker, a task whose ETA lies beyond the visibility timeout is delivered twice, and a task lost
with a worker returns only after that timeout (../shared/NOTES.md). Instead one periodic sweep
(Celery beat in the distributed shape, the in-process ticker in the embedded one; a use case
that makes something due now also queues one at once) runs `deliveries_send_due`, which sends
due rows in batches. Each batch is ONE transaction that

1. claims up to `SPACES_SCHEDULING_BATCH_SIZE` due pending rows with
   `SELECT ... FOR UPDATE SKIP LOCKED` (`claim_rows`): a second worker, a redelivered task or a
   doubled beat tick running at the same moment skips them and takes the next rows;
2. re-checks each row against the Space as it is now (started, cancelled, time changed, the
   window passed: the row is skipped with a reason instead of sent);
3. inserts the inbox notifications, one bulk INSERT per (Space, kind) group;
4. marks the rows sent with a conditional `UPDATE ... SET state='sent' WHERE id IN (...) AND
   state='pending'` (`mark_sent`) and rolls the whole batch back unless it changed every row.

The claim, the inserted notifications and the "sent" mark commit together or not at all. A
process killed mid-batch leaves an open transaction that PostgreSQL aborts when the connection
drops: neither the notifications nor the mark survive, the row locks go, and the next sweep sends
those rows. A row that was committed as sent can never match step 1 or step 4 again. The
conditional update alone would already refuse a double send (a second claimer's UPDATE waits on
the first one's row locks, then matches nothing and rolls back); the lock spares it the work.
The partial unique constraint `delivery_once` is the last line of defence against two live rows
for the same notification. On SQLite, which ignores row locks, writers queue at BEGIN IMMEDIATE
(settings), which serialises whole batches just the same.

The realtime push of each notification (`notification.created` on the recipient's home socket)
leaves after commit, from accounts.services.

E-mail is AT MOST ONCE. It is sent after the batch commits (`transaction.on_commit`), never
inside the transaction (an SMTP call cannot be rolled back) and never retried: a process that
dies between the commit and the SMTP call loses those e-mails, and a failed send is recorded on
the rows (`last_error`, `emailed_at` stays null) but not repeated, because SMTP gives no way to
know whether a message whose connection dropped was accepted, and a reminder mailed twice is
worse than one that exists only in the inbox, which is exactly once.

Failures. If a batch raises, it is rolled back and its rows are tried again one by one, so one
bad row cannot hold up its neighbours; a row that still fails gets `attempts + 1`,
`last_error`, and a `next_attempt_at` pushed back exponentially. After
`SPACES_SCHEDULING_MAX_ATTEMPTS` it is `failed`, shown in the admin, which can retry it.

Edits re-arm. A change of time bumps `SpaceSchedule.version`; pending rows of the old version
are skipped (`rescheduled`) and new rows are written for the new version. The version is in the
key, so a reminder already sent for the old time never blocks the one for the new time.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils import timezone

from accounts import services as accounts_services
from accounts.models import Block, Notification, User
from scheduling.models import HOLDER_LEAD, HOST_SOON_LEAD, Delivery, Reminder, SpaceSchedule
from spaces import services as spaces_services
from spaces.access import access_space, lock_rows
from spaces.models import Space
from spaces_project.errors import Conflict, Forbidden, ValidationFailed

logger = logging.getLogger(__name__)

Kind = Delivery.Kind
State = Delivery.State
Skip = Delivery.SkipReason

# Kinds that belong to the time a Space was scheduled for: skipped once it starts, is cancelled
# or moves to another time.
TIMED_KINDS = (Kind.HOST_SOON, Kind.HOST_START, Kind.REMINDER, Kind.CHANGED)
HOLDER_KINDS = (Kind.REMINDER, Kind.LIVE, Kind.CHANGED, Kind.CANCELLED)
RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 30 * 60


# --- Cancel hooks (ticketing refunds) -----------------------------------------------------------

CancelHook = Callable[[Space, str], None]
_cancel_hooks: list[CancelHook] = []


def register_cancel_hook(hook: CancelHook) -> CancelHook:
    """Run `hook(space, reason)` whenever a scheduled Space is cancelled by its host
    (`reason="host"`) or expires (`"expired"`). Ticketing registers its refunds here, from its
    AppConfig.ready().

    The hook runs in exactly one place, `_withdraw`, inside the cancelling transaction with the
    Space row locked, once per Space (the state check under that lock makes a second cancel or
    expiry a no-op). It may write rows (refund records) in that transaction; anything that
    talks to the outside world (a payment provider) must leave through `transaction.on_commit`
    or a Celery task. An exception rolls the cancel back.
    """
    if hook not in _cancel_hooks:
        _cancel_hooks.append(hook)
    return hook


def unregister_cancel_hook(hook: CancelHook) -> None:
    if hook in _cancel_hooks:
        _cancel_hooks.remove(hook)


# --- Checks -------------------------------------------------------------------------------------


def clean_scheduled_for(value: datetime, *, now: datetime) -> datetime:
    """`value` must be aware and between SPACES_SCHEDULE_MIN_LEAD_MINUTES and
    SPACES_SCHEDULE_MAX_DAYS from `now`."""
    if timezone.is_naive(value):
        raise ValidationFailed(
            "The time needs a time zone.",
            fields={"scheduled_for": ["Give a time zone, e.g. 2030-01-01T18:00:00Z."]},
        )
    lead = timedelta(minutes=settings.SPACES_SCHEDULE_MIN_LEAD_MINUTES)
    if value < now + lead:
        raise ValidationFailed(
            "That time is too soon.",
            fields={
                "scheduled_for": [
                    f"Schedule at least {settings.SPACES_SCHEDULE_MIN_LEAD_MINUTES} minutes ahead."
                ]
            },
        )
    if value > now + timedelta(days=settings.SPACES_SCHEDULE_MAX_DAYS):
        raise ValidationFailed(
            "That time is too far ahead.",
            fields={
                "scheduled_for": [
                    f"Schedule at most {settings.SPACES_SCHEDULE_MAX_DAYS} days ahead."
                ]
            },
        )
    return value


def _clean_policy(speaking_policy: str) -> str:
    if speaking_policy not in Space.SpeakingPolicy.values:
        raise ValidationFailed(
            "Unknown speaking setting.", fields={"speaking_policy": ["Not a valid choice."]}
        )
    return speaking_policy


def ensure_host(space: Space, user: User) -> None:
    """Host-only actions on a scheduled Space answer 403 to anyone else, whatever its state."""
    if space.host_id != user.pk:
        raise Forbidden("Only the host can do this.", code="not_host")


def ensure_scheduled(space: Space) -> None:
    if space.state == Space.State.SCHEDULED:
        return
    if space.state == Space.State.CANCELLED:
        raise Conflict("This Space was cancelled.", code="space_cancelled")
    if space.state == Space.State.ENDED:
        raise Conflict("This Space has ended.", code="space_ended")
    raise Conflict("This Space has already started.", code="space_started")


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


def _blocked_by_host(space: Space, user: User) -> bool:
    return Block.objects.filter(blocker_id=space.host_id, blocked_id=user.pk).exists()


# --- Arming deliveries --------------------------------------------------------------------------


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
    block = qn(Block._meta.db_table)
    sql = f"""
        INSERT INTO {delivery}
            (space_id, recipient_id, kind, version, due_at, next_attempt_at, state,
             skip_reason, attempts, last_error, created_at)
        SELECT r.space_id, r.user_id, %s, %s, %s, %s, %s, '', 0, '', %s
        FROM {reminder} r
        JOIN {user} u ON u.id = r.user_id
        WHERE r.space_id = %s
          AND u.is_active
          AND NOT EXISTS (
              SELECT 1 FROM {block} b WHERE b.blocker_id = %s AND b.blocked_id = r.user_id
          )
    """
    params: list[Any] = [
        kind,
        version,
        adapt(due_at),
        adapt(due_at),
        State.PENDING,
        adapt(now),
        space.pk,
        space.host_id,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _skip_pending(space: Space, *, reason: str, kinds: Sequence[str] | None = None) -> int:
    qs = Delivery.objects.filter(space=space, state=State.PENDING)
    if kinds is not None:
        qs = qs.filter(kind__in=kinds)
    return qs.update(state=State.SKIPPED, skip_reason=reason)


def _kick_sweep() -> None:
    """Queue a sweep now (after commit) so "told at once" does not wait for the next beat.
    Best effort: if the broker is away, the periodic sweep sends the same rows later."""
    from scheduling import tasks

    try:
        tasks.scheduling_sweep.apply_async()
    except Exception:
        logger.warning("scheduling: could not queue a sweep now; the periodic one will run")


# --- Scheduling, editing, cancelling, starting --------------------------------------------------


def scheduled_space_create(
    *,
    host: User,
    title: str,
    scheduled_for: datetime,
    topics: Sequence[str] = (),
    speaking_policy: str = Space.SpeakingPolicy.EVERYONE,
) -> Space:
    """Schedule a Space. Needs `can_host` (checked here, not again at the start: the host
    committed to this Space when scheduling it); at most SPACES_MAX_UPCOMING_PER_HOST
    scheduled Spaces per host, counted under the lock on the host's User row."""
    now = timezone.now()
    title = spaces_services._clean_title(title)
    topics = spaces_services._clean_topics(topics)
    speaking_policy = _clean_policy(speaking_policy)
    scheduled_for = clean_scheduled_for(scheduled_for, now=now)
    if not host.can_host:
        raise Forbidden(
            f"You need at least {settings.SPACES_HOST_MIN_FOLLOWERS} followers to host a Space.",
            code="not_enough_followers",
        )
    with transaction.atomic():
        lock_rows(User.objects.filter(pk=host.pk)).first()
        upcoming = Space.objects.filter(host=host, state=Space.State.SCHEDULED).count()
        if upcoming >= settings.SPACES_MAX_UPCOMING_PER_HOST:
            raise Conflict(
                f"You already have {upcoming} upcoming Spaces, the most you can schedule.",
                code="too_many_upcoming",
            )
        space = Space.objects.create(
            host=host,
            title=title,
            topics=topics,
            speaking_policy=speaking_policy,
            state=Space.State.SCHEDULED,
            scheduled_for=scheduled_for,
            max_speakers=settings.SPACES_MAX_SPEAKERS,
            max_cohosts=settings.SPACES_MAX_COHOSTS,
        )
        SpaceSchedule.objects.create(space=space)
        _arm_host(space, version=1, now=now)
    return space


def scheduled_space_update(
    *,
    actor: User,
    space_id: int,
    title: str | None = None,
    topics: Sequence[str] | None = None,
    speaking_policy: str | None = None,
    scheduled_for: datetime | None = None,
) -> Space:
    """Edit a scheduled Space (host only). A new time must be in the same window as a new
    Space; it re-arms every timed notification for the new time and tells reminder holders
    at once. A new title reaches notifications not yet sent (they read the Space when sent)."""
    now = timezone.now()
    if title is not None:
        title = spaces_services._clean_title(title)
    if topics is not None:
        topics = spaces_services._clean_topics(topics)
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
    for hook in list(_cancel_hooks):
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


# --- Reminders ----------------------------------------------------------------------------------


def reminder_set(*, user: User, space_id: int) -> tuple[Reminder, bool]:
    """Set a reminder (idempotent: a second call returns the same one, created=False).

    Refused on a Space that started, ended or was cancelled (409), by its own host, and for
    someone the host blocked (403). Set less than 15 minutes before the time, it brings no
    "in 15 minutes" notification (that moment has passed), only "live now".
    """
    now = timezone.now()
    with transaction.atomic():
        access_space(user=None, space_id=space_id)  # 404 before any lock
        _share_lock_space(space_id)
        space, _ = access_space(user=None, space_id=space_id)
        ensure_scheduled(space)
        if space.host_id == user.pk:
            raise Forbidden(
                "You host this Space: you are reminded to start it anyway.", code="own_space"
            )
        if _blocked_by_host(space, user):
            raise Forbidden("The host has blocked you.", code="blocked")
        existing = Reminder.objects.filter(user=user, space=space).first()
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                reminder = Reminder.objects.create(user=user, space=space)
        except IntegrityError:
            return Reminder.objects.get(user=user, space=space), False
        assert space.scheduled_for is not None
        due = space.scheduled_for - HOLDER_LEAD
        if due > now:
            _arm(space, user.pk, Kind.REMINDER, _schedule_of(space).version, due)
    return reminder, True


def reminder_unset(*, user: User, space_id: int) -> bool:
    """Remove a reminder (idempotent; allowed in any state). Returns whether one existed.
    Its notifications not yet sent are skipped."""
    with transaction.atomic():
        access_space(user=None, space_id=space_id)
        _share_lock_space(space_id)
        deleted, _ = Reminder.objects.filter(user=user, space_id=space_id).delete()
        Delivery.objects.filter(
            space_id=space_id, recipient=user, state=State.PENDING, kind__in=HOLDER_KINDS
        ).update(state=State.SKIPPED, skip_reason=Skip.REMINDER_REMOVED)
    return deleted > 0


# --- Sending ------------------------------------------------------------------------------------


@dataclass
class SendResult:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    batches: int = 0

    def add(self, other: SendResult) -> None:
        self.sent += other.sent
        self.skipped += other.skipped
        self.failed += other.failed
        self.batches += other.batches


class BatchFailed(Exception):
    def __init__(self, ids: list[int], error: BaseException) -> None:
        super().__init__(str(error))
        self.ids = ids
        self.error = error


class ClaimLost(Exception):
    """A claimed row was no longer pending when marked sent: roll the batch back."""


def claim_rows(qs: QuerySet[Delivery]) -> QuerySet[Delivery]:
    """Step 1 of a batch: lock the rows; rows another transaction holds are skipped.

    Module level so the control test can switch it off and show the double send it prevents.
    """
    return qs.select_for_update(skip_locked=True, of=("self",))


def mark_sent(ids: list[int], now: datetime) -> int:
    """Step 4: the conditional update; returns how many rows it changed."""
    return Delivery.objects.filter(pk__in=ids, state=State.PENDING).update(
        state=State.SENT, sent_at=now
    )


def _joined_schedule(space: Space) -> SpaceSchedule | None:
    """The schedule the claim query joined (None for a Space that never had one)."""
    schedule: SpaceSchedule | None = getattr(space, "schedule", None)
    return schedule


def _stale_reason(row: Delivery, *, now: datetime) -> str:
    """Why `row` must not be sent now ("" if it must)."""
    space = row.space
    schedule = _joined_schedule(space)
    version = schedule.version if schedule is not None else 1
    if row.kind == Kind.CANCELLED:
        return ""
    if row.kind == Kind.LIVE:
        return "" if space.state == Space.State.LIVE else Skip.NOT_LIVE
    if space.state == Space.State.CANCELLED:
        return Skip.CANCELLED
    if space.state != Space.State.SCHEDULED:
        return Skip.STARTED
    if row.version != version:
        return Skip.RESCHEDULED
    if row.kind in (Kind.HOST_SOON, Kind.REMINDER) and (
        space.scheduled_for is None or now >= space.scheduled_for
    ):
        return Skip.TOO_LATE
    return ""


def _when(value: datetime | None) -> str:
    return value.strftime("%a %d %b %Y, %H:%M UTC") if value else "a new time"


def message_for(space: Space, kind: str, *, to_host: bool) -> tuple[str, dict[str, Any]]:
    """The notification kind and payload (keys accounts/views.py renders) for a delivery."""
    host = space.host
    title = f"\u201c{space.title}\u201d"
    payload: dict[str, Any] = {
        "host": host.username,
        "host_name": host.name,
        "title": space.title,
        "space_id": space.pk,
        "scheduled_for": space.scheduled_for.isoformat() if space.scheduled_for else None,
    }
    if kind != Kind.LIVE:
        # "Live now" links to the room itself, which the inbox finds from `space_id`.
        payload["url"] = reverse("scheduled_detail", args=[space.pk])
    if kind == Kind.HOST_SOON:
        payload["message"] = f"Your Space {title} starts in 30 minutes."
        return Notification.Kind.HOST_REMINDER, payload
    if kind == Kind.HOST_START:
        payload["message"] = f"It\u2019s time to start your Space {title}."
        return Notification.Kind.HOST_REMINDER, payload
    if kind == Kind.REMINDER:
        payload["message"] = f"{title} with {host.name} starts in 15 minutes."
        return Notification.Kind.SPACE_REMINDER, payload
    if kind == Kind.LIVE:
        payload["message"] = f"{host.name} is live now: {title}."
        return Notification.Kind.SPACE_LIVE, payload
    if kind == Kind.CHANGED:
        payload["message"] = f"{title} with {host.name} moved to {_when(space.scheduled_for)}."
        return Notification.Kind.SPACE_CHANGED, payload
    schedule = _joined_schedule(space)
    reason = (schedule.cancel_reason if schedule else "") or SpaceSchedule.CancelReason.HOST
    payload["reason"] = reason
    if to_host:
        payload["message"] = (
            f"Your Space {title} was not started within "
            f"{settings.SPACES_SCHEDULED_EXPIRE_HOURS} hours of its time and expired."
        )
    elif reason == SpaceSchedule.CancelReason.EXPIRED:
        payload["message"] = f"{title} with {host.name} did not start and was cancelled."
    else:
        payload["message"] = f"{title} with {host.name} was cancelled."
    return Notification.Kind.SPACE_CANCELLED, payload


def _email(recipient: User, payload: dict[str, Any]) -> EmailMessage:
    body = payload["message"]
    if payload.get("url"):
        body += f"\n\n{payload['url']}"
    body += "\n\nYou get these e-mails because e-mail notifications are on in your settings."
    return EmailMessage(subject=payload["message"], body=body, to=[recipient.email])


def _send_emails(items: list[tuple[int, EmailMessage]]) -> None:
    """After commit, at most once (module docstring). One SMTP connection per batch."""
    if not items:
        return
    ids = [pk for pk, _ in items]
    try:
        with get_connection() as mail:
            mail.send_messages([message for _, message in items])
    except Exception as exc:
        logger.exception("scheduling: e-mail for %d deliveries failed", len(ids))
        Delivery.objects.filter(pk__in=ids).update(last_error=f"e-mail: {exc}"[:2000])
        return
    Delivery.objects.filter(pk__in=ids).update(emailed_at=timezone.now())


def _deliver(rows: list[Delivery], *, now: datetime) -> SendResult:
    """Steps 2 to 4 for rows the caller claimed, inside its transaction."""
    result = SendResult(batches=1)
    groups: dict[tuple[int, str, bool], list[Delivery]] = defaultdict(list)
    skips: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        reason = _stale_reason(row, now=now)
        if reason:
            skips[reason].append(row.pk)
        else:
            to_host = row.recipient_id == row.space.host_id
            groups[(row.space_id, row.kind, to_host)].append(row)
    emails: list[tuple[int, EmailMessage]] = []
    sent_ids: list[int] = []
    for (_, kind, to_host), group in groups.items():
        notification_kind, payload = message_for(group[0].space, kind, to_host=to_host)
        accounts_services.notifications_create_bulk(
            recipient_ids=[row.recipient_id for row in group],
            kind=notification_kind,
            payload=payload,
        )
        for row in group:
            sent_ids.append(row.pk)
            recipient = row.recipient
            if recipient.email_notifications and recipient.email and recipient.is_active:
                emails.append((row.pk, _email(recipient, payload)))
    if sent_ids:
        marked = mark_sent(sent_ids, now)
        if marked != len(sent_ids):
            raise ClaimLost(f"{len(sent_ids) - marked} of {len(sent_ids)} rows were taken")
        result.sent = marked
    for reason, ids in skips.items():
        result.skipped += Delivery.objects.filter(pk__in=ids, state=State.PENDING).update(
            state=State.SKIPPED, skip_reason=reason
        )
    transaction.on_commit(lambda: _send_emails(emails))
    return result


def _send_batch(
    *, now: datetime, limit: int, only_ids: Sequence[int] | None = None
) -> SendResult | None:
    """One batch, one transaction. None when nothing was due; BatchFailed (after rollback)
    with the claimed ids when something raised."""
    claimed: list[int] = []
    try:
        with transaction.atomic():
            due = Delivery.objects.filter(state=State.PENDING, next_attempt_at__lte=now)
            if only_ids is not None:
                due = due.filter(pk__in=list(only_ids))
            rows = list(
                claim_rows(
                    due.select_related("space__host", "space__schedule", "recipient").order_by(
                        "next_attempt_at", "id"
                    )
                )[:limit]
            )
            if not rows:
                return None
            claimed = [row.pk for row in rows]
            logger.info("scheduling: batch claimed %d deliveries", len(rows))
            result = _deliver(rows, now=now)
            if settings.SPACES_SCHEDULING_TEST_BATCH_DELAY:
                time.sleep(settings.SPACES_SCHEDULING_TEST_BATCH_DELAY)
        logger.info("scheduling: batch committed, %d sent, %d skipped", result.sent, result.skipped)
        return result
    except Exception as exc:
        if not claimed:
            raise
        raise BatchFailed(claimed, exc) from exc


def _record_failure(ids: list[int], error: BaseException, *, now: datetime) -> int:
    """attempts + 1, the error, a later next attempt; `failed` after the last attempt."""
    max_attempts = settings.SPACES_SCHEDULING_MAX_ATTEMPTS
    message = f"{type(error).__name__}: {error}"[:2000]
    with transaction.atomic():
        rows = list(
            Delivery.objects.filter(pk__in=ids, state=State.PENDING).select_for_update(
                skip_locked=True, of=("self",)
            )
        )
        for row in rows:
            row.attempts += 1
            row.last_error = message
            if row.attempts >= max_attempts:
                row.state = State.FAILED
            else:
                delay = min(RETRY_BASE_SECONDS * 2 ** (row.attempts - 1), RETRY_MAX_SECONDS)
                row.next_attempt_at = now + timedelta(seconds=delay)
        Delivery.objects.bulk_update(
            rows, ["attempts", "last_error", "state", "next_attempt_at"], batch_size=500
        )
    return sum(1 for row in rows if row.state == State.FAILED)


def deliveries_send_due(
    *,
    batch_size: int | None = None,
    max_batches: int | None = None,
) -> SendResult:
    """Send what is due, batch after batch, until nothing is due or `max_batches` were done
    (the next sweep goes on). Safe to run any number of times at once (module docstring)."""
    batch_size = batch_size or settings.SPACES_SCHEDULING_BATCH_SIZE
    max_batches = max_batches or settings.SPACES_SCHEDULING_MAX_BATCHES
    total = SendResult()
    for _ in range(max_batches):
        now = timezone.now()
        try:
            result = _send_batch(now=now, limit=batch_size)
        except BatchFailed as failure:
            logger.warning(
                "scheduling: a batch of %d failed (%s); trying its rows one by one",
                len(failure.ids),
                failure.error,
            )
            total.add(_isolate(failure, now=now))
            continue
        if result is None:
            break
        total.add(result)
    return total


def _isolate(failure: BatchFailed, *, now: datetime) -> SendResult:
    """After a failed batch: each row alone, so only the rows that fail are charged."""
    total = SendResult()
    if len(failure.ids) == 1:
        total.failed += _record_failure(failure.ids, failure.error, now=now)
        return total
    for pk in failure.ids:
        try:
            result = _send_batch(now=now, limit=1, only_ids=[pk])
        except BatchFailed as single:
            logger.warning("scheduling: delivery %s failed: %s", pk, single.error)
            total.failed += _record_failure(single.ids, single.error, now=now)
            continue
        if result is not None:
            total.add(result)
    return total


def deliveries_retry(*, ids: Iterable[int]) -> int:
    """Staff: put failed deliveries back in the queue with fresh attempts. A failed row whose
    notification went out another way (a sibling pending or sent) stays failed."""
    now = timezone.now()
    sibling = Delivery.objects.filter(
        space=OuterRef("space"),
        recipient=OuterRef("recipient"),
        kind=OuterRef("kind"),
        version=OuterRef("version"),
        state__in=[State.PENDING, State.SENT],
    )
    with transaction.atomic():
        return (
            Delivery.objects.filter(pk__in=list(ids), state=State.FAILED)
            .exclude(Exists(sibling))
            .update(state=State.PENDING, attempts=0, next_attempt_at=now)
        )


def scheduling_sweep() -> dict[str, int]:
    """The periodic task's work: expire overdue Spaces, then send what is due."""
    expired = scheduled_spaces_expire()
    result = deliveries_send_due()
    return {
        "expired": expired,
        "sent": result.sent,
        "skipped": result.skipped,
        "failed": result.failed,
        "batches": result.batches,
    }
