"""Reads of replays and clips, each behind the same access rule (replays/access.py).

Captions, chapters, reactions and comments were recorded against wall time; the replay's
timeline (`Recording.timeline`) puts them on the replay's clock, and leaves out what was said
while its speaker kept their voice out of the recording: their words are not in the replay's
audio, so they are not in its transcript either. Comments are text, not voice: they all stay,
each at its place (one posted while nothing was recorded at the next moment that was).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import (
    BigIntegerField,
    Count,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.selectors import blocked_ids, blocker_ids, is_blocked
from media.recording import INIT, PLAYLIST
from replays import timeline
from replays.access import podcast_owner_q, replay_access, replay_audio_access
from replays.models import Clip, PodcastFeed, ReplayAudio
from replays.services import MAX_AUDIO_MS, REPLAY_PLAYLIST
from spaces.models import (
    CaptionLine,
    Comment,
    ModerationAction,
    ReactionBucket,
    Recording,
    Space,
)
from spaces_project import storage
from spaces_project.errors import Conflict, Gone, NotFound

# A caption line is shown until the next one starts, at most this long.
CUE_MAX_MS = 6000
# A comment is marked as the latest on the replay page until the next one, at most this long.
COMMENT_MARK_MS = 10_000
# Comments the replay page lists (the API pages through all of them).
PAGE_COMMENTS = 500
# Episodes in a podcast feed, newest first: podcast apps re-read the whole feed every time.
PODCAST_ITEMS = 100
# Names of the files a replay is made of, relative to its folder: the playlist, then a part's
# init segment, segments and playlist. Anything else is refused before storage is asked.
_FILE = re.compile(
    rf"^(?:{re.escape(REPLAY_PLAYLIST)}|\d{{13}}-[0-9a-f]{{8}}/(?:{re.escape(INIT)}|\d{{5}}\.m4s|{re.escape(PLAYLIST)}))$"
)


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    text: str
    speaker: User | None


@dataclass(frozen=True)
class Chapter:
    start_ms: int
    speaker: User


@dataclass
class Replay:
    space: Space
    recording: Recording
    speakers: list[tuple[User, float]]
    left_out: list[User]
    chapters: list[Chapter]
    cues: list[Cue]
    reactions: list[dict[str, object]]
    clips: list[Clip] = field(default_factory=list)
    can_delete: bool = False
    can_clip: bool = False


def _ready_recording(
    space_id: int, viewer: User | None, *, access: Callable[..., None] = replay_access
) -> Recording:
    recording = (
        Recording.objects.filter(space_id=space_id).select_related("space", "space__host").first()
    )
    if recording is None:
        if not Space.objects.filter(pk=space_id).exists():
            raise NotFound(_("No such Space."), code="space_not_found")
        raise NotFound(_("This Space has no replay."), code="replay_not_found")
    access(viewer=viewer, space=recording.space)
    if recording.status == Recording.Status.DELETED:
        raise Gone(_("This replay was deleted."), code="replay_deleted")
    if recording.status != Recording.Status.READY:
        raise Conflict(
            _("The replay is not ready yet: it is made when the Space ends."),
            code="replay_not_ready",
        )
    return recording


def replay_for(*, viewer: User, space_id: int) -> Replay:
    """Everything the replay page and the API show."""
    recording = _ready_recording(space_id, viewer)
    space = recording.space
    ids = {s["user_id"] for s in recording.speakers} | {t["user_id"] for t in recording.turns}
    ids |= set(recording.left_out)
    users = User.objects.in_bulk(ids)
    speakers = [
        (users[s["user_id"]], float(s["seconds"]))
        for s in recording.speakers
        if s["user_id"] in users
    ]
    chapters = [
        Chapter(int(t["at_ms"]), users[t["user_id"]])
        for t in recording.turns
        if t["user_id"] in users
    ]
    clips = list(
        Clip.objects.filter(recording=recording, deleted_at__isnull=True)
        .exclude(author_id__in=blocker_ids(blocked=viewer))
        .exclude(author_id__in=blocked_ids(blocker=viewer))
        .select_related("author")
        .order_by("-created_at")[:20]
    )
    is_host = viewer.pk in (space.host_id, space.original_host_id_or_host)
    return Replay(
        space=space,
        recording=recording,
        speakers=speakers,
        left_out=[users[u] for u in recording.left_out if u in users],
        chapters=chapters,
        cues=replay_cues(recording),
        reactions=reaction_timeline(recording),
        clips=clips,
        can_delete=is_host,
        can_clip=space.clips_enabled,
    )


def _opted_out_spans(space_id: int) -> dict[int, list[tuple[datetime, datetime | None]]]:
    """Per user, when their voice was kept out of the recording (from the moderation log)."""
    spans: dict[int, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    entries = ModerationAction.objects.filter(
        space_id=space_id, action=ModerationAction.Action.RECORDING_CONSENT
    ).order_by("created_at", "id")
    for entry in entries.values("target_id", "details", "created_at"):
        user, recorded, at = (
            entry["target_id"],
            entry["details"].get("recorded"),
            entry["created_at"],
        )
        if user is None:
            continue
        if not recorded and (not spans[user] or spans[user][-1][1] is not None):
            spans[user].append((at, None))
        elif recorded and spans[user] and spans[user][-1][1] is None:
            spans[user][-1] = (spans[user][-1][0], at)
    return spans


def _was_left_out(spans: list[tuple[datetime, datetime | None]], at: datetime) -> bool:
    return any(start <= at and (end is None or at < end) for start, end in spans)


def replay_cues(recording: Recording, *, start_ms: int = 0, end_ms: int | None = None) -> list[Cue]:
    """The transcript on the replay's clock, optionally only from ``start_ms`` to ``end_ms``."""
    parts = recording.timeline
    spans = _opted_out_spans(recording.space_id)
    lines = CaptionLine.objects.filter(space_id=recording.space_id).select_related("speaker")
    placed: list[tuple[int, CaptionLine]] = []
    for line in lines.order_by("started_at", "id"):
        if line.speaker_id is not None and _was_left_out(
            spans.get(line.speaker_id, []), line.started_at
        ):
            continue
        position = timeline.position_of(parts, line.started_at.timestamp())
        if position is not None:
            placed.append((position, line))
    cues: list[Cue] = []
    for n, (position, line) in enumerate(placed):
        following = placed[n + 1][0] if n + 1 < len(placed) else position + CUE_MAX_MS
        end = min(max(following, position + 500), position + CUE_MAX_MS)
        if end <= start_ms or (end_ms is not None and position >= end_ms):
            continue
        cues.append(Cue(position, end, line.text, line.speaker))
    return cues


