"""Replays and clips: every write, for the API, the site, the admin and the periodic task.

Lifecycle of a recording (`spaces.Recording`): the media worker stores parts while the Space is
live (status `recording`); after the end `recording_finalize` checks what is stored, deletes
every file no playlist names (what a process killed mid-write left behind), writes the replay's
playlist and makes it `ready`. The host, staff or the retention period delete it: files first,
then the row says `deleted` (pages answer 410), its clips with it.

Files are written before the row that names them and deleted before the row that says they are
gone, so a failure between the two leaves at worst a row pointing at nothing (which reads as
deleted), never a file nobody can find: `recording_sweep` finishes what was interrupted.

The podcast (`PodcastFeed`, off until its host turns it on): a published replay (access.py
`podcast_publishes`) also gets its audio as one M4A file (`ReplayAudio`), built by a task queued
when the replay is made, by the sweep for the replays that were made before the feed was on,
and on the spot when someone asks for a file that is missing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import IO

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from media import fmp4, hls
from replays import timeline
from replays.access import (
    podcast_publishes,
    replay_access,
    replay_audio_access,
)
from replays.models import (
    CLIP_TITLE_MAX_LENGTH,
    PODCAST_DESCRIPTION_MAX_LENGTH,
    PODCAST_TITLE_MAX_LENGTH,
    Clip,
    PodcastFeed,
    ReplayAudio,
    audio_file_name,
)
from spaces import events
from spaces import services as spaces_services
from spaces.access import access_space, lock_rows
from spaces.models import ModerationAction, Recording, Space, recording_prefix
from spaces.permissions import check_clip_live, ensure
from spaces_project import storage
from spaces_project.celery import app as celery_app
from spaces_project.counters import rate_limit
from spaces_project.errors import Conflict, Forbidden, Gone, NotFound, ValidationFailed
from spaces_project.text import clean_text

logger = logging.getLogger(__name__)

REPLAY_PLAYLIST = "index.m3u8"
LIVE_CLIP_SECONDS = 30
MAX_CLIP_SECONDS = 60
MIN_CLIP_SECONDS = 1
# A part whose origin died never says it closed; after this long past the end the replay is
# made of what was stored.
FINALIZE_GRACE_SECONDS = 120
# The same clip asked twice (a double click, a retried request) within this many seconds is
# one clip.
CLIP_REPEAT_SECONDS = 10
CLIPS_PER_MINUTE = 10
# Queued by name: replays/tasks.py imports this module.
AUDIO_TASK = "replays.tasks.replay_audio_build"
# The longest replay one M4A holds: its 32-bit durations count 48 kHz samples (24.8 hours).
MAX_AUDIO_MS = 24 * 3600 * 1000
# Podcast audio the periodic sweep builds per run, newest first (replays made before the feed
# was turned on); a build that failed is not tried again for AUDIO_RETRY_SECONDS.
AUDIO_SWEEP_BATCH = 10
AUDIO_RETRY_SECONDS = 3600

Action = ModerationAction.Action


# --- Finalizing --------------------------------------------------------------------------------


def recording_finalize_if_ended(*, space_id: int) -> None:
    """A part closed (spaces/hooks.py): make the replay now if the Space is over and every
    part is closed; otherwise the sweep will. A recording the host deleted while live kept
    being stored until its part closed: those files go now."""
    status = Recording.objects.filter(space_id=space_id).values_list("status", flat=True).first()
    if status == Recording.Status.DELETED:
        storage.delete_tree(storage.recordings(), recording_prefix(space_id))
        return
    if Space.objects.filter(pk=space_id, state=Space.State.ENDED).exists():
        recording_finalize(space_id=space_id)


def recording_finalize(*, space_id: int, force: bool = False) -> Recording | None:
    """Turn the recording of an ended Space into a replay; None if there is nothing to do yet.

    Without ``force`` it waits (returns None) while a part has not closed: its writer may
    still be storing the last seconds. Idempotent: a ready replay is left alone."""
    with transaction.atomic():
        recording = lock_rows(
            Recording.objects.filter(space_id=space_id).select_related("space")
        ).first()
        if recording is None or recording.status != Recording.Status.RECORDING:
            return None
        space = recording.space
        if space.state != Space.State.ENDED:
            return None
        store = storage.recordings()
        prefix = recording.storage_prefix
        parts = timeline.read_parts(store, prefix)
        if not force and not all(p.ended and p.summary for p in parts):
            return None
        if not parts:
            # Nothing was stored whole (a worker died in the first seconds): no replay, and
            # no file left behind.
            storage.delete_tree(store, prefix)
            recording.delete()
            return None
        size = _clean(store, prefix, parts)
        storage.put(
            store,
            f"{prefix}/{REPLAY_PLAYLIST}",
            hls.media_playlist(
                [
                    hls.Part(f"{p.name}/{p.playlist.map_uri}", p.wall_start, _prefixed(p))
                    for p in parts
                ],
                ended=True,
            ).encode(),
        )
        talk: dict[str, float] = {}
        turns: list[dict[str, int]] = []
        left_out = {str(u) for u in spaces_services.left_out_user_ids(space)}
        dropped = 0
        for part in parts:
            summary = part.summary
            if summary is None:
                continue
            for user, seconds in summary.talk_seconds.items():
                talk[user] = talk.get(user, 0.0) + seconds
            turns += [
                {"at_ms": part.offset_ms + at, "user_id": int(user)} for at, user in summary.turns
            ]
            left_out |= set(summary.left_out)
            dropped += summary.dropped_segments
        recording.timeline = [p.as_json() for p in parts]
        recording.duration_ms = parts[-1].end_ms if parts else 0
        recording.size_bytes = size
        recording.speakers = [
            {"user_id": int(u), "seconds": round(s, 1)}
            for u, s in sorted(talk.items(), key=lambda kv: -kv[1])
        ]
        recording.turns = turns
        recording.left_out = sorted(int(u) for u in left_out)
        recording.dropped_segments = dropped
        recording.status = Recording.Status.READY
        recording.ready_at = timezone.now()
        recording.save()
        if podcast_publishes(space):
            transaction.on_commit(lambda: _queue_audio_build(space_id))
    return recording


def _queue_audio_build(space_id: int) -> None:
    """Best effort: with the broker away the sweep builds it, or the first request for it."""
    try:
        celery_app.signature(AUDIO_TASK, kwargs={"space_id": space_id}).apply_async()
    except Exception:
        logger.exception("space %s: could not queue its podcast audio", space_id)


def _prefixed(part: timeline.StoredPart) -> list[hls.Segment]:
    return [
        hls.Segment(s.sequence, s.duration, f"{part.name}/{s.uri}") for s in part.playlist.segments
    ]


def _clean(store: storage.Storage, prefix: str, parts: list[timeline.StoredPart]) -> int:
    """Delete every file of the recording that no kept part names; the bytes kept."""
    keep = {f"{prefix}/{p.name}/{f}" for p in parts for f in timeline.part_files(p)}
    size = 0
    for name, length in list(storage.walk(store, prefix)):
        if name in keep:
            size += length
        elif not name.startswith(f"{prefix}/clips/") and name != f"{prefix}/{REPLAY_PLAYLIST}":
            store.delete(name)
    return size


# --- Deleting ----------------------------------------------------------------------------------


def replay_delete(*, actor: User, space_id: int, reason: str = "") -> Recording:
    """The host deletes their Space's recording (any time, live or after): its files and its
    clips. Staff take one down from the admin (`replay_take_down`). Deleting twice: 410."""
    recording = _recording_for_update(space_id)
    space = recording.space
    if space.host_id != actor.pk and space.original_host_id_or_host != actor.pk:
        raise Forbidden(gettext("Only the host can delete the replay."), code="not_host")
    return _delete(recording, by=Recording.DeletedBy.HOST, actor=actor, reason=reason)


def replay_take_down(*, staff: User, space_id: int, reason: str) -> Recording:
    if not staff.is_staff:
        raise Forbidden(gettext("Staff only."), code="not_staff")
    recording = _recording_for_update(space_id)
    return _delete(recording, by=Recording.DeletedBy.STAFF, actor=staff, reason=reason)


def _recording_for_update(space_id: int) -> Recording:
    recording = Recording.objects.filter(space_id=space_id).select_related("space").first()
    if recording is None:
        raise NotFound(gettext("This Space has no recording."), code="replay_not_found")
    if recording.status == Recording.Status.DELETED:
        raise Gone(gettext("This replay was deleted."), code="replay_deleted")
    return recording


def _delete(recording: Recording, *, by: str, actor: User | None, reason: str = "") -> Recording:
    reason = _clean_short(reason, field="reason", max_length=500)
    # The files first: a crash after this leaves a row that still says `ready` for files that
    # are gone, which the next delete (or the sweep) completes; never files without a row.
    store = storage.recordings()
    storage.delete_tree(store, recording.storage_prefix)
    now = timezone.now()
    with transaction.atomic():
        locked = lock_rows(Recording.objects.filter(pk=recording.pk)).get()
        ReplayAudio.objects.filter(recording=locked).delete()
        if locked.status != Recording.Status.DELETED:
            locked.status = Recording.Status.DELETED
            locked.deleted_at = now
            locked.deleted_by = by
            locked.reason = reason
            locked.save(update_fields=["status", "deleted_at", "deleted_by", "reason"])
            Clip.objects.filter(recording=locked, deleted_at__isnull=True).update(
                deleted_at=now, deleted_by=Clip.DeletedBy.REPLAY
            )
            if by != Recording.DeletedBy.RETENTION:
                ModerationAction.objects.create(
                    space_id=locked.space_id,
                    actor=actor,
                    action=Action.REPLAY_DELETED,
                    details={"by": by, "reason": reason},
                )
    # A podcast build that read the replay before this may have stored its file after the tree
    # was deleted; one that comes later finds the row deleted and removes its own.
    store.delete(audio_file_name(locked.space_id))
    return locked


def _clean_short(value: object, *, field: str, max_length: int) -> str:
    text = clean_text(value, field=field, strip_bidi=True)
    if len(text) > max_length:
        raise ValidationFailed(
            gettext("At most %(count)s characters.") % {"count": max_length},
            code="too_long",
            fields={field: [gettext("At most %(count)s characters.") % {"count": max_length}]},
        )
    return text


# --- Clips -------------------------------------------------------------------------------------


def clip_create(
    *,
    actor: User,
    space_id: int,
    start_ms: int | None = None,
    end_ms: int | None = None,
    title: str = "",
) -> Clip:
    """Clip a Space: the last LIVE_CLIP_SECONDS while it is live (no range), or a range of up
    to MAX_CLIP_SECONDS of its replay. Anyone who can hear it, unless the host turned clips
    off. The same request twice within CLIP_REPEAT_SECONDS returns the first clip."""
    title = _clean_short(title, field="title", max_length=CLIP_TITLE_MAX_LENGTH)
    space, me = access_space(user=actor, space_id=space_id)
    live = space.state == Space.State.LIVE
    if live:
        if start_ms is not None or end_ms is not None:
            raise ValidationFailed(
                gettext("A live clip is the last 30 seconds: send no range."), code="invalid_range"
            )
        started = Recording.objects.filter(space=space, status=Recording.Status.RECORDING).exists()
        ensure(check_clip_live(space, me, recording_started=started))
    else:
        replay_access(viewer=actor, space=space)
        if not space.clips_enabled:
            raise Conflict(gettext("The host turned clips off."), code="clips_off")
        _check_range(start_ms, end_ms)
    recording = Recording.objects.filter(space=space).first()
    if recording is None:
        raise Conflict(gettext("The recording has not started yet."), code="recording_not_started")
    if recording.status == Recording.Status.DELETED:
        raise Gone(gettext("This replay was deleted."), code="replay_deleted")
    if not live and recording.status != Recording.Status.READY:
        raise Conflict(gettext("The replay is not ready yet."), code="replay_not_ready")

    store = storage.recordings()
    parts = timeline.read_parts(store, recording.storage_prefix)
    if not parts:
        raise Conflict(gettext("The recording has not started yet."), code="recording_not_started")
    if live:
        part = parts[-1]
        end_ms = part.end_ms
        start_ms = max(part.offset_ms, end_ms - LIVE_CLIP_SECONDS * 1000)
    else:
        assert start_ms is not None
        assert end_ms is not None
        found = timeline.part_at(parts, start_ms)
        if found is None or end_ms > parts[-1].end_ms:
            raise ValidationFailed(
                gettext("The range is outside the replay."),
                code="clip_out_of_range",
                fields={
                    "end_ms": [
                        gettext("The replay lasts %(count)s ms.") % {"count": parts[-1].end_ms}
                    ]
                },
            )
        part = found
        end_ms = min(end_ms, part.end_ms)  # a clip never spans two parts
    if end_ms - start_ms < MIN_CLIP_SECONDS * 1000:
        raise Conflict(gettext("There is not enough recorded yet to clip."), code="clip_too_short")

    with transaction.atomic():
        # The author's row orders two identical requests: the second finds the first's clip.
        lock_rows(User.objects.filter(pk=actor.pk)).first()
        repeat = Clip.objects.filter(
            author=actor,
            space=space,
            deleted_at__isnull=True,
            created_at__gte=timezone.now() - timedelta(seconds=CLIP_REPEAT_SECONDS),
        )
        repeat = (
            repeat.filter(source=Clip.Source.LIVE)
            if live
            else repeat.filter(start_ms=start_ms, end_ms=end_ms)
        )
        if (earlier := repeat.order_by("-created_at").first()) is not None:
            return earlier
        rate_limit(
            f"clips:{actor.pk}",
            limit=CLIPS_PER_MINUTE,
            period=60,
            message=gettext("Too many clips at once: wait a moment."),
        )
        data = timeline.cut(store, recording.storage_prefix, part, start_ms, end_ms)
        wall = timeline.wall_of(parts, start_ms) or part.wall_start
        clip = Clip(
            space=space,
            recording=recording,
            author=actor,
            title=title,
            source=Clip.Source.LIVE if live else Clip.Source.REPLAY,
            start_ms=start_ms,
            end_ms=end_ms,
            wall_start=datetime.fromtimestamp(wall, UTC),
            size_bytes=len(data),
        )
        storage.put(store, clip.file_name, data)
        try:
            clip.save()
        except BaseException:
            store.delete(clip.file_name)
            raise
        if live:
            events.publish(space, events.CLIP_CREATED, clip=clip_event(clip))
    return clip


def _check_range(start_ms: int | None, end_ms: int | None) -> None:
    if start_ms is None or end_ms is None:
        raise ValidationFailed(
            gettext("A clip of a replay needs start_ms and end_ms."),
            code="invalid_range",
            fields={
                k: ["Required."]
                for k, v in (("start_ms", start_ms), ("end_ms", end_ms))
                if v is None
            },
        )
    if start_ms < 0 or end_ms <= start_ms:
        raise ValidationFailed(gettext("The clip must end after it starts."), code="invalid_range")
    if end_ms - start_ms > MAX_CLIP_SECONDS * 1000:
        raise ValidationFailed(
            gettext("A clip lasts at most %(count)s seconds.") % {"count": MAX_CLIP_SECONDS},
            code="clip_too_long",
        )
    if end_ms - start_ms < MIN_CLIP_SECONDS * 1000:
        raise ValidationFailed(
            gettext("A clip lasts at least %(count)s second.") % {"count": MIN_CLIP_SECONDS},
            code="clip_too_short",
        )


def clip_event(clip: Clip) -> dict[str, object]:
    return {
        "slug": clip.slug,
        "author": events.user_brief(clip.author),
        "duration_ms": clip.duration_ms,
        "url": f"/clips/{clip.slug}/",
    }


def clip_delete(*, actor: User, slug: str) -> Clip:
    """Its author or the Space's host deletes a clip (the file first). Twice: 410."""
    clip = Clip.objects.filter(slug=slug).select_related("space").first()
    if clip is None:
        raise NotFound(gettext("No such clip."), code="clip_not_found")
    if clip.is_deleted:
        raise Gone(gettext("This clip was deleted."), code="clip_deleted")
    if actor.pk == clip.author_id:
        by = Clip.DeletedBy.AUTHOR
    elif actor.pk in (clip.space.host_id, clip.space.original_host_id_or_host):
        by = Clip.DeletedBy.HOST
    elif actor.is_staff:
        by = Clip.DeletedBy.STAFF
    else:
        raise Forbidden(
            gettext("Only its author or the host can delete a clip."), code="not_clip_owner"
        )
    return _clip_delete(clip, by=by, actor=actor)


