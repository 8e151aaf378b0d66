"""Live Spaces: the room, who is in it and in which role, and what happens in it.

Rules live in `services/`; these models hold data and the constraints that are the last line of
defence when a rule in a service is ever bypassed (STYLE.md, habit 6):

- one live Space per host (partial unique index),
- one host per Space, and speakers / co-hosts are always present participants,
- stage and co-host capacity and the number of pins, as denormalised counters on the Space row
  with CheckConstraints; the counters are only written under the Space row lock, with F().
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext, gettext_lazy

MAX_TOPICS = 3
TOPIC_MAX_LENGTH = 30
TITLE_MAX_LENGTH = 70
MAX_PINS = 3
PIN_TEXT_MAX_LENGTH = 280
COMMENT_MAX_LENGTH = 280
COMMENT_SLOW_MODE_MAX_SECONDS = 3600


class UnicodeJSONEncoder(json.JSONEncoder):
    """Stores non-ASCII text as typed, so a topic search matches the same text on SQLite (which
    keeps JSON as text) as on PostgreSQL (whose jsonb normalises escapes away)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ensure_ascii"] = False
        super().__init__(*args, **kwargs)


class Reaction(models.TextChoices):
    """The fixed reaction set: a short code (stable, in the API) and the emoji (its label)."""

    HUNDRED = "100", "💯"
    WAVE = "wave", "👋"
    RAISED_HAND = "raised_hand", "✋"
    JOY = "joy", "😂"
    HEART = "heart", "❤️"
    CLAP = "clap", "👏"
    PRAY = "pray", "🙏"
    FIRE = "fire", "🔥"