def reaction_timeline(recording: Recording) -> list[dict[str, object]]:
    """Reactions per 10-second window on the replay's clock: [{"at_ms", "total", "counts"}]."""
    windows: dict[int, dict[str, int]] = defaultdict(dict)
    for bucket in ReactionBucket.objects.filter(space_id=recording.space_id).order_by("at"):
        position = timeline.position_of(recording.timeline, bucket.at.timestamp())
        if position is None:
            continue
        at = position // (ReactionBucket.SECONDS * 1000) * ReactionBucket.SECONDS * 1000
        windows[at][bucket.code] = windows[at].get(bucket.code, 0) + bucket.count
    return [
        {"at_ms": at, "total": sum(counts.values()), "counts": counts}
        for at, counts in sorted(windows.items())
    ]


@dataclass(frozen=True)
class ReplayComment:
    at_ms: int
    comment: Comment


def replay_comments(*, viewer: User, space_id: int) -> tuple[Recording, QuerySet[Comment]]:
    """The replay (behind its access rule) and its comments, oldest first: not deleted ones,
    nor those of people `viewer` blocked (as live). `place_comments` puts a page of them on
    the replay's clock."""
    recording = _ready_recording(space_id, viewer)
    return recording, _comments_of(recording, viewer)


def _comments_of(recording: Recording, viewer: User) -> QuerySet[Comment]:
    return (
        Comment.objects.filter(space_id=recording.space_id, deleted_at__isnull=True)
        .exclude(author_id__in=blocked_ids(blocker=viewer))
        .select_related("author")
        .order_by("created_at", "id")
    )


def place_comments(recording: Recording, comments: Iterable[Comment]) -> list[ReplayComment]:
    """`comments` on the replay's clock. One posted while nothing was recorded (before the
    first part, between parts) goes where the replay resumes, one after the last part at its
    end: the replay leaves gaps out, and a comment is still worth reading there."""
    parts = recording.timeline
    return [
        ReplayComment(_position_near(parts, c.created_at.timestamp(), recording.duration_ms), c)
        for c in comments
    ]


