"""Go-live alerts: when a host goes live, each follower who wants it is told, however many.

What a follower gets: an inbox row (`Notification` kind `followed_live`), a Web Push
notification (webpush.services.push_send_to_users), an e-mail if they chose it, and, on an open
home page, the feed socket's `alert.live` (ONE message to the `following.<host>` group, which
every open feed socket of a follower has joined; the socket shows it only if the viewer's bell
and switch say so: spaces/realtime/feed.py). Who wants it: alerts/selectors.py
`golive_audience` (the bell on the follow, the global switch, blocks, reminder holders).

Once per go-live, not per restart. `golive_alert_start` runs after the go-live commits (the
`space_live` hook of spaces/hooks.py). Under the host's User row lock it writes the Space's one
`GoLiveAlert` (unique per Space, so a repeated hook is a no-op); a host who had another Space
live within SPACES_GOLIVE_REPEAT_SECONDS (a restart) or who is past
SPACES_GOLIVE_ALERTS_PER_HOUR (spaces_project/counters.py) gets a row that says so and alerts
nobody.

Fan-out that scales with followers, not tasks. The followers are walked in follower-id order
from the alert's `cursor`, SPACES_GOLIVE_CHUNK at a time. Each chunk is ONE transaction that
1. locks the alert row (`FOR NO KEY UPDATE SKIP LOCKED`: a second worker on the same alert, a
   redelivered task or the sweep's resume, finds it locked and leaves; the holder goes on).
   Nothing else ever locks that row (the sends count on their chunk's row), so "locked" means
   "another chunk writer has it";
2. reads the chunk's upper follower id (ids only, at most a chunk of them: memory is flat);
3. writes every wanted inbox row of (cursor, upper] in one `INSERT ... SELECT` from the follow
   table: no row crosses into Python;
4. records the chunk (`GoLiveChunk`, unique per (alert, start)) and moves the cursor.
The rows, the chunk and the cursor commit together or not at all: a worker killed mid-chunk
leaves an open transaction the database aborts with its connection, and whoever resumes starts
from the committed cursor. Nobody twice (a committed range is behind the cursor), nobody missed
(the cursor moves only with the rows). A task writes chunks for up to SPACES_GOLIVE_STEP_SECONDS,
then queues a task to go on; the sweep (`golive_sweep`, Celery beat or the embedded ticker)
queues one for a running alert not moved for SPACES_GOLIVE_STALL_SECONDS, which covers a task
lost with its worker. So a 100,000-follower host costs 10 chunks in two or three tasks.

Push and e-mail leave after the chunk commits, by a task per chunk (`golive_chunk_send`), since
neither can be rolled back. Each is claimed by a conditional update of the chunk's own state
(`pending` → `sending`) before anything is sent, and marked `sent` after: a redelivered task or
a second copy finds nothing to claim. They are AT MOST ONCE, as scheduling's e-mail: a worker
killed while sending leaves the chunk `sending`, and the sweep marks it `lost` after
SPACES_GOLIVE_SEND_LEASE_SECONDS instead of sending again (a push or e-mail cannot be taken back,
and twice is worse than once in the inbox, which is exactly once). A chunk whose send task never
ran (lost before it started) is still `pending` and is queued again by the sweep.

The reminder holders of a scheduled Space get scheduling's "live now" and are left out here
(spaces/hooks.py `live_notified_elsewhere`): one inbox row per person per go-live.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Follow, Notification, User
from alerts import selectors
from alerts.models import GoLiveAlert, GoLiveChunk
from spaces import events
from spaces.access import lock_rows
from spaces.models import Space
from spaces.realtime.hints import following_group
from spaces_project import bus
from spaces_project.celery import app as celery_app
from spaces_project.counters import rate_limit
from spaces_project.errors import Conflict, RateLimited, ValidationFailed
from webpush.services import push_send_to_users

logger = logging.getLogger("alerts.services")

Status = GoLiveAlert.Status
Send = GoLiveChunk.Send

# The feed socket's message (docs/realtime.md, the home feed socket).
ALERT_LIVE = "alert.live"
# Queued by name: alerts/tasks.py runs these services, so importing it here would close a
# cycle. AlertsConfig.ready() imports it, so it is always registered.
FANOUT_TASK = "alerts.tasks.golive_fanout"
SEND_TASK = "alerts.tasks.golive_chunk_send"
# A push about a live Space is stale once the Space has ended: push services may drop it after.
PUSH_TTL_SECONDS = 3600


# --- Starting ------------------------------------------------------------------------------------


def _payload(space: Space, host: User) -> dict[str, Any]:
    """What every inbox row says (keys accounts/views.py renders)."""
    return {
        "host": host.username,
        "host_name": host.name,
        "title": space.title,
        "space_id": space.pk,
    }


def _restarted(space: Space, *, now: datetime) -> bool:
    """The host had another Space live within SPACES_GOLIVE_REPEAT_SECONDS: a restart."""
    since = now - timedelta(seconds=settings.SPACES_GOLIVE_REPEAT_SECONDS)
    return (
        Space.objects.filter(host_id=space.host_id)
        .exclude(pk=space.pk)
        .filter(Q(state=Space.State.LIVE) | Q(ended_at__gte=since) | Q(started_at__gte=since))
        .exists()
    )


def golive_alert_start(*, space_id: int) -> GoLiveAlert | None:
    """The go-live of `space_id` committed: write its alert and start the fan-out (module
    docstring). Idempotent: the Space's alert, if it has one, is returned as it is. None when
    the Space is not live (it ended before this ran)."""
    now = timezone.now()
    with transaction.atomic():
        space = Space.objects.filter(pk=space_id).select_related("host").first()
        if space is None or space.state != Space.State.LIVE:
            return None
        host = space.host
        # Lock order of spaces/access.py: the host's User row first. Two go-lives of one host
        # (a restart racing the first alert) decide "restart or not" one after the other.
        lock_rows(User.objects.filter(pk=host.pk)).first()
        existing = GoLiveAlert.objects.filter(space_id=space_id).first()
        if existing is not None:
            return existing
        status = Status.RUNNING
        if _restarted(space, now=now):
            status = Status.REPEAT
        else:
            try:
                rate_limit(
                    f"golive-alerts:{host.pk}",
                    limit=settings.SPACES_GOLIVE_ALERTS_PER_HOUR,
                    period=3600,
                    message=_("Too many go-live alerts for this host."),
                    code="golive_rate_limited",
                )
            except RateLimited:
                status = Status.RATE_LIMITED
        alert = GoLiveAlert.objects.create(
            space=space,
            host=host,
            status=status,
            payload=_payload(space, host),
            finished_at=None if status == Status.RUNNING else now,
        )
        if status == Status.RUNNING:
            # One message for every open feed socket of every follower (module docstring).
            bus.publish(
                following_group(host.pk),
                {
                    "type": ALERT_LIVE,
                    "space": {"id": space.pk, "title": space.title},
                    "host": events.user_brief(host),
                },
            )
            transaction.on_commit(lambda: queue_fanout(alert.pk))
        else:
            logger.info("alerts: go-live of Space %s alerts nobody (%s)", space.pk, status)
    return alert


def space_live(*, space_id: int) -> None:
    """The `space_live` hook (registered in AlertsConfig.ready)."""
    golive_alert_start(space_id=space_id)


def _queue(task: str, *args: int) -> None:
    """Best effort: if the broker is away, the sweep queues the same work later."""
    try:
        celery_app.signature(task, args=args).apply_async()
    except Exception:
        logger.exception("alerts: could not queue %s%s; the sweep will", task, args)


def queue_fanout(alert_id: int) -> None:
    _queue(FANOUT_TASK, alert_id)


def queue_send(chunk_id: int) -> None:
    _queue(SEND_TASK, chunk_id)


# --- The fan-out ---------------------------------------------------------------------------------


def _write_inbox(alert: GoLiveAlert, *, after_id: int, last_id: int, now: datetime) -> int:
    """Step 3: every wanted inbox row of the range, in one INSERT ... SELECT."""
    audience = selectors.golive_audience(
        host_id=alert.host_id, space_id=alert.space_id, after_id=after_id, last_id=last_id
    )
    audience_sql, audience_params = audience.query.sql_with_params()
    qn = connection.ops.quote_name
    payload = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    sql = f"""
        INSERT INTO {qn(Notification._meta.db_table)}
            (recipient_id, kind, payload, is_read, created_at)
        SELECT a.follower_id, %s, {payload}, %s, %s FROM ({audience_sql}) a
    """
    params: list[Any] = [
        Notification.Kind.FOLLOWED_LIVE,
        json.dumps(alert.payload),
        False,
        connection.ops.adapt_datetimefield_value(now),
        *audience_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


@dataclass(frozen=True)
class ChunkWritten:
    chunk: GoLiveChunk
    more: bool  # the alert is still running


def golive_chunk_write(*, alert_id: int) -> ChunkWritten | None:
    """One chunk, one transaction (module docstring, steps 1-4). None when there was nothing to
    do: the alert is finished, or another worker holds it (and goes on itself)."""
    size = settings.SPACES_GOLIVE_CHUNK
    with transaction.atomic():
        alert = (
            GoLiveAlert.objects.select_for_update(skip_locked=True, no_key=True, of=("self",))
            .filter(pk=alert_id, status=Status.RUNNING)
            .first()
        )
        if alert is None:
            return None
        now = timezone.now()
        live = Space.objects.filter(pk=alert.space_id, state=Space.State.LIVE).exists()
        ids = (
            list(
                Follow.objects.filter(followee_id=alert.host_id, follower_id__gt=alert.cursor)
                .order_by("follower_id")
                .values_list("follower_id", flat=True)[:size]
            )
            if live
            else []
        )
        if not ids:
            # Everyone is done, or the Space ended first: "is live now" would be untrue.
            alert.status = Status.DONE if live else Status.ENDED
            alert.finished_at = alert.updated_at = now
            alert.save(update_fields=["status", "finished_at", "updated_at"])
            return None
        last_id = ids[-1]
        started = time.perf_counter()
        written = _write_inbox(alert, after_id=alert.cursor, last_id=last_id, now=now)
        chunk = GoLiveChunk.objects.create(
            alert=alert, after_id=alert.cursor, last_id=last_id, inbox_count=written
        )
        alert.cursor = last_id
        alert.chunks = F("chunks") + 1
        alert.inbox_count = F("inbox_count") + written
        alert.updated_at = timezone.now()
        more = len(ids) == size
        if not more:
            alert.status = Status.DONE
            alert.finished_at = alert.updated_at
        alert.save(
            update_fields=["cursor", "chunks", "inbox_count", "updated_at", "status", "finished_at"]
        )
        GoLiveChunk.objects.filter(pk=chunk.pk).update(
            write_ms=(time.perf_counter() - started) * 1000
        )
        logger.info("alerts: chunk (%s, %s] of alert %s claimed", chunk.after_id, last_id, alert_id)
        if settings.SPACES_GOLIVE_TEST_CHUNK_DELAY:
            time.sleep(settings.SPACES_GOLIVE_TEST_CHUNK_DELAY)
        chunk_id = chunk.pk
        transaction.on_commit(lambda: queue_send(chunk_id))
    logger.info("alerts: chunk (%s, %s] of alert %s committed", chunk.after_id, last_id, alert_id)
    return ChunkWritten(chunk=chunk, more=more)


def golive_fanout(*, alert_id: int, budget_seconds: float | None = None) -> int:
    """Write chunks of `alert_id` for up to `budget_seconds` (SPACES_GOLIVE_STEP_SECONDS), then
    queue a task to go on. Returns how many chunks this run wrote. Safe to run any number of
    times at once (module docstring)."""
    budget = settings.SPACES_GOLIVE_STEP_SECONDS if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    written = 0
    while True:
        step = golive_chunk_write(alert_id=alert_id)
        if step is None:
            return written
        written += 1
        if not step.more:
            return written
        if time.monotonic() >= deadline:
            queue_fanout(alert_id)
            return written


# --- Push and e-mail, per chunk ------------------------------------------------------------------


def _claim(chunk_id: int, field: str) -> bool:
    """Pending → sending for the chunk's push or e-mail: True for the one caller that wins."""
    claimed = GoLiveChunk.objects.filter(pk=chunk_id, **{field: Send.PENDING}).update(
        **{field: Send.SENDING, "send_claimed_at": timezone.now()}
    )
    return claimed == 1


