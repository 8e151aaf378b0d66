"""A browser's push subscription: where to POST (the push service's endpoint) and the keys to
encrypt for it (RFC 8291). One row per endpoint; the endpoint belongs to the user who last
subscribed it on that device."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy


class PushSubscription(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    # Push services' endpoints run to ~600 characters (FCM, WNS); 2048 leaves room.
    endpoint = models.URLField(max_length=2048, unique=True)
    # base64url: the browser's P-256 public key (65 bytes) and its auth secret (16 bytes).
    p256dh = models.CharField(max_length=100)
    auth = models.CharField(max_length=32)
    user_agent = models.CharField(
        max_length=200,
        blank=True,
        help_text=gettext_lazy("Which browser and system: a label for people."),
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_success_at = models.DateTimeField(null=True, blank=True)
    failure_count = models.PositiveIntegerField(
        default=0, help_text=gettext_lazy("Failed pushes since the last one that was accepted.")
    )

    class Meta:
        ordering = ("user_id", "-created_at")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.endpoint[:60]}"