class Space(models.Model):
    class State(models.TextChoices):
        SCHEDULED = "scheduled", gettext_lazy("Scheduled")
        LIVE = "live", gettext_lazy("Live")
        ENDED = "ended", gettext_lazy("Ended")
        CANCELLED = "cancelled", gettext_lazy("Cancelled")

    class SpeakingPolicy(models.TextChoices):
        EVERYONE = "everyone", gettext_lazy("Everyone")
        FOLLOWED_BY_HOST = "followed_by_host", gettext_lazy("People the host follows")
        INVITED_ONLY = "invited_only", gettext_lazy("Only people invited to speak")

    # The current host: listings, bubbles, permissions and `space_one_live_per_host` follow it,
    # so it changes when a co-host takes over (issue 9).
    host = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hosted_spaces"
    )
    # Who started the Space: they get the host role back if they return while it is live. Set
    # when the Space goes live (null before, and on rows made without `space_go_live`, where
    # the current host is the original one until the first handover fills it in).
    original_host = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    title = models.CharField(max_length=TITLE_MAX_LENGTH)
    # At most MAX_TOPICS short strings. A JSON list rather than a Topic table: topics are free
    # text, always read with their Space (no join or prefetch in the pinned-count lists) and
    # searched by substring together with the title, which a list in the row serves as well.
    topics = models.JSONField(default=list, blank=True, encoder=UnicodeJSONEncoder)
    state = models.CharField(max_length=16, choices=State.choices, default=State.LIVE)
    speaking_policy = models.CharField(
        max_length=24, choices=SpeakingPolicy.choices, default=SpeakingPolicy.EVERYONE
    )
    captions_enabled = models.BooleanField(default=False)
    # The host's choice when starting or scheduling: on by default, as X. Fixed once live: a
    # recording that began halfway would surprise the people already speaking. Each stage
    # member may still keep their own voice out (`Participant.voice_recorded`).
    recording_enabled = models.BooleanField(default=True)
    # Whether people who can hear the Space may clip it (live, and from its replay).
    clips_enabled = models.BooleanField(default=True)
    # Live controls of the host and co-hosts (spaces/services/comments.py, controls.py): text
    # comments on or off, slow mode (one comment per this many seconds per person, 0: off), and
    # a locked stage (no new raised hands; invitations still bring people up).
    comments_enabled = models.BooleanField(default=True)
    comment_slow_mode_seconds = models.PositiveSmallIntegerField(default=0)
    stage_locked = models.BooleanField(default=False)
    # Logged-out listening (issue 20, spaces/services/guests.py): whether people without an
    # account may hear this Space over live HLS (a public, non-ticketed live Space only; the
    # host's switch), and how many such guests listen now. `guest_count` is already included in
    # `listener_count`, so every place that shows the count shows them.
    guests_allowed = models.BooleanField(default=True)
    guest_count = models.PositiveIntegerField(default=0)
    # Server-side noise suppression of every speaker's audio before the mix (issue 23,
    # media/denoise.py; the host's switch, spaces/services/noise.py). Off by default: it costs
    # the media worker CPU per speaker (bench/denoise.py) and changes how voices sound, so a
    # host opts in for a noisy stage; existing Spaces keep the audio they had.
    noise_suppression = models.BooleanField(default=False)
    # Used by the scheduling and ticketing issues; a live Space started on the spot has neither.
    scheduled_for = models.DateTimeField(null=True, blank=True)
    is_ticketed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    # Capacity is copied from settings when the Space starts: a CheckConstraint cannot read
    # settings, and a changed setting must not shrink a stage that is already full.
    max_speakers = models.PositiveSmallIntegerField()
    max_cohosts = models.PositiveSmallIntegerField()

    # Counters, written only under the Space row lock (services/common.py `_bump`). Present
    # participants by role; the host is counted in none of them.
    listener_count = models.PositiveIntegerField(default=0)
    speaker_count = models.PositiveSmallIntegerField(default=0)
    cohost_count = models.PositiveSmallIntegerField(default=0)
    peak_listener_count = models.PositiveIntegerField(default=0)
    total_joined_count = models.PositiveIntegerField(default=0)
    pin_count = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["host"], condition=Q(state="live"), name="space_one_live_per_host"
            ),
            models.CheckConstraint(
                condition=Q(speaker_count__lte=F("max_speakers")), name="space_stage_capacity"
            ),
            models.CheckConstraint(
                condition=Q(cohost_count__lte=F("max_cohosts")), name="space_cohost_capacity"
            ),
            models.CheckConstraint(condition=Q(pin_count__lte=MAX_PINS), name="space_max_pins"),
            models.CheckConstraint(
                condition=Q(peak_listener_count__gte=F("listener_count")),
                name="space_peak_not_below_current",
            ),
            models.CheckConstraint(condition=~Q(title=""), name="space_title_not_empty"),
            models.CheckConstraint(
                condition=Q(state__in=["scheduled", "live", "ended", "cancelled"]),
                name="space_state_valid",
            ),
            models.CheckConstraint(
                condition=~Q(state="live") | Q(started_at__isnull=False),
                name="space_live_has_started_at",
            ),
            models.CheckConstraint(
                condition=~Q(state="ended") | Q(ended_at__isnull=False),
                name="space_ended_has_ended_at",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "-listener_count"], name="space_state_listeners"),
            models.Index(fields=["host", "state", "-ended_at"], name="space_host_state_ended"),
            models.Index(fields=["state", "-ended_at"], name="space_state_ended"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.state})"

    @property
    def is_live(self) -> bool:
        return self.state == self.State.LIVE

    @property
    def original_host_id_or_host(self) -> int:
        return self.original_host_id or self.host_id


class ListenMode(models.TextChoices):
    WEBRTC = "webrtc", gettext_lazy("Real time")
    HLS = "hls", gettext_lazy("With a delay")