def _batches(ids: Iterator[int], size: int) -> Iterator[list[int]]:
    batch: list[int] = []
    for value in ids:
        batch.append(value)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _push_payload(alert: GoLiveAlert) -> dict[str, Any]:
    payload = alert.payload
    name = payload.get("host_name") or payload.get("host")
    return {
        "kind": Notification.Kind.FOLLOWED_LIVE.value,
        "title": translation.gettext("%(name)s is live") % {"name": name},
        "body": payload.get("title", ""),
        "url": reverse("space_detail", args=[alert.space_id]),
        "tag": f"space-{alert.space_id}",
        "space_id": alert.space_id,
    }


def push_users(*, user_ids: Sequence[int], payload: dict[str, Any], topic: str) -> int:
    """Hand one batch to Web Push; how many devices it reached."""
    result = push_send_to_users(
        user_ids=user_ids, payload=payload, ttl=PUSH_TTL_SECONDS, topic=topic
    )
    return result.sent


def _send_push(chunk: GoLiveChunk, audience: Any) -> int:
    alert = chunk.alert
    payload = _push_payload(alert)
    sent = 0
    ids = audience.order_by("follower_id").iterator(chunk_size=settings.SPACES_GOLIVE_PUSH_BATCH)
    for batch in _batches(ids, settings.SPACES_GOLIVE_PUSH_BATCH):
        sent += push_users(user_ids=batch, payload=payload, topic=f"space-{alert.space_id}")
    return sent


