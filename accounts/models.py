from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy


class UserQuerySet(models.QuerySet["User"]):
    def with_follow_counts(self) -> UserQuerySet:
        """Annotate follower/following counts as correlated subqueries: one query for a page."""
        followers = (
            Follow.objects.filter(followee=OuterRef("pk"))
            .order_by()
            .values("followee")
            .annotate(n=Count("*"))
            .values("n")
        )
        following = (
            Follow.objects.filter(follower=OuterRef("pk"))
            .order_by()
            .values("follower")
            .annotate(n=Count("*"))
            .values("n")
        )
        return self.annotate(
            follower_count=Coalesce(Subquery(followers), 0),
            following_count=Coalesce(Subquery(following), 0),
        )

    def with_viewer_flags(self, viewer: User | None) -> UserQuerySet:
        """Annotate how `viewer` relates to each user (False for an anonymous viewer)."""
        if viewer is None or not viewer.is_authenticated:
            return self.annotate(
                is_followed=models.Value(False),
                follows_you=models.Value(False),
                is_blocked=models.Value(False),
            )
        return self.annotate(
            is_followed=Exists(Follow.objects.filter(follower=viewer, followee=OuterRef("pk"))),
            follows_you=Exists(Follow.objects.filter(follower=OuterRef("pk"), followee=viewer)),
            is_blocked=Exists(Block.objects.filter(blocker=viewer, blocked=OuterRef("pk"))),
        )


class SpacesUserManager(UserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    pass


class User(AbstractUser):
    display_name = models.CharField(max_length=50, blank=True)
    bio = models.CharField(max_length=160, blank=True)
    # Users may turn e-mail off for reminders and other notifications.
    email_notifications = models.BooleanField(default=True)
    # An IANA name ("Europe/Paris"), checked by spaces_project.timezones.clean_time_zone. Blank
    # until the browser's guess (user_time_zone_guess) or the settings page fills it.
    time_zone = models.CharField(max_length=64, blank=True, default="")
    # A code from settings.LANGUAGES ("es"). Blank: the browser's Accept-Language decides.
    language = models.CharField(max_length=16, blank=True, default="")
    # Go-live alerts (alerts/): the global switch for "someone you follow is live", and the
    # e-mail for it, which is opt-in (Settings > Alerts; each follow has its own bell too).
    live_alerts = models.BooleanField(default=True)
    live_alert_emails = models.BooleanField(default=False)

    objects: ClassVar[SpacesUserManager] = SpacesUserManager()

    class Meta:
        ordering = ("username",)

    def __str__(self) -> str:
        return self.username

    @property
    def name(self) -> str:
        return self.display_name or self.username

    @property
    def can_host(self) -> bool:
        """Whether this user may start a Space: enough followers (SPACES_HOST_MIN_FOLLOWERS).

        Uses the `follower_count` annotation when the queryset has it, else counts once.
        """
        count = getattr(self, "follower_count", None)
        if count is None:
            count = Follow.objects.filter(followee_id=self.pk).count()
        return count >= settings.SPACES_HOST_MIN_FOLLOWERS


def user_display(user: User) -> str:
    return user.name


class Follow(models.Model):
    class Alerts(models.TextChoices):
        # The bell on a followed account: every Space it goes live with, or none (as on X).
        ALL = "all", gettext_lazy("All Spaces")
        NONE = "none", gettext_lazy("None")

    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="following_set")
    followee = models.ForeignKey(User, on_delete=models.CASCADE, related_name="follower_set")
    created_at = models.DateTimeField(auto_now_add=True)
    alerts = models.CharField(max_length=8, choices=Alerts.choices, default=Alerts.ALL)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_unique_pair"),
            models.CheckConstraint(
                condition=~Q(follower=models.F("followee")), name="follow_not_self"
            ),
        ]
        indexes = [
            # Paging someone's followers (and counting them) reads this index only.
            models.Index(fields=["followee", "-created_at", "-id"], name="follow_followee_recent"),
            models.Index(fields=["follower", "-created_at", "-id"], name="follow_follower_recent"),
            # A go-live fan-out walks a host's followers in follower-id order, a chunk at a
            # time from a cursor (alerts/services.py): a range scan of this index.
            models.Index(fields=["followee", "follower"], name="follow_followee_follower"),
        ]

    def __str__(self) -> str:
        return f"{self.follower_id} → {self.followee_id}"


class Block(models.Model):
    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocking_set")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocked_by_set")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_unique_pair"),
            models.CheckConstraint(
                condition=~Q(blocker=models.F("blocked")), name="block_not_self"
            ),
        ]
        indexes = [models.Index(fields=["blocked", "blocker"], name="block_blocked_blocker")]

    def __str__(self) -> str:
        return f"{self.blocker_id} ⊘ {self.blocked_id}"


class Notification(models.Model):
    class Kind(models.TextChoices):
        FOLLOW = "follow", gettext_lazy("New follower")
        SPACE_LIVE = "space_live", gettext_lazy("A Space went live")
        FOLLOWED_LIVE = "followed_live", gettext_lazy("Someone you follow is live")
        SPACE_SHARED = "space_shared", gettext_lazy("A Space was shared with you")
        SPACE_INVITE = "space_invite", gettext_lazy("Invited to speak or co-host")
        SPACE_REMINDER = "space_reminder", gettext_lazy("Space reminder")
        SPACE_CHANGED = "space_changed", gettext_lazy("Scheduled Space changed")
        SPACE_CANCELLED = "space_cancelled", gettext_lazy("Scheduled Space cancelled")
        HOST_REMINDER = "host_reminder", gettext_lazy("Time to start your Space")
        TICKET = "ticket", gettext_lazy("Ticket update")
        MESSAGE = "message", gettext_lazy("New direct message")

    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    payload = models.JSONField(default=dict, blank=True)
    is_read = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=["recipient", "-created_at", "-id"], name="notif_recipient_recent"),
            models.Index(
                fields=["recipient"], condition=Q(is_read=False), name="notif_recipient_unread"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient_id}"


class DirectMessage(models.Model):
    sender = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sent_messages")
    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="received_messages")
    body = models.CharField(max_length=1000)
    # What the message carries besides text, e.g. {"space_id": 12} for a shared Space.
    attachment = models.JSONField(default=dict, blank=True)
    is_read = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["recipient", "-created_at"], name="dm_recipient_recent")]
        constraints = [
            models.CheckConstraint(condition=~Q(sender=models.F("recipient")), name="dm_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.sender_id} ✉ {self.recipient_id}"