class Participant(models.Model):
    """One row per (Space, user) who ever joined: their role and presence in this Space."""

    class Role(models.TextChoices):
        HOST = "host", gettext_lazy("Host")
        COHOST = "cohost", gettext_lazy("Co-host")
        SPEAKER = "speaker", gettext_lazy("Speaker")
        LISTENER = "listener", gettext_lazy("Listener")

    class State(models.TextChoices):
        PRESENT = "present", gettext_lazy("Present")
        LEFT = "left", gettext_lazy("Left")
        REMOVED = "removed", gettext_lazy("Removed")

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="space_participations"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.LISTENER)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PRESENT)
    # Speakers come on stage muted. Anyone may mute; the host or a co-host may mute a speaker
    # (muted_by_host); only the speaker can unmute (as on X).
    is_muted = models.BooleanField(default=True)
    muted_by_host = models.BooleanField(default=False)
    # "Don't record my voice": the recording mixes without this stage member from the next
    # tick while listeners still hear them. Kept across leaving and returning.
    voice_recorded = models.BooleanField(default=True)
    # How a listener hears the Space (spaces/services/listening.py): real time over WebRTC, or
    # live HLS a few seconds behind, from a CDN. `listen_delay` is the listener's own choice
    # ("Listen with a delay"); `listen_mode` also says HLS when the Space had no real-time room
    # left when they joined. On stage everyone is real time, whatever is stored here.
    listen_mode = models.CharField(max_length=8, choices=ListenMode.choices, default="webrtc")
    listen_delay = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)  # first join
    joined_at = models.DateTimeField()  # latest join
    left_at = models.DateTimeField(null=True, blank=True)
    # Presence heartbeat (the realtime issue sweeps participants not seen for a while).
    last_seen_at = models.DateTimeField()
    role_since = models.DateTimeField()
    # Order of seniority among co-hosts, for the host handover (issue 9).
    cohost_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "user"], name="participant_unique"),
            models.UniqueConstraint(
                fields=["space"], condition=Q(role="host"), name="participant_one_host"
            ),
            # Leaving or being removed always returns a speaker or co-host to the audience,
            # which is what frees their slot.
            models.CheckConstraint(
                condition=Q(role__in=["host", "listener"]) | Q(state="present"),
                name="participant_stage_is_present",
            ),
            models.CheckConstraint(
                condition=(Q(role="cohost") & Q(cohost_since__isnull=False))
                | (~Q(role="cohost") & Q(cohost_since__isnull=True)),
                name="participant_cohost_since",
            ),
            models.CheckConstraint(
                condition=Q(role__in=["host", "cohost", "speaker", "listener"]),
                name="participant_role_valid",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["present", "left", "removed"]),
                name="participant_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(listen_mode__in=["webrtc", "hls"]), name="participant_listen_mode_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["space", "role", "state", "-joined_at"], name="participant_space_role"
            ),
            models.Index(fields=["user", "role"], name="participant_user_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.space_id} as {self.role} ({self.state})"

    @property
    def is_present(self) -> bool:
        return self.state == self.State.PRESENT

    @property
    def on_stage(self) -> bool:
        return self.is_present and self.role in STAGE_ROLES

    @property
    def hears_live_hls(self) -> bool:
        """Whether this participant listens over live HLS now (the stage is always WebRTC)."""
        return self.role == self.Role.LISTENER and self.listen_mode == ListenMode.HLS

    @property
    def effective_listen_mode(self) -> str:
        return str(ListenMode.HLS if self.hears_live_hls else ListenMode.WEBRTC)


STAGE_ROLES = (Participant.Role.HOST, Participant.Role.COHOST, Participant.Role.SPEAKER)
MODERATOR_ROLES = (Participant.Role.HOST, Participant.Role.COHOST)


class SpeakerRequest(models.Model):
    """A raised hand: the queue hosts work through, and a record of how it was answered."""

    class State(models.TextChoices):
        PENDING = "pending", gettext_lazy("Pending")
        APPROVED = "approved", gettext_lazy("Approved")
        DENIED = "denied", gettext_lazy("Denied")
        WITHDRAWN = "withdrawn", gettext_lazy("Withdrawn")
        # Overtaken by events: the requester left, was removed, got on stage another way, or
        # the Space ended.
        CANCELLED = "cancelled", gettext_lazy("Cancelled")

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="speaker_requests")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="speaker_requests"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["space", "user"],
                condition=Q(state="pending"),
                name="speaker_request_one_pending",
            ),
        ]
        indexes = [
            models.Index(fields=["space", "state", "created_at"], name="speaker_request_queue"),
        ]

    def __str__(self) -> str:
        return f"hand of {self.user_id} in {self.space_id} ({self.state})"