def _email(recipient: User, alert: GoLiveAlert) -> EmailMessage:
    with translation.override(recipient.language or settings.LANGUAGE_CODE):
        context = {
            "recipient": recipient,
            "host_name": alert.payload.get("host_name") or alert.payload.get("host"),
            "title": alert.payload.get("title", ""),
            "url": settings.SPACES_SITE_URL + reverse("space_detail", args=[alert.space_id]),
            "settings_url": settings.SPACES_SITE_URL + reverse("settings_alerts"),
        }
        subject = render_to_string("alerts/golive_email_subject.txt", context).strip()
        body = render_to_string("alerts/golive_email.txt", context)
    return EmailMessage(subject=subject, body=body, to=[recipient.email])


def _send_email(chunk: GoLiveChunk, audience: Any) -> int:
    recipients = selectors.golive_email_recipients(audience=audience)
    messages = [_email(recipient, chunk.alert) for recipient in recipients.iterator()]
    if not messages:
        return 0
    with get_connection() as mail:
        return int(mail.send_messages(messages) or 0)


def golive_chunk_send(*, chunk_id: int) -> dict[str, int]:
    """The chunk's Web Push, then its e-mail, each at most once (module docstring)."""
    chunk = GoLiveChunk.objects.select_related("alert").filter(pk=chunk_id).first()
    if chunk is None:
        return {"pushed": 0, "emailed": 0}
    alert = chunk.alert
    audience = selectors.golive_audience(
        host_id=alert.host_id,
        space_id=alert.space_id,
        after_id=chunk.after_id,
        last_id=chunk.last_id,
    )
    done = {"pushed": 0, "emailed": 0}
    for field, count_field, send in (
        ("push_state", "pushed_count", _send_push),
        ("email_state", "emailed_count", _send_email),
    ):
        if not _claim(chunk_id, field):
            continue
        try:
            count = send(chunk, audience)
        except Exception:
            # Part of it may have gone: never again (at most once); staff see it as lost.
            logger.exception("alerts: %s of chunk %s failed", field, chunk_id)
            GoLiveChunk.objects.filter(pk=chunk_id, **{field: Send.SENDING}).update(
                **{field: Send.LOST}
            )
            continue
        now = timezone.now()
        GoLiveChunk.objects.filter(pk=chunk_id, **{field: Send.SENDING}).update(
            **{field: Send.SENT, count_field: count, "sent_at": now}
        )
        done["pushed" if field == "push_state" else "emailed"] = count
    return done


