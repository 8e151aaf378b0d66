"""Sending what is due: the sweep, its batches, and what each notification says.

Delivery, and why each notification reaches the inbox exactly once
===================================================================

Every notification owed is a `Delivery` row: (Space, recipient, kind, schedule version), with a
due time. Rows are written by the use cases (schedule.py, reminders.py, through common.py),
never one query per holder: a reminder adds its own row; going live, a change of time and a
cancel write one row per holder with a single `INSERT ... SELECT` from the reminders
(`_arm_holders`).

No Celery task is ever scheduled for a reminder's time (no ETA or countdown): with a Redis
broker, a task whose ETA lies beyond the visibility timeout is delivered twice, and a task lost
with a worker returns only after that timeout. Instead one periodic sweep (Celery beat in the
distributed shape, the in-process ticker in the embedded one; a use case that makes something
due now also queues one at once) runs `deliveries_send_due`, which sends due rows in batches.
Each batch is ONE transaction that

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from accounts import services as accounts_services
from accounts.models import Notification, User
from scheduling.models import Delivery, SpaceSchedule
from scheduling.services.common import Kind, Skip, State
from scheduling.services.schedule import scheduled_spaces_expire
from spaces.models import Space
from spaces_project.timezones import format_when, zone_named

logger = logging.getLogger("scheduling.services")

RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 30 * 60


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


def _when(value: datetime | None, zone: tzinfo) -> str:
    return format_when(value, zone) if value else gettext("a new time")


def message_for(
    space: Space, kind: str, *, to_host: bool, zone: tzinfo = UTC
) -> tuple[str, dict[str, Any]]:
    """The notification kind and payload (keys accounts/views.py renders) for a delivery. A
    time in the sentence is written in `zone`, the recipients' (`_deliver` groups them by it);
    `scheduled_for` stays ISO 8601 in UTC for the API. The sentence is in the active language
    (`_deliver` activates the recipients')."""
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
        payload["message"] = gettext("Your Space %(title)s starts in 30 minutes.") % {
            "title": title
        }
        return Notification.Kind.HOST_REMINDER, payload
    if kind == Kind.HOST_START:
        # The apostrophe is typed: xgettext reads no \u escapes.
        payload["message"] = gettext("It’s time to start your Space %(title)s.") % {  # noqa: RUF001
            "title": title
        }
        return Notification.Kind.HOST_REMINDER, payload
    if kind == Kind.REMINDER:
        payload["message"] = gettext("%(title)s with %(host)s starts in 15 minutes.") % {
            "title": title,
            "host": host.name,
        }
        return Notification.Kind.SPACE_REMINDER, payload
    if kind == Kind.LIVE:
        payload["message"] = gettext("%(host)s is live now: %(title)s.") % {
            "host": host.name,
            "title": title,
        }
        return Notification.Kind.SPACE_LIVE, payload
    if kind == Kind.CHANGED:
        payload["message"] = gettext("%(title)s with %(host)s moved to %(when)s.") % {
            "title": title,
            "host": host.name,
            "when": _when(space.scheduled_for, zone),
        }
        return Notification.Kind.SPACE_CHANGED, payload
    schedule = _joined_schedule(space)
    reason = (schedule.cancel_reason if schedule else "") or SpaceSchedule.CancelReason.HOST
    payload["reason"] = reason
    if to_host:
        payload["message"] = gettext(
            "Your Space %(title)s was not started within %(hours)s hours of its time and expired."
        ) % {"title": title, "hours": settings.SPACES_SCHEDULED_EXPIRE_HOURS}
    elif reason == SpaceSchedule.CancelReason.EXPIRED:
        payload["message"] = gettext("%(title)s with %(host)s did not start and was cancelled.") % {
            "title": title,
            "host": host.name,
        }
    else:
        payload["message"] = gettext("%(title)s with %(host)s was cancelled.") % {
            "title": title,
            "host": host.name,
        }
    return Notification.Kind.SPACE_CANCELLED, payload


# Kinds about the time the Space is scheduled for: their e-mail says it, in the recipient's zone.
_EMAIL_WHEN_KINDS = frozenset({Kind.HOST_SOON, Kind.HOST_START, Kind.REMINDER, Kind.CHANGED})


def _email(recipient: User, payload: dict[str, Any], *, kind: str, space: Space) -> EmailMessage:
    """Written in the active language: `_deliver` activates the recipient's, as it builds the
    payload's sentence in it."""
    body = payload["message"]
    if kind in _EMAIL_WHEN_KINDS and space.scheduled_for is not None:
        zone = zone_named(recipient.time_zone)
        when = format_when(space.scheduled_for, zone, long=True)
        body += "\n\n" + gettext("When: %(when)s") % {"when": when}
    if payload.get("url"):
        body += f"\n\n{payload['url']}"
    body += "\n\n" + gettext(
        "You get these e-mails because e-mail notifications are on in your settings."
    )
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
    # A sentence is written once per recipients' language (a blank one: the site's default,
    # as no browser is there to ask), and one that names a time once per zone too.
    groups: dict[tuple[int, str, bool, str, str], list[Delivery]] = defaultdict(list)
    skips: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        reason = _stale_reason(row, now=now)
        if reason:
            skips[reason].append(row.pk)
        else:
            to_host = row.recipient_id == row.space.host_id
            zone = row.recipient.time_zone if row.kind == Kind.CHANGED else ""
            language = row.recipient.language or settings.LANGUAGE_CODE
            groups[(row.space_id, row.kind, to_host, zone, language)].append(row)
    emails: list[tuple[int, EmailMessage]] = []
    sent_ids: list[int] = []
    for (_, kind, to_host, zone_key, language), group in groups.items():
        with translation.override(language):
            notification_kind, payload = message_for(
                group[0].space, kind, to_host=to_host, zone=zone_named(zone_key)
            )
            accounts_services.notifications_create_bulk(
                recipient_ids=[row.recipient_id for row in group],
                kind=notification_kind,
                payload=payload,
            )
            for row in group:
                sent_ids.append(row.pk)
                recipient = row.recipient
                if recipient.email_notifications and recipient.email and recipient.is_active:
                    email = _email(recipient, payload, kind=kind, space=row.space)
                    emails.append((row.pk, email))
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