class Invitation(models.Model):
    """The host or a co-host asks a participant to speak, or the host asks one to co-host."""

    class Kind(models.TextChoices):
        SPEAKER = "speaker", gettext_lazy("Speak")
        COHOST = "cohost", gettext_lazy("Co-host")

    class State(models.TextChoices):
        PENDING = "pending", gettext_lazy("Pending")
        ACCEPTED = "accepted", gettext_lazy("Accepted")
        DECLINED = "declined", gettext_lazy("Declined")
        CANCELLED = "cancelled", gettext_lazy("Cancelled")

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="invitations")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    inviter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    invitee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="space_invitations"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["space", "invitee", "kind"],
                condition=Q(state="pending"),
                name="invitation_one_pending",
            ),
            models.CheckConstraint(condition=~Q(inviter=F("invitee")), name="invitation_not_self"),
        ]
        indexes = [models.Index(fields=["space", "invitee", "state"], name="invitation_inbox")]

    def __str__(self) -> str:
        return f"{self.kind} invitation for {self.invitee_id} in {self.space_id} ({self.state})"


class ReactionCount(models.Model):
    """Reactions per Space and emoji. Each tap is added here before it is acknowledged, taps in
    flight together in one upsert (spaces/reactions.py): never a row per tap."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="reaction_counts")
    code = models.CharField(max_length=16, choices=Reaction.choices)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "code"], name="reaction_count_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.code} x{self.count} in {self.space_id}"


class ReactionBucket(models.Model):
    """Reactions per Space, emoji and 10-second window of wall time: the replay's timeline.
    Written in the same group commit as `ReactionCount` (spaces/reactions.py)."""

    SECONDS = 10

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="reaction_buckets")
    at = models.DateTimeField()  # the window's start, a multiple of SECONDS since the epoch
    code = models.CharField(max_length=16, choices=Reaction.choices)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "at", "code"], name="reaction_bucket_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.code} x{self.count} at {self.at:%H:%M:%S} in {self.space_id}"


class Recording(models.Model):
    """A Space's recording: HLS segments in the `recordings` storage under `storage_prefix`.

    The media worker writes the files (spaces/audio/recording.py); this row exists from the
    first segment on (`recording.started`) and becomes a replay when `replays` finalizes it after
    the end. The timeline maps the replay's positions back to wall time, for captions, chapters
    and reactions: a list of parts, one per stretch one media origin mixed, in order, each
    ``{"name", "wall_start", "offset_ms", "duration_ms"}``.
    """

    class Status(models.TextChoices):
        RECORDING = "recording", gettext_lazy("Recording")
        READY = "ready", gettext_lazy("Ready")
        DELETED = "deleted", gettext_lazy("Deleted")

    class DeletedBy(models.TextChoices):
        HOST = "host", gettext_lazy("The host")
        STAFF = "staff", gettext_lazy("Staff")
        RETENTION = "retention", gettext_lazy("Retention period")

    space = models.OneToOneField(Space, on_delete=models.CASCADE, related_name="recording")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECORDING)
    started_at = models.DateTimeField()
    ready_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveBigIntegerField(default=0)
    size_bytes = models.PositiveBigIntegerField(default=0)
    timeline = models.JSONField(default=list, blank=True)
    # [{"user_id", "seconds"}] loudest first: who spoke, from the recorded mix's levels.
    speakers = models.JSONField(default=list, blank=True)
    # [{"at_ms", "user_id"}]: where each speaker's turn begins (the replay's chapters).
    turns = models.JSONField(default=list, blank=True)
    # Stage members who kept their voice out at any moment (the replay says so).
    left_out = models.JSONField(default=list, blank=True)
    dropped_segments = models.PositiveIntegerField(default=0)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.CharField(max_length=16, choices=DeletedBy.choices, blank=True)
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="deleted") | Q(deleted_at__isnull=False),
                name="recording_deleted_has_deleted_at",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["recording", "ready", "deleted"]),
                name="recording_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["status", "ready_at"], name="recording_status_ready")]

    def __str__(self) -> str:
        return f"recording of {self.space_id} ({self.status})"

    @property
    def storage_prefix(self) -> str:
        return recording_prefix(self.space_id)


def live_prefix(space_id: int) -> str:
    """Where a live Space's HLS lives in the `recordings` storage, served to anyone who has the
    URL (a static server or CDN cannot check tickets): the folder name carries a keyed hash, so
    the URL is known only to those the Space's snapshot was given to."""
    token = salted_hmac("spaces.live-hls", str(space_id)).hexdigest()[:24]
    return f"live/{space_id}-{token}"


