"""Go-live alerts: one fan-out per Space that went live, walked a chunk at a time.

- `GoLiveAlert`: one per Space that went live (unique), with where its fan-out stands: `status`,
  `cursor` (the last follower id whose inbox row is written: followers are walked in id order),
  counts. A go-live that is a restart (SPACES_GOLIVE_REPEAT_SECONDS) or over the host's rate
  limit gets a row too, with that status, so staff see why nobody was told.
- `GoLiveChunk`: one per chunk written, committed with the chunk's inbox rows and the cursor
  move. It names its follower-id range, so its Web Push and e-mail (sent after the commit, by a
  task of their own) each have their own state: claimed by a conditional update, never sent twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy

from spaces.models import Space


class GoLiveAlert(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", gettext_lazy("Fanning out")
        DONE = "done", gettext_lazy("Every inbox written")
        REPEAT = "repeat", gettext_lazy("Skipped: the host restarted")
        RATE_LIMITED = "rate_limited", gettext_lazy("Skipped: the host's alert limit")
        ENDED = "ended", gettext_lazy("Stopped: the Space ended first")

    space = models.OneToOneField(Space, on_delete=models.CASCADE, related_name="golive_alert")
    host = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="golive_alerts"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    # Followers with an id at or below the cursor are done (their inbox row, if they wanted one,
    # committed with the cursor move).
    cursor = models.BigIntegerField(default=0)
    chunks = models.PositiveIntegerField(default=0)
    inbox_count = models.PositiveIntegerField(default=0)
    # (Push and e-mail counts are the chunks' own: a send never writes this row, which only the
    # chunk that holds its lock does.)
    # What every inbox row says, built once at go-live.
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Moved by every chunk: a running fan-out not moved for SPACES_GOLIVE_STALL_SECONDS is
    # resumed by the sweep.
    updated_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(
                fields=["updated_at"], condition=Q(status="running"), name="golive_running"
            ),
            models.Index(fields=["host", "-created_at"], name="golive_host_recent"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(cursor__gte=0), name="golive_cursor_positive"),
        ]

    def __str__(self) -> str:
        return f"go-live alert of Space {self.space_id} ({self.status})"


class GoLiveChunk(models.Model):
    class Send(models.TextChoices):
        PENDING = "pending", gettext_lazy("Pending")
        SENDING = "sending", gettext_lazy("Sending")
        SENT = "sent", gettext_lazy("Sent")
        LOST = "lost", gettext_lazy("Lost with a worker")

    alert = models.ForeignKey(GoLiveAlert, on_delete=models.CASCADE, related_name="chunk_set")
    # The chunk is the followers with after_id < id <= last_id.
    after_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    inbox_count = models.PositiveIntegerField(default=0)
    # How long the chunk's transaction wrote (the inbox INSERT and the cursor move), in ms.
    write_ms = models.FloatField(default=0)
    push_state = models.CharField(max_length=8, choices=Send.choices, default=Send.PENDING)
    pushed_count = models.PositiveIntegerField(default=0)
    email_state = models.CharField(max_length=8, choices=Send.choices, default=Send.PENDING)
    emailed_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # When its push or e-mail was claimed (a lease: still `sending` long after, it is `lost`).
    send_claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("alert", "after_id")
        constraints = [
            models.UniqueConstraint(fields=["alert", "after_id"], name="golive_chunk_once"),
            models.CheckConstraint(
                condition=Q(last_id__gt=models.F("after_id")), name="golive_chunk_range"
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(push_state__in=["pending", "sending"])
                | Q(email_state__in=["pending", "sending"]),
                name="golive_chunk_unsent",
            ),
        ]

    def __str__(self) -> str:
        return f"chunk ({self.after_id}, {self.last_id}] of alert {self.alert_id}"