# --- The sweep -----------------------------------------------------------------------------------


def golive_sweep(*, now: datetime | None = None, limit: int = 100) -> dict[str, int]:
    """Resume what a lost task left: running alerts not moved for SPACES_GOLIVE_STALL_SECONDS
    (a fan-out task is queued; the chunk lock makes a spare one harmless), chunks whose send
    never started (queued again), and sends claimed but never finished (marked lost)."""
    now = now or timezone.now()
    stalled_before = now - timedelta(seconds=settings.SPACES_GOLIVE_STALL_SECONDS)
    stalled = list(
        GoLiveAlert.objects.filter(status=Status.RUNNING, updated_at__lt=stalled_before)
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )
    for alert_id in stalled:
        queue_fanout(alert_id)
    unsent = list(
        GoLiveChunk.objects.filter(
            Q(push_state=Send.PENDING) | Q(email_state=Send.PENDING),
            created_at__lt=stalled_before,
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[: limit * 10]
    )
    for chunk_id in unsent:
        queue_send(chunk_id)
    lease = now - timedelta(seconds=settings.SPACES_GOLIVE_SEND_LEASE_SECONDS)
    lost = 0
    for field in ("push_state", "email_state"):
        lost += GoLiveChunk.objects.filter(
            **{field: Send.SENDING}, send_claimed_at__lt=lease
        ).update(**{field: Send.LOST})
    return {"resumed": len(stalled), "requeued_sends": len(unsent), "lost": lost}


# --- The bell and the switches -------------------------------------------------------------------


def follow_alerts_set(*, follower: User, followee: User, alerts: Any) -> Follow:
    """Set the bell of `follower` on `followee`: `all` (every Space they go live with) or
    `none`. Only on someone you follow (409 `not_following`)."""
    if not isinstance(alerts, str) or alerts not in Follow.Alerts.values:
        raise ValidationFailed(
            _("Choose all or none."),
            fields={
                "alerts": [_("One of: %(choices)s.") % {"choices": ", ".join(Follow.Alerts.values)}]
            },
        )
    with transaction.atomic():
        follow = lock_rows(Follow.objects.filter(follower=follower, followee=followee)).first()
        if follow is None:
            raise Conflict(_("Follow them first."), code="not_following")
        if follow.alerts != alerts:
            follow.alerts = alerts
            follow.save(update_fields=["alerts"])
    return follow


def live_alert_settings_update(
    *, user: User, live_alerts: Any = None, live_alert_emails: Any = None
) -> User:
    """The global switches: go-live alerts at all, and their e-mail (opt-in). None leaves a
    switch as it is."""
    changes: dict[str, bool] = {}
    for name, value in (("live_alerts", live_alerts), ("live_alert_emails", live_alert_emails)):
        if value is None:
            continue
        if not isinstance(value, bool):
            raise ValidationFailed(
                _("Use true or false."), fields={name: [_("Must be a boolean.")]}
            )
        changes[name] = value
    with transaction.atomic():
        if changes:
            User.objects.filter(pk=user.pk).update(**changes)
            for name, value in changes.items():
                setattr(user, name, value)
    return user