def recording_prefix(space_id: int) -> str:
    """Where a Space's recording lives in the `recordings` storage (one recording per Space)."""
    return f"spaces/{space_id}"


class Pin(models.Model):
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="pins")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="space_pins"
    )
    text = models.CharField(max_length=PIN_TEXT_MAX_LENGTH)
    url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    unpinned_at = models.DateTimeField(null=True, blank=True)
    unpinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(text=""), name="pin_text_not_empty"),
        ]
        indexes = [
            models.Index(
                fields=["space", "created_at"],
                condition=Q(unpinned_at__isnull=True),
                name="pin_active",
            )
        ]

    def __str__(self) -> str:
        return self.text[:40]

    @property
    def is_active(self) -> bool:
        return self.unpinned_at is None


class CaptionLine(models.Model):
    """One line of the transcript, appended by the media worker (services.caption_append)."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="caption_lines")
    speaker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    text = models.CharField(max_length=1000)
    started_at = models.DateTimeField()  # when the words were spoken
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["space", "created_at", "id"], name="caption_transcript")]

    def __str__(self) -> str:
        return self.text[:40]


class Comment(models.Model):
    """A short text comment in a live Space. Kept with the Space (the replay shows them on its
    timeline); a deleted one keeps its row, with who deleted it, for the moderation record."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="space_comments"
    )
    text = models.CharField(max_length=COMMENT_MAX_LENGTH)
    # The text cut into runs for display: [{"text"}, {"text", "mention": user_id},
    # {"text", "url"}], so that no client parses it (and none disagrees on character offsets).
    parts = models.JSONField(default=list, encoder=UnicodeJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(text=""), name="comment_text_not_empty"),
        ]
        indexes = [
            models.Index(fields=["space", "-created_at", "-id"], name="comment_space_recent"),
            models.Index(fields=["author", "-created_at"], name="comment_author_recent"),
        ]

    def __str__(self) -> str:
        return self.text[:40]

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Report(models.Model):
    class Reason(models.TextChoices):
        SPAM = "spam", gettext_lazy("Spam")
        HARASSMENT = "harassment", gettext_lazy("Abuse or harassment")
        HATE = "hate", gettext_lazy("Hateful conduct")
        VIOLENCE = "violence", gettext_lazy("Violent speech")
        SEXUAL = "sexual", gettext_lazy("Sexual content")
        MISINFORMATION = "misinformation", gettext_lazy("Misleading information")
        IMPERSONATION = "impersonation", gettext_lazy("Impersonation")
        OTHER = "other", gettext_lazy("Something else")

    class Status(models.TextChoices):
        OPEN = "open", gettext_lazy("Open")
        RESOLVED = "resolved", gettext_lazy("Resolved")

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="space_reports_made"
    )
    # Null: the Space itself is reported.
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="space_reports_received",
    )
    reason = models.CharField(max_length=24, choices=Reason.choices)
    details = models.CharField(max_length=1000, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    resolution_note = models.CharField(max_length=1000, blank=True)
    # A report of one comment names it; every report of a person or a comment carries what was
    # said around it (comments and caption lines of a minute each side) for the reviewer,
    # copied when reported, since the author may delete a comment afterwards.
    comment = models.ForeignKey(
        Comment, on_delete=models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    context = models.JSONField(default=dict, blank=True, encoder=UnicodeJSONEncoder)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(reporter=F("target")), name="report_not_self"),
        ]
        indexes = [models.Index(fields=["status", "-created_at"], name="report_queue")]

    def __str__(self) -> str:
        return f"report #{self.pk} on {self.space_id} ({self.status})"


