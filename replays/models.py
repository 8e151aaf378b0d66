"""What outlives a Space: its replay (the `spaces.Recording` row, finalized here) and clips.

A clip is its own small MP4 file in the `recordings` storage, cut from the recording's segments
without re-encoding (replays/cutting.py): it survives the end of the Space, and is deleted with
the replay, by its author or the host, by staff, or by the retention period.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy

from accounts.models import User
from spaces.models import Recording, Space, recording_prefix

CLIP_TITLE_MAX_LENGTH = 100


def new_clip_slug() -> str:
    """The clip's share link: unguessable, so a link leaks nothing about other clips."""
    return secrets.token_urlsafe(9)


class Clip(models.Model):
    class Source(models.TextChoices):
        LIVE = "live", gettext_lazy("Live")
        REPLAY = "replay", gettext_lazy("Replay")

    class DeletedBy(models.TextChoices):
        AUTHOR = "author", gettext_lazy("Its author")
        HOST = "host", gettext_lazy("The host")
        STAFF = "staff", gettext_lazy("Staff")
        RETENTION = "retention", gettext_lazy("Retention period")
        REPLAY = "replay", gettext_lazy("The replay was deleted")

    slug = models.CharField(max_length=16, unique=True, default=new_clip_slug)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="clips")
    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="clips")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clips"
    )
    title = models.CharField(max_length=CLIP_TITLE_MAX_LENGTH, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    # The clip's place in the replay (ms from its start), and in wall time for the transcript.
    start_ms = models.PositiveBigIntegerField()
    end_ms = models.PositiveBigIntegerField()
    wall_start = models.DateTimeField()
    size_bytes = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.CharField(max_length=16, choices=DeletedBy.choices, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(end_ms__gt=F("start_ms")), name="clip_range"),
        ]
        indexes = [
            models.Index(fields=["space", "-created_at"], name="clip_space_recent"),
            models.Index(fields=["author", "-created_at"], name="clip_author_recent"),
        ]

    def __str__(self) -> str:
        return f"clip {self.slug} of {self.space_id}"

    @property
    def duration_ms(self) -> int:
        return int(self.end_ms - self.start_ms)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def file_name(self) -> str:
        return f"spaces/{self.space_id}/clips/{self.slug}.mp4"


class HostStorage(User):
    """Hosts as the admin's "Storage by host" lists them (replays/admin.py): a proxy, no table."""

    class Meta:
        proxy = True
        verbose_name = gettext_lazy("storage by host")
        verbose_name_plural = gettext_lazy("storage by host")


# --- The podcast feed -----------------------------------------------------------------------------

PODCAST_TITLE_MAX_LENGTH = 100
PODCAST_DESCRIPTION_MAX_LENGTH = 1000
# The single-file audio of a replay, beside its HLS in the recordings storage.
AUDIO_FILE = "audio.m4a"


def audio_file_name(space_id: int) -> str:
    """Under the recording's folder, so deleting the replay's folder deletes it too."""
    return f"{recording_prefix(space_id)}/{AUDIO_FILE}"


class PodcastFeed(models.Model):
    """A host's podcast of their replays (`/u/<username>/podcast.xml`): off until they turn it
    on. Which replays it lists is decided in replays/access.py `podcast_publishes`."""

    class Category(models.TextChoices):
        # Apple Podcasts' top-level categories (the `itunes:category` text podcast apps know),
        # shown as they are spelt there.
        ARTS = "Arts", gettext_lazy("Arts")
        BUSINESS = "Business", gettext_lazy("Business")
        COMEDY = "Comedy", gettext_lazy("Comedy")
        EDUCATION = "Education", gettext_lazy("Education")
        FICTION = "Fiction", gettext_lazy("Fiction")
        HEALTH = "Health & Fitness", gettext_lazy("Health & Fitness")
        HISTORY = "History", gettext_lazy("History")
        KIDS = "Kids & Family", gettext_lazy("Kids & Family")
        LEISURE = "Leisure", gettext_lazy("Leisure")
        MUSIC = "Music", gettext_lazy("Music")
        NEWS = "News", gettext_lazy("News")
        RELIGION = "Religion & Spirituality", gettext_lazy("Religion & Spirituality")
        SCIENCE = "Science", gettext_lazy("Science")
        SOCIETY = "Society & Culture", gettext_lazy("Society & Culture")
        SPORTS = "Sports", gettext_lazy("Sports")
        TV = "TV & Film", gettext_lazy("TV & Film")
        TECHNOLOGY = "Technology", gettext_lazy("Technology")
        TRUE_CRIME = "True Crime", gettext_lazy("True Crime")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="podcast_feed"
    )
    enabled = models.BooleanField(default=False)
    # Blank: "<name>'s Spaces" and the host's bio (replays/feed.py).
    title = models.CharField(max_length=PODCAST_TITLE_MAX_LENGTH, blank=True)
    description = models.CharField(max_length=PODCAST_DESCRIPTION_MAX_LENGTH, blank=True)
    category = models.CharField(max_length=32, choices=Category.choices, default=Category.SOCIETY)
    explicit = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"podcast of {self.user_id} ({'on' if self.enabled else 'off'})"


class ReplayAudio(models.Model):
    """The replay as one M4A file (`audio_file_name`), for podcast apps: the recorded Opus
    packets of every part in order, gaps as silence, never re-encoded (replays/timeline.py
    `whole`). Written before this row and deleted before it, as the replay's own files."""

    recording = models.OneToOneField(
        Recording, on_delete=models.CASCADE, related_name="audio", primary_key=True
    )
    size_bytes = models.PositiveBigIntegerField()
    # What a player shows: the recording less the encoder's delay the file trims.
    duration_ms = models.PositiveBigIntegerField()
    built_at = models.DateTimeField()

    class Meta:
        verbose_name = gettext_lazy("replay audio")
        verbose_name_plural = gettext_lazy("replay audio")

    def __str__(self) -> str:
        return f"audio of recording {self.recording_id}"