def _clip_delete(clip: Clip, *, by: str, actor: User | None) -> Clip:
    storage.recordings().delete(clip.file_name)
    with transaction.atomic():
        locked = lock_rows(Clip.objects.filter(pk=clip.pk)).get()
        if locked.deleted_at is None:
            locked.deleted_at = timezone.now()
            locked.deleted_by = by
            locked.save(update_fields=["deleted_at", "deleted_by"])
            if by in (Clip.DeletedBy.HOST, Clip.DeletedBy.STAFF):
                ModerationAction.objects.create(
                    space_id=locked.space_id,
                    actor=actor,
                    action=Action.CLIP_DELETED,
                    target_id=locked.author_id,
                    details={"clip": locked.slug, "by": by},
                )
    return locked


# --- The podcast -------------------------------------------------------------------------------


def podcast_feed_update(
    *,
    user: User,
    enabled: bool | None = None,
    title: str | None = None,
    description: str | None = None,
    category: str | None = None,
    explicit: bool | None = None,
) -> PodcastFeed:
    """Turn ``user``'s podcast feed on or off and name it; what is left out (None) stays as
    it is. Only ever the caller's own feed. Turned on, the replays they already have get their
    audio from the next sweeps (AUDIO_SWEEP_BATCH a run), so this answers at once."""
    changes: dict[str, object] = {}
    for name, flag in (("enabled", enabled), ("explicit", explicit)):
        if flag is not None:
            if not isinstance(flag, bool):
                raise ValidationFailed(
                    gettext("Must be true or false."),
                    fields={name: [gettext("Must be true or false.")]},
                )
            changes[name] = flag
    if title is not None:
        changes["title"] = _clean_short(title, field="title", max_length=PODCAST_TITLE_MAX_LENGTH)
    if description is not None:
        text = clean_text(description, field="description", multiline=True)
        if len(text) > PODCAST_DESCRIPTION_MAX_LENGTH:
            message = gettext("At most %(count)s characters.") % {
                "count": PODCAST_DESCRIPTION_MAX_LENGTH
            }
            raise ValidationFailed(message, code="too_long", fields={"description": [message]})
        changes["description"] = text
    if category is not None:
        if category not in PodcastFeed.Category.values:
            message = gettext("Not one of the podcast categories.")
            raise ValidationFailed(message, code="invalid_category", fields={"category": [message]})
        changes["category"] = category
    with transaction.atomic():
        feed, _ = PodcastFeed.objects.get_or_create(user=user)
        feed = lock_rows(PodcastFeed.objects.filter(pk=feed.pk)).get()
        for name, value in changes.items():
            setattr(feed, name, value)
        if changes:
            feed.save()
    return feed


