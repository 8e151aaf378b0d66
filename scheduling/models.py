"""Scheduled Spaces: their schedule, who set a reminder, and every notification owed.

A scheduled Space is a `spaces.Space` in state `scheduled` with `scheduled_for` set; starting it
makes the same row live (spaces.services.space_go_live). What only scheduling needs lives here:

- `SpaceSchedule`: one row per scheduled Space. `version` goes up each time the time changes;
  it is part of every delivery's key, so reminders already sent for an old time never block
  the reminders for the new one. `cancel_reason` tells a host's cancel from an expiry.
- `Reminder`: one per user and Space (unique).
- `Delivery`: one notification owed to one user (a reminder holder or the host) for one Space,
  of one kind, for one version of the schedule. The sweep claims due rows in batches and
  sends each exactly once into the inbox (scheduling/services/delivery.py explains how).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy

from spaces.models import Space

# The host hears 30 minutes before and at the time; reminder holders 15 minutes before.
HOST_SOON_LEAD = timedelta(minutes=30)
HOLDER_LEAD = timedelta(minutes=15)


class SpaceSchedule(models.Model):
    class CancelReason(models.TextChoices):
        HOST = "host", gettext_lazy("Cancelled by the host")
        EXPIRED = "expired", gettext_lazy("Not started in time")

    space = models.OneToOneField(
        Space, on_delete=models.CASCADE, primary_key=True, related_name="schedule"
    )
    # Bumped when `scheduled_for` changes; deliveries of older versions are stale.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    rescheduled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(
        max_length=16, choices=CancelReason.choices, blank=True, default=""
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(cancel_reason="") | Q(cancelled_at__isnull=False),
                name="schedule_cancelled_has_time",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="schedule_version_positive"),
        ]

    def __str__(self) -> str:
        return f"schedule of {self.space_id} v{self.version}"


class Reminder(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="space_reminders"
    )
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="reminders")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "space"], name="reminder_unique"),
        ]
        indexes = [
            # Counting a Space's reminders and arming deliveries for all of them.
            models.Index(fields=["space", "user"], name="reminder_space_user"),
        ]

    def __str__(self) -> str:
        return f"reminder of {self.user_id} for {self.space_id}"


class Delivery(models.Model):
    class Kind(models.TextChoices):
        HOST_SOON = "host_soon", gettext_lazy("Host: starts in 30 minutes")
        HOST_START = "host_start", gettext_lazy("Host: time to start")
        REMINDER = "reminder", gettext_lazy("Starts in 15 minutes")
        LIVE = "live", gettext_lazy("Live now")
        CHANGED = "changed", gettext_lazy("Time changed")
        CANCELLED = "cancelled", gettext_lazy("Cancelled or expired")

    class State(models.TextChoices):
        PENDING = "pending", gettext_lazy("Pending")
        SENT = "sent", gettext_lazy("Sent")
        SKIPPED = "skipped", gettext_lazy("Skipped")
        FAILED = "failed", gettext_lazy("Failed")

    class SkipReason(models.TextChoices):
        STARTED = "started", gettext_lazy("The Space started first")
        RESCHEDULED = "rescheduled", gettext_lazy("The time changed")
        CANCELLED = "cancelled", gettext_lazy("The Space was cancelled or expired")
        TOO_LATE = "too_late", gettext_lazy("Reached only after the scheduled time")
        NOT_LIVE = "not_live", gettext_lazy("The Space is no longer live")
        REMINDER_REMOVED = "reminder_removed", gettext_lazy("The reminder was removed")

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="deliveries")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="space_deliveries"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    version = models.PositiveIntegerField()
    due_at = models.DateTimeField()
    # `due_at` until a failure pushes it back (bounded retries with backoff).
    next_attempt_at = models.DateTimeField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    skip_reason = models.CharField(max_length=24, choices=SkipReason.choices, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # E-mail is at most once, after the inbox commit (services/delivery.py); null if not e-mailed.
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = gettext_lazy("deliveries")
        constraints = [
            # The last line of defence for "exactly once": one live (pending or sent) delivery
            # per recipient, Space, kind and schedule version.
            models.UniqueConstraint(
                fields=["space", "recipient", "kind", "version"],
                condition=Q(state__in=["pending", "sent"]),
                name="delivery_once",
            ),
            models.CheckConstraint(
                condition=(Q(state="sent") & Q(sent_at__isnull=False))
                | (~Q(state="sent") & Q(sent_at__isnull=True)),
                name="delivery_sent_has_time",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["pending", "sent", "skipped", "failed"]),
                name="delivery_state_valid",
            ),
        ]
        indexes = [
            # The sweep's claim: pending rows, oldest due first.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(state="pending"),
                name="delivery_due",
            ),
            models.Index(fields=["space", "state", "kind"], name="delivery_space_state"),
            models.Index(fields=["recipient", "space"], name="delivery_recipient"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} v{self.version} for {self.recipient_id} in {self.space_id}"