class ModerationAction(models.Model):
    """The moderation log: every host, co-host and staff action on a Space."""

    class Action(models.TextChoices):
        REQUEST_APPROVED = "request_approved", gettext_lazy("Approved a request to speak")
        REQUEST_DENIED = "request_denied", gettext_lazy("Denied a request to speak")
        SPEAKER_INVITED = "speaker_invited", gettext_lazy("Invited to speak")
        COHOST_INVITED = "cohost_invited", gettext_lazy("Invited to co-host")
        INVITATION_CANCELLED = "invitation_cancelled", gettext_lazy("Took back an invitation")
        COHOST_ADDED = "cohost_added", gettext_lazy("Became co-host")
        COHOST_REMOVED = "cohost_removed", gettext_lazy("Co-host removed")
        COHOST_STEPPED_DOWN = "cohost_stepped_down", gettext_lazy("Co-host stepped down")
        SPEAKER_DEMOTED = "speaker_demoted", gettext_lazy("Moved to the audience")
        PARTICIPANT_MUTED = "participant_muted", gettext_lazy("Muted")
        PARTICIPANT_REMOVED = "participant_removed", gettext_lazy("Removed")
        USER_BLOCKED = "user_blocked", gettext_lazy("Blocked")
        CAPTIONS_TOGGLED = "captions_toggled", gettext_lazy("Captions turned on or off")
        PIN_REMOVED = "pin_removed", gettext_lazy("Removed a pin")
        HOST_CHANGED = "host_changed", gettext_lazy("Host handed over")
        SPACE_ENDED = "space_ended", gettext_lazy("Ended the Space")
        HOST_BANNED = "host_banned", gettext_lazy("Host banned")
        RECORDING_CONSENT = "recording_consent", gettext_lazy("Recording consent changed")
        REPLAY_DELETED = "replay_deleted", gettext_lazy("Deleted the replay")
        CLIP_DELETED = "clip_deleted", gettext_lazy("Deleted a clip")
        COMMENT_DELETED = "comment_deleted", gettext_lazy("Deleted a comment")
        COMMENTS_CHANGED = "comments_changed", gettext_lazy("Changed comments (on, off, slow mode)")
        SPEAKING_POLICY_CHANGED = (
            "speaking_policy_changed",
            gettext_lazy("Changed who can ask to speak"),
        )
        STAGE_LOCKED = "stage_locked", gettext_lazy("Locked or unlocked the stage")
        MUTED_ALL = "muted_all", gettext_lazy("Muted everyone on stage")
        GUESTS_CHANGED = "guests_changed", gettext_lazy("Let guests listen, or stopped them")
        NOISE_SUPPRESSION_CHANGED = (
            "noise_suppression_changed",
            gettext_lazy("Turned noise suppression on or off"),
        )

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="moderation_actions")
    # Null: the system (or a deleted account).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    action = models.CharField(max_length=32, choices=Action.choices)
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["space", "-created_at", "-id"], name="moderation_log_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_id} in {self.space_id}"

    @property
    def label(self) -> str:
        """What the log says: the action's name, or for captions which way they were turned."""
        if self.action == self.Action.CAPTIONS_TOGGLED:
            if self.details.get("enabled"):
                return gettext("Captions turned on")
            return gettext("Captions turned off")
        if self.action == self.Action.RECORDING_CONSENT:
            if self.details.get("recorded"):
                return gettext("Agreed to be recorded")
            return gettext("Chose not to be recorded")
        return self.get_action_display()