def replay_audio_build(*, space_id: int) -> ReplayAudio | None:
    """Store the replay's audio as one M4A (`audio_file_name`) and its row; None when there is
    no ready replay (or it is too long for one file). Idempotent: the same bytes each time.

    Built outside any transaction (it reads every segment), stored, then the row written under
    the recording's row lock: if the replay was deleted meanwhile, the file goes again."""
    recording = Recording.objects.filter(space_id=space_id).first()
    if recording is None or recording.status != Recording.Status.READY:
        return None
    if recording.duration_ms > MAX_AUDIO_MS:
        logger.warning("space %s: the replay is too long for one audio file", space_id)
        return None
    store = storage.recordings()
    parts = timeline.read_parts(store, recording.storage_prefix)
    if not parts:
        return None
    data = timeline.whole(store, recording.storage_prefix, parts)
    name = audio_file_name(space_id)
    storage.put(store, name, data)
    packets = sum(p.duration_ms // timeline.TICK_MS for p in parts)
    shown = packets * fmp4.FRAME_SAMPLES - fmp4.PRE_SKIP
    with transaction.atomic():
        locked = lock_rows(Recording.objects.filter(pk=recording.pk)).get()
        if locked.status != Recording.Status.READY:
            store.delete(name)
            return None
        audio, _ = ReplayAudio.objects.update_or_create(
            recording=locked,
            defaults={
                "size_bytes": len(data),
                "duration_ms": shown * 1000 // fmp4.SAMPLE_RATE,
                "built_at": timezone.now(),
            },
        )
    return audio


def replay_audio_open(*, viewer: User | None, space_id: int) -> tuple[ReplayAudio, IO[bytes]]:
    """The replay's audio row and its file, open for reading (the caller closes it); built now
    when it is missing. The replay's access rule, or none for a replay its host publishes as a
    podcast (access.py `replay_audio_access`)."""
    recording = Recording.objects.filter(space_id=space_id).select_related("space").first()
    if recording is None:
        if not Space.objects.filter(pk=space_id).exists():
            raise NotFound(gettext("No such Space."), code="space_not_found")
        raise NotFound(gettext("This Space has no replay."), code="replay_not_found")
    replay_audio_access(viewer=viewer, space=recording.space)
    if recording.status == Recording.Status.DELETED:
        raise Gone(gettext("This replay was deleted."), code="replay_deleted")
    if recording.status != Recording.Status.READY:
        raise Conflict(gettext("The replay is not ready yet."), code="replay_not_ready")
    store = storage.recordings()
    audio = ReplayAudio.objects.filter(recording=recording).first()
    for _ in range(2):
        if audio is not None:
            try:
                return audio, store.open(audio_file_name(space_id), "rb")
            except FileNotFoundError:
                pass  # lost (a storage restored from an older copy): made again below
        audio = replay_audio_build(space_id=space_id)
        if audio is None:
            break
    raise Conflict(gettext("The replay's audio is not available."), code="replay_audio_unavailable")


def podcast_audio_sweep(*, limit: int = AUDIO_SWEEP_BATCH) -> int:
    """Build the audio of published replays that have none yet, newest first: those made before
    their host turned the feed on, or whose task was lost. The number built."""
    on = PodcastFeed.objects.filter(enabled=True, user__is_active=True).values("user_id")
    waiting = (
        Recording.objects.filter(
            status=Recording.Status.READY,
            space__is_ticketed=False,
            audio__isnull=True,
            duration_ms__lte=MAX_AUDIO_MS,
        )
        .filter(
            Q(space__original_host_id__in=on)
            | Q(space__original_host__isnull=True, space__host_id__in=on)
        )
        .order_by("-ready_at")
        .values_list("space_id", flat=True)
    )
    built = 0
    for space_id in list(waiting[: limit * 2]):
        if built >= limit:
            break
        failed = f"replays:audio-failed:{space_id}"
        if cache.get(failed):
            continue
        try:
            if replay_audio_build(space_id=space_id) is not None:
                built += 1
        except Exception:
            logger.exception("space %s: building its podcast audio failed", space_id)
            cache.set(failed, 1, AUDIO_RETRY_SECONDS)
    return built


# --- The periodic sweep ------------------------------------------------------------------------


def recording_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Finalize recordings of Spaces that ended FINALIZE_GRACE_SECONDS ago and are still not
    replays (their origin died), and delete replays and clips past the retention period
    (`SPACES_RECORDING_RETENTION_DAYS`; 0 keeps them), and build the podcast audio still
    missing. Safe to run twice at once: every step re-checks under a row lock."""
    now = now or timezone.now()
    done = {"finalized": 0, "expired_replays": 0, "expired_clips": 0, "audio_built": 0}
    stale = Recording.objects.filter(
        status=Recording.Status.RECORDING,
        space__state=Space.State.ENDED,
        space__ended_at__lte=now - timedelta(seconds=FINALIZE_GRACE_SECONDS),
    ).values_list("space_id", flat=True)
    for space_id in list(stale[:100]):
        try:
            if recording_finalize(space_id=space_id, force=True) is not None:
                done["finalized"] += 1
        except Exception:
            logger.exception("space %s: finalizing the recording failed", space_id)
    days = settings.SPACES_RECORDING_RETENTION_DAYS
    if days > 0:
        cutoff = now - timedelta(days=days)
        for recording in Recording.objects.filter(
            status=Recording.Status.READY, ready_at__lt=cutoff
        ).select_related("space")[:100]:
            _delete(recording, by=Recording.DeletedBy.RETENTION, actor=None)
            done["expired_replays"] += 1
        for clip in Clip.objects.filter(deleted_at__isnull=True, created_at__lt=cutoff)[:500]:
            _clip_delete(clip, by=Clip.DeletedBy.RETENTION, actor=None)
            done["expired_clips"] += 1
    done["audio_built"] = podcast_audio_sweep()
    return done