def _position_near(parts: list[dict[str, object]], wall: float, duration_ms: int) -> int:
    position = timeline.position_of(parts, wall)
    if position is not None:
        return min(position, duration_ms)
    for part in parts:
        if float(str(part["wall_start"])) > wall:
            return int(str(part["offset_ms"]))
    return duration_ms


def replay_comments_page(
    recording: Recording, viewer: User, *, limit: int = PAGE_COMMENTS
) -> tuple[list[dict[str, object]], int]:
    """The first `limit` comments for the replay page, placed, each with `end_ms` (the next
    one's moment, at most COMMENT_MARK_MS on), and how many there are in all."""
    rows = _comments_of(recording, viewer)
    placed = place_comments(recording, rows[: limit + 1])
    total = len(placed) if len(placed) <= limit else rows.count()
    placed = placed[:limit]
    out: list[dict[str, object]] = []
    for n, item in enumerate(placed):
        following = placed[n + 1].at_ms if n + 1 < len(placed) else item.at_ms + COMMENT_MARK_MS
        end = min(max(following, item.at_ms + 500), item.at_ms + COMMENT_MARK_MS)
        out.append({"at_ms": item.at_ms, "end_ms": end, "comment": item.comment})
    return out, total


def _vtt_time(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _vtt_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webvtt(cues: list[tuple[int, int, str]]) -> str:
    out = ["WEBVTT", ""]
    for n, (start, end, text) in enumerate(cues, 1):
        out += [str(n), f"{_vtt_time(start)} --> {_vtt_time(end)}", _vtt_text(text), ""]
    return "\n".join(out)


def replay_captions_vtt(*, viewer: User, space_id: int) -> str:
    """The transcript as WebVTT, each line led by its speaker's name (`<v Name>`)."""
    recording = _ready_recording(space_id, viewer)
    out = ["WEBVTT", ""]
    for n, cue in enumerate(replay_cues(recording), 1):
        voice = f"<v {_vtt_text(cue.speaker.name)}>" if cue.speaker is not None else ""
        out += [
            str(n),
            f"{_vtt_time(cue.start_ms)} --> {_vtt_time(cue.end_ms)}",
            voice + _vtt_text(cue.text),
            "",
        ]
    return "\n".join(out)


def replay_chapters_vtt(*, viewer: User, space_id: int) -> str:
    """Chapters at speaker turns, as a WebVTT chapters track."""
    replay = replay_for(viewer=viewer, space_id=space_id)
    duration = replay.recording.duration_ms
    chapters = replay.chapters
    cues = [
        (
            c.start_ms,
            chapters[n + 1].start_ms if n + 1 < len(chapters) else duration,
            c.speaker.name,
        )
        for n, c in enumerate(chapters)
    ]
    return webvtt([c for c in cues if c[1] > c[0]])


def replay_file(*, viewer: User, space_id: int, name: str) -> tuple[bytes, str]:
    """A file of the replay (playlist, init segment, segment) and its content type."""
    if not _FILE.match(name):
        raise NotFound(_("No such file."), code="not_found")
    recording = _ready_recording(space_id, viewer)
    try:
        data = storage.get(storage.recordings(), f"{recording.storage_prefix}/{name}")
    except FileNotFoundError as exc:
        raise NotFound(_("No such file."), code="not_found") from exc
    if name.endswith(".m3u8"):
        return data, "application/vnd.apple.mpegurl"
    return data, "audio/mp4"


def replay_chapters_json(*, viewer: User | None, space_id: int) -> dict[str, object]:
    """The chapters as Podcasting 2.0 JSON chapters (`application/json+chapters`, version
    1.2.0), for a podcast app: the same access as the replay's single-file audio."""
    recording = _ready_recording(space_id, viewer, access=replay_audio_access)
    names = User.objects.in_bulk({t["user_id"] for t in recording.turns})
    return {
        "version": "1.2.0",
        "chapters": [
            {"startTime": c.start_ms / 1000, "title": c.speaker.name}
            for c in _chapters_of(recording, names)
        ],
    }


def _chapters_of(recording: Recording, users: dict[int, User]) -> list[Chapter]:
    """Speaker turns inside the replay, in order, one per moment (a podcast app's chapters)."""
    out: list[Chapter] = []
    for turn in sorted(recording.turns, key=lambda t: int(t["at_ms"])):
        at, user = int(turn["at_ms"]), users.get(int(turn["user_id"]))
        if user is None or at >= recording.duration_ms or (out and out[-1].start_ms == at):
            continue
        out.append(Chapter(at, user))
    return out


# --- Clips ---------------------------------------------------------------------------------------


@dataclass
class ClipView:
    clip: Clip
    cues: list[Cue]
    can_delete: bool


def _clip(slug: str, viewer: User | None) -> Clip:
    clip = Clip.objects.filter(slug=slug).select_related("space", "space__host", "author").first()
    if clip is None:
        raise NotFound(_("No such clip."), code="clip_not_found")
    replay_access(viewer=viewer, space=clip.space)
    if clip.is_deleted:
        raise Gone(_("This clip was deleted."), code="clip_deleted")
    return clip


def clip_for(*, viewer: User, slug: str) -> ClipView:
    clip = _clip(slug, viewer)
    recording = Recording.objects.get(pk=clip.recording_id)
    cues = (
        [
            Cue(max(0, c.start_ms - clip.start_ms), c.end_ms - clip.start_ms, c.text, c.speaker)
            for c in replay_cues(recording, start_ms=clip.start_ms, end_ms=clip.end_ms)
        ]
        if recording.timeline
        else _live_cues(clip)
    )
    space = clip.space
    can_delete = viewer.pk in (clip.author_id, space.host_id, space.original_host_id_or_host)
    return ClipView(clip, cues, can_delete)


def _live_cues(clip: Clip) -> list[Cue]:
    """A clip made live, before the replay has its timeline: lines by wall time."""
    start = clip.wall_start
    spans = _opted_out_spans(clip.space_id)
    cues = []
    for line in (
        CaptionLine.objects.filter(space_id=clip.space_id, started_at__gte=start)
        .select_related("speaker")
        .order_by("started_at")[:200]
    ):
        at = round((line.started_at - start).total_seconds() * 1000)
        if at >= clip.duration_ms:
            break
        if line.speaker_id is not None and _was_left_out(
            spans.get(line.speaker_id, []), line.started_at
        ):
            continue
        cues.append(Cue(at, min(at + CUE_MAX_MS, clip.duration_ms), line.text, line.speaker))
    return cues


def clip_file(*, viewer: User, slug: str) -> bytes:
    clip = _clip(slug, viewer)
    try:
        return storage.get(storage.recordings(), clip.file_name)
    except FileNotFoundError as exc:
        raise Gone(_("This clip was deleted."), code="clip_deleted") from exc


def clips_of_space(*, viewer: User, space_id: int) -> QuerySet[Clip]:
    space = Space.objects.filter(pk=space_id).first()
    if space is None:
        raise NotFound(_("No such Space."), code="space_not_found")
    replay_access(viewer=viewer, space=space)
    return (
        Clip.objects.filter(space=space, deleted_at__isnull=True)
        .exclude(author_id__in=blocker_ids(blocked=viewer))
        .exclude(author_id__in=blocked_ids(blocker=viewer))
        .select_related("author")
        .order_by("-created_at")
    )


# --- Lists ---------------------------------------------------------------------------------------


def replays_of_host(*, viewer: User, host: User) -> QuerySet[Recording]:
    """The host's replays, newest first: nothing for someone the host blocked."""
    qs = Recording.objects.filter(status=Recording.Status.READY, space__host=host).select_related(
        "space", "space__host"
    )
    if host.pk != viewer.pk and is_blocked(blocker_id=host.pk, blocked_id=viewer.pk):
        return qs.none()
    return qs.order_by("-space__ended_at")


# --- The podcast ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Episode:
    space: Space
    recording: Recording
    audio: ReplayAudio
    speakers: list[User]
    chapters: list[Chapter]


@dataclass(frozen=True)
class Podcast:
    host: User
    feed: PodcastFeed
    episodes: list[Episode]
    updated_at: datetime
    """The newest of the feed's settings and its episodes' audio: the channel's lastBuildDate."""


def _published(host: User) -> QuerySet[Recording]:
    """The replays a podcast of ``host`` may list: ready, of public Spaces they started
    (access.py `podcast_publishes`; the feed being on is the caller's check)."""
    return Recording.objects.filter(
        podcast_owner_q(host), status=Recording.Status.READY, space__is_ticketed=False
    )


def podcast_for(*, username: str, viewer: User | None = None) -> Podcast:
    """A host's podcast feed: NotFound `podcast_not_found` for an unknown or inactive user, a
    feed that is off, or a signed-in viewer the host blocked (as their profile). Its
    PODCAST_ITEMS newest episodes with their audio built; one query for the speakers' names."""
    host = User.objects.filter(is_active=True, username__iexact=username).first()
    feed = PodcastFeed.objects.filter(user=host, enabled=True).first() if host else None
    if host is None or feed is None:
        raise NotFound(_("No such podcast."), code="podcast_not_found")
    if (
        viewer is not None
        and viewer.is_authenticated
        and viewer.pk != host.pk
        and is_blocked(blocker_id=host.pk, blocked_id=viewer.pk)
    ):
        raise NotFound(_("No such podcast."), code="podcast_not_found")
    recordings = list(
        _published(host)
        .filter(audio__isnull=False)
        .select_related("space", "audio")
        .order_by("-space__ended_at", "-space_id")[:PODCAST_ITEMS]
    )
    ids = {t["user_id"] for r in recordings for t in r.turns}
    ids |= {s["user_id"] for r in recordings for s in r.speakers}
    users = User.objects.in_bulk(ids)
    episodes = [
        Episode(
            space=r.space,
            recording=r,
            audio=r.audio,
            speakers=[users[s["user_id"]] for s in r.speakers if s["user_id"] in users],
            chapters=_chapters_of(r, users),
        )
        for r in recordings
    ]
    updated = max([feed.updated_at, *(e.audio.built_at for e in episodes)])
    return Podcast(host=host, feed=feed, episodes=episodes, updated_at=updated)


@dataclass(frozen=True)
class PodcastStatus:
    """The host's own view of their feed (the settings page and `GET /api/v1/me/podcast`)."""

    feed: PodcastFeed
    episodes: int
    """Published replays whose audio is ready (the feed lists at most PODCAST_ITEMS)."""
    preparing: int
    """Published replays whose audio is not built yet (the sweep builds them)."""
    ticketed: int
    """Replays of ticketed Spaces, which are never in the feed."""


def podcast_status(*, user: User) -> PodcastStatus:
    feed = PodcastFeed.objects.filter(user=user).first() or PodcastFeed(user=user)
    published = _published(user).aggregate(
        ready=Count("pk", filter=Q(audio__isnull=False)),
        waiting=Count("pk", filter=Q(audio__isnull=True, duration_ms__lte=MAX_AUDIO_MS)),
    )
    ticketed = Recording.objects.filter(
        podcast_owner_q(user), status=Recording.Status.READY, space__is_ticketed=True
    ).count()
    return PodcastStatus(
        feed=feed,
        episodes=published["ready"],
        preparing=published["waiting"] if feed.enabled else 0,
        ticketed=ticketed,
    )


def storage_by_host(users: QuerySet[User] | None = None) -> QuerySet[User]:
    """For the admin: bytes of replays and clips kept per host (`users`: the admin's proxy).
    Clips are summed in a subquery: joined beside the recordings they would repeat each
    recording's bytes once per clip."""
    kept = Q(
        hosted_spaces__recording__status__in=[Recording.Status.READY, Recording.Status.RECORDING]
    )
    clip_bytes = (
        Clip.objects.filter(space__host=OuterRef("pk"), deleted_at__isnull=True)
        .order_by()
        .values("space__host")
        .annotate(total=Sum("size_bytes"))
        .values("total")[:1]
    )
    return (
        (users if users is not None else User.objects.all())
        .filter(kept)
        .annotate(
            replay_bytes=Sum("hosted_spaces__recording__size_bytes", filter=kept),
            replays=Count("hosted_spaces__recording", filter=kept),
            clip_bytes=Coalesce(Subquery(clip_bytes), 0, output_field=BigIntegerField()),
        )
        .annotate(
            total_bytes=ExpressionWrapper(
                F("replay_bytes") + F("clip_bytes"), output_field=BigIntegerField()
            )
        )
        .order_by("-total_bytes", "pk")
    )
