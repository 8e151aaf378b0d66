"""Replays and clips through their services, on real files: the media worker's recorder writes
Opus segments into the temporary recordings storage, and every check reads them back."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import av
import numpy as np
import pytest
from django.utils import timezone

from media import fmp4, hls
from media.client import tone_amplitude
from media.dsp import OpusEncoder, frame_to_mono
from media.recording import Recorder
from replays import selectors, services
from replays.models import Clip
from spaces import services as spaces_services
from spaces.audio.recording import StorageSink
from spaces.models import CaptionLine, ModerationAction, Recording, Space
from spaces_project import storage
from spaces_project.errors import (
    ApplicationError,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    ValidationFailed,
)
from tests.factories import (
    BlockFactory,
    SpaceFactory,
    UserFactory,
    ended_space,
    join,
    make_replay,
    make_speaker,
    participant,
)
from tests.helpers import event_types
from tests.replays.conftest import REPLAY_SECONDS, stored_files

pytestmark = pytest.mark.django_db

Action = ModerationAction.Action


def refused(call, kind: type[ApplicationError], code: str) -> ApplicationError:
    with pytest.raises(kind) as caught:
        call()
    assert caught.value.code == code, caught.value.message
    return caught.value


def tone_packets(frequency: float, count: int) -> list[bytes]:
    encoder = OpusEncoder()
    n = fmp4.FRAME_SAMPLES
    t = np.arange(count * n)
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * frequency * t / fmp4.SAMPLE_RATE)).astype(np.int16)
    return [p for i in range(count) for p in encoder.encode(pcm[i * n : (i + 1) * n])]


def decoded(data: bytes) -> np.ndarray:
    """A clip's audio through FFmpeg's own MP4 demuxer and Opus decoder."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
        return np.concatenate([frame_to_mono(f) for f in container.decode(stream)])


def wait_for(condition, within: float = 30.0) -> bool:
    """Bounds how long a broken run waits for the recorder's thread; no timing is asserted."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# --- From the worker's recorder to a replay ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_workers_recording_becomes_a_replay_when_its_part_closes_after_the_end():
    host = UserFactory(username="hostess")
    space = SpaceFactory(host=host)
    guest = make_speaker(space)
    wall = time.time()
    part = f"{int(wall * 1000):013d}-{7:08x}"
    recorder = Recorder(StorageSink(space.pk), part=part, wall_start=wall, first_index=0)

    for i, packet in enumerate(tone_packets(440.0, 500)):  # 10 s
        recorder.add(i, packet)
        if i % 10 == 9:  # a levels window every 200 ms: the host, then the guest
            recorder.note_speaking([host.pk if i < 250 else guest.pk], 0.2, i)
    # The first stored segment creates the row, from the recorder's own thread.
    assert wait_for(lambda: Recording.objects.filter(space=space).exists())
    assert Recording.objects.get(space=space).status == Recording.Status.RECORDING
    spaces_services.space_end(actor=host, space_id=space.pk)
    recorder.close()
    assert recorder.wait_closed(30)

    recording = Recording.objects.get(space=space)
    assert recording.status == Recording.Status.READY
    assert recording.duration_ms == 10_000
    assert recording.timeline == [
        {"name": part, "wall_start": pytest.approx(wall, abs=1e-3), "offset_ms": 0,
         "duration_ms": 10_000}
    ]  # fmt: skip
    assert recording.speakers == [
        {"user_id": host.pk, "seconds": 5.0},
        {"user_id": guest.pk, "seconds": 5.0},
    ]
    assert [t["user_id"] for t in recording.turns] == [host.pk, guest.pk]
    store, prefix = storage.recordings(), recording.storage_prefix
    assert recording.size_bytes == sum(size for _, size in storage.walk(store, f"{prefix}/{part}"))
    playlist = storage.get(store, f"{prefix}/{services.REPLAY_PLAYLIST}")
    (replay,), ended = hls.parse_media_playlist(playlist.decode())
    assert ended
    assert replay.map_uri == f"{part}/init.mp4"
    assert [s.uri for s in replay.segments] == [f"{part}/{n:05d}.m4s" for n in range(5)]


def test_finalizing_deletes_every_file_no_playlist_names_and_keeps_the_rest(host):
    space = SpaceFactory(host=host, started_at=timezone.now() - timedelta(seconds=30))
    make_replay(space, seconds=6.0)
    store = storage.recordings()
    prefix = f"spaces/{space.pk}"
    (part,), _ = store.listdir(prefix)
    whole = stored_files(space)
    # What a worker killed mid-write leaves: a temporary file, a segment stored after the last
    # playlist, and a part that never stored a whole segment.
    strays = [
        f"{prefix}/{part}/tmpk1ll3d{storage.TEMPORARY_SUFFIX}",
        f"{prefix}/{part}/00099.m4s",
        f"{prefix}/9999999999999-deadbeef/00000.m4s{storage.TEMPORARY_SUFFIX}",
    ]
    for name in strays:
        storage.put(store, name, b"half a segment")
    spaces_services.space_end(actor=host, space_id=space.pk)

    ready = services.recording_finalize(space_id=space.pk)

    assert ready is not None
    assert ready.status == Recording.Status.READY
    assert stored_files(space) == sorted([*whole, f"{prefix}/{services.REPLAY_PLAYLIST}"])
    assert ready.size_bytes == sum(size for _, size in storage.walk(store, f"{prefix}/{part}"))
    assert services.recording_finalize(space_id=space.pk) is None  # already a replay


def test_a_live_recording_is_not_finalized_and_one_whose_origin_died_is_by_the_sweep(host):
    space = SpaceFactory(host=host, started_at=timezone.now() - timedelta(seconds=30))
    make_replay(space, seconds=4.0)
    assert services.recording_finalize(space_id=space.pk) is None  # still live
    Space.objects.filter(pk=space.pk).update(
        state=Space.State.ENDED,
        ended_at=timezone.now() - timedelta(seconds=services.FINALIZE_GRACE_SECONDS + 1),
    )

    done = services.recording_sweep()

    assert done["finalized"] == 1
    assert Recording.objects.get(space=space).status == Recording.Status.READY


# --- Clips ---------------------------------------------------------------------------------------


def test_a_clip_of_the_replay_is_cut_from_its_segments_and_plays(ended, listener):
    clip = services.clip_create(
        actor=listener, space_id=ended.pk, start_ms=2500, end_ms=5500, title="  The  best bit "
    )

    assert (clip.source, clip.start_ms, clip.end_ms, clip.title) == (
        Clip.Source.REPLAY,
        2500,
        5500,
        "The best bit",
    )
    data = storage.get(storage.recordings(), clip.file_name)
    assert clip.size_bytes == len(data)
    pcm = decoded(data)
    # Exactly the range: the warm-up packets before it are decoded and skipped (pre-skip).
    assert len(pcm) == 3 * fmp4.SAMPLE_RATE
    assert tone_amplitude(pcm[4800:], 440.0) > 0.1  # the recorded tone, not silence


@pytest.mark.parametrize(
    ("start_ms", "end_ms", "code"),
    [
        (5000, 4000, "invalid_range"),
        (3000, 3000, "invalid_range"),
        (None, 4000, "invalid_range"),
        (0, 61_000, "clip_too_long"),
        (1000, 1500, "clip_too_short"),
        (9_000, 12_000, "clip_out_of_range"),
        (20_000, 30_000, "clip_out_of_range"),
    ],
)
def test_a_bad_clip_range_is_refused_and_writes_nothing(ended, listener, start_ms, end_ms, code):
    before = stored_files(ended)
    refused(
        lambda: services.clip_create(
            actor=listener, space_id=ended.pk, start_ms=start_ms, end_ms=end_ms
        ),
        ValidationFailed,
        code,
    )
    assert stored_files(ended) == before
    assert not Clip.objects.exists()


def test_the_same_clip_asked_twice_at_once_is_one_clip(ended, listener):
    first = services.clip_create(actor=listener, space_id=ended.pk, start_ms=1000, end_ms=4000)
    again = services.clip_create(actor=listener, space_id=ended.pk, start_ms=1000, end_ms=4000)
    other = services.clip_create(actor=listener, space_id=ended.pk, start_ms=1000, end_ms=5000)

    assert again.pk == first.pk
    assert other.pk != first.pk
    clips = [n for n in stored_files(ended) if "/clips/" in n]
    assert clips == sorted([first.file_name, other.file_name])


def test_clipping_a_deleted_replay_is_gone(ended, listener):
    services.replay_delete(actor=ended.host, space_id=ended.pk)
    refused(
        lambda: services.clip_create(actor=listener, space_id=ended.pk, start_ms=0, end_ms=2000),
        Gone,
        "replay_deleted",
    )


def test_someone_the_host_blocked_cannot_clip_and_sees_no_space(ended, listener):
    BlockFactory(blocker=ended.host, blocked=listener)
    refused(
        lambda: services.clip_create(actor=listener, space_id=ended.pk, start_ms=0, end_ms=2000),
        NotFound,
        "space_not_found",
    )
    refused(
        lambda: selectors.replay_for(viewer=listener, space_id=ended.pk),
        NotFound,
        "space_not_found",
    )


def test_a_ticketed_replay_is_for_ticket_holders(host, listener):
    space = ended_space(host=host, is_ticketed=True)
    make_replay(space, seconds=4.0)

    refused(
        lambda: services.clip_create(actor=listener, space_id=space.pk, start_ms=0, end_ms=2000),
        Forbidden,
        "ticket_required",
    )
    refused(
        lambda: selectors.replay_for(viewer=listener, space_id=space.pk),
        Forbidden,
        "ticket_required",
    )
    assert selectors.replay_for(viewer=host, space_id=space.pk).can_delete


def test_no_clip_when_the_host_turned_clips_off(ended, listener):
    Space.objects.filter(pk=ended.pk).update(clips_enabled=False)
    refused(
        lambda: services.clip_create(actor=listener, space_id=ended.pk, start_ms=0, end_ms=2000),
        Conflict,
        "clips_off",
    )
    assert selectors.replay_for(viewer=listener, space_id=ended.pk).can_clip is False


def test_a_live_clip_is_the_last_seconds_recorded_and_tells_the_room(
    live, listener, published, committed
):
    join(live, listener)
    with committed():
        clip = services.clip_create(actor=listener, space_id=live.pk, title="live!")

    assert (clip.source, clip.start_ms, clip.end_ms) == (Clip.Source.LIVE, 0, 6000)
    assert event_types(published)[-1] == "clip.created"
    assert published[-1][1]["clip"]["slug"] == clip.slug
    refused(
        lambda: services.clip_create(actor=listener, space_id=live.pk, start_ms=0, end_ms=2000),
        ValidationFailed,
        "invalid_range",
    )
    outsider = UserFactory()
    refused(
        lambda: services.clip_create(actor=outsider, space_id=live.pk),
        Forbidden,
        "not_in_space",
    )


def test_a_clip_is_deleted_by_its_author_or_the_host_once(ended, listener):
    clip = services.clip_create(actor=listener, space_id=ended.pk, start_ms=0, end_ms=2000)
    other = services.clip_create(actor=listener, space_id=ended.pk, start_ms=0, end_ms=3000)
    refused(
        lambda: services.clip_delete(actor=UserFactory(), slug=clip.slug),
        Forbidden,
        "not_clip_owner",
    )

    services.clip_delete(actor=listener, slug=clip.slug)
    services.clip_delete(actor=ended.host, slug=other.slug)

    assert clip.file_name not in stored_files(ended)
    refused(lambda: services.clip_delete(actor=listener, slug=clip.slug), Gone, "clip_deleted")
    refused(lambda: selectors.clip_for(viewer=listener, slug=clip.slug), Gone, "clip_deleted")
    logged = ModerationAction.objects.filter(space=ended, action=Action.CLIP_DELETED)
    assert [(e.target_id, e.details["clip"]) for e in logged] == [(listener.pk, other.slug)]


# --- Consent ---------------------------------------------------------------------------------


def test_a_listener_cannot_choose_and_a_stranger_is_not_in_the_space(host, listener):
    space = SpaceFactory(host=host)
    join(space, listener)
    refused(
        lambda: spaces_services.recording_consent_set(
            actor=listener, space_id=space.pk, recorded=False
        ),
        Conflict,
        "not_on_stage",
    )
    refused(
        lambda: spaces_services.recording_consent_set(
            actor=UserFactory(), space_id=space.pk, recorded=False
        ),
        Forbidden,
        "not_in_space",
    )
    assert participant(space, listener).voice_recorded is True


def test_consent_in_a_space_that_is_not_recorded_is_refused(host):
    space = SpaceFactory(host=host, recording_enabled=False)
    refused(
        lambda: spaces_services.recording_consent_set(
            actor=host, space_id=space.pk, recorded=False
        ),
        Conflict,
        "recording_off",
    )


def test_opting_out_twice_is_logged_and_told_once(host, published, committed):
    space = SpaceFactory(host=host)
    speaker = make_speaker(space)
    with committed():
        for _ in range(2):
            me = spaces_services.recording_consent_set(
                actor=speaker, space_id=space.pk, recorded=False
            )
    assert me.voice_recorded is False
    assert event_types(published).count("recording.consent_changed") == 1
    logged = ModerationAction.objects.filter(space=space, action=Action.RECORDING_CONSENT)
    assert [(e.target_id, e.details) for e in logged] == [(speaker.pk, {"recorded": False})]
    assert spaces_services.left_out_user_ids(space) == [speaker.pk]
    # Off the stage and back: the choice stays.
    spaces_services.participant_step_down(user=speaker, space_id=space.pk)
    assert participant(space, speaker).voice_recorded is False


def test_the_transcript_leaves_out_what_a_speaker_said_while_kept_out(host, listener, clock):
    start = clock.now
    space = SpaceFactory(host=host, started_at=start)
    speaker = make_speaker(space)
    make_replay(space, seconds=REPLAY_SECONDS)
    clock.advance(seconds=3)
    spaces_services.recording_consent_set(actor=speaker, space_id=space.pk, recorded=False)
    clock.advance(seconds=3)
    spaces_services.recording_consent_set(actor=speaker, space_id=space.pk, recorded=True)
    for at, who, text in [
        (1, speaker, "said before"),
        (4, speaker, "said while out"),
        (4.5, host, "the host meanwhile"),
        (7, speaker, "said after"),
    ]:
        CaptionLine.objects.create(
            space=space, speaker=who, text=text, started_at=start + timedelta(seconds=at)
        )
    spaces_services.space_end(actor=host, space_id=space.pk)
    services.recording_finalize(space_id=space.pk)

    vtt = selectors.replay_captions_vtt(viewer=listener, space_id=space.pk)
    replay = selectors.replay_for(viewer=listener, space_id=space.pk)

    assert vtt.startswith("WEBVTT\n")
    assert "said before" in vtt
    assert "said after" in vtt
    assert "<v The Host>the host meanwhile" in vtt
    assert "said while out" not in vtt
    assert [c.text for c in replay.cues] == ["said before", "the host meanwhile", "said after"]
    assert [c.start_ms for c in replay.cues] == [1000, 4500, 7000]
    assert replay.left_out == [speaker]


# --- Deleting ------------------------------------------------------------------------------------


def test_the_host_deletes_the_replay_with_its_files_and_clips_and_twice_is_gone(ended, listener):
    clip = services.clip_create(actor=listener, space_id=ended.pk, start_ms=0, end_ms=2000)
    refused(
        lambda: services.replay_delete(actor=listener, space_id=ended.pk), Forbidden, "not_host"
    )
    assert stored_files(ended)

    deleted = services.replay_delete(actor=ended.host, space_id=ended.pk, reason="Not for keeps")

    assert (deleted.status, deleted.deleted_by) == (
        Recording.Status.DELETED,
        Recording.DeletedBy.HOST,
    )
    assert stored_files(ended) == []
    clip.refresh_from_db()
    assert clip.deleted_by == Clip.DeletedBy.REPLAY
    refused(
        lambda: services.replay_delete(actor=ended.host, space_id=ended.pk), Gone, "replay_deleted"
    )
    refused(
        lambda: selectors.replay_for(viewer=listener, space_id=ended.pk), Gone, "replay_deleted"
    )
    refused(lambda: selectors.clip_file(viewer=listener, slug=clip.slug), Gone, "clip_deleted")
    logged = ModerationAction.objects.get(space=ended, action=Action.REPLAY_DELETED)
    assert logged.details == {"by": "host", "reason": "Not for keeps"}


def test_a_recording_deleted_while_live_loses_what_is_stored_until_its_part_closes(live):
    services.replay_delete(actor=live.host, space_id=live.pk)
    assert stored_files(live) == []
    make_replay(live, seconds=2.0)  # the worker's recorder goes on until its part closes
    assert stored_files(live)

    spaces_services.recording_part_closed(space_id=live.pk)

    assert stored_files(live) == []
    assert Recording.objects.get(space=live).status == Recording.Status.DELETED


def test_a_space_that_was_not_recorded_has_no_replay_to_delete(host):
    space = ended_space(host=host)
    refused(
        lambda: services.replay_delete(actor=host, space_id=space.pk), NotFound, "replay_not_found"
    )


@pytest.mark.parametrize(("days", "expired"), [(30, True), (0, False)])
def test_the_retention_period_deletes_old_replays_and_clips_and_zero_keeps_them(
    settings, ended, listener, days, expired
):
    settings.SPACES_RECORDING_RETENTION_DAYS = days
    old = timezone.now() - timedelta(days=31)
    Recording.objects.filter(space=ended).update(ready_at=old)
    recent = ended_space(host=UserFactory())
    make_replay(recent, seconds=3.0)
    old_clip = services.clip_create(actor=listener, space_id=recent.pk, start_ms=0, end_ms=2000)
    new_clip = services.clip_create(actor=listener, space_id=recent.pk, start_ms=0, end_ms=3000)
    Clip.objects.filter(pk=old_clip.pk).update(created_at=old)

    done = services.recording_sweep()

    assert (done["expired_replays"], done["expired_clips"]) == ((1, 1) if expired else (0, 0))
    recording = Recording.objects.get(space=ended)
    assert recording.status == (Recording.Status.DELETED if expired else Recording.Status.READY)
    assert (stored_files(ended) == []) is expired
    assert Recording.objects.get(space=recent).status == Recording.Status.READY
    kept = [n for n in stored_files(recent) if "/clips/" in n]
    assert kept == (
        [new_clip.file_name] if expired else sorted([old_clip.file_name, new_clip.file_name])
    )
    old_clip.refresh_from_db()
    assert old_clip.is_deleted is expired
    if expired:
        assert recording.deleted_by == Recording.DeletedBy.RETENTION
        assert old_clip.deleted_by == Clip.DeletedBy.RETENTION
        assert not ModerationAction.objects.filter(
            action__in=[Action.REPLAY_DELETED, Action.CLIP_DELETED]
        ).exists()


def test_replays_of_a_host_are_the_ready_ones_and_none_for_someone_they_blocked(ended, listener):
    live = SpaceFactory(host=ended.host, started_at=timezone.now())
    make_replay(live, seconds=2.0)
    gone = ended_space(host=ended.host)
    make_replay(gone, seconds=2.0)
    services.replay_delete(actor=ended.host, space_id=gone.pk)

    shown = selectors.replays_of_host(viewer=listener, host=ended.host)

    assert [r.space_id for r in shown] == [ended.pk]
    BlockFactory(blocker=ended.host, blocked=listener)
    assert list(selectors.replays_of_host(viewer=listener, host=ended.host)) == []


def test_storage_by_host_counts_kept_replays_and_clips(ended, listener):
    clip = services.clip_create(actor=listener, space_id=ended.pk, start_ms=0, end_ms=3000)
    other = ended_space(host=UserFactory(username="small"))
    make_replay(other, seconds=2.0)
    dropped = ended_space(host=UserFactory(username="emptied"))
    make_replay(dropped, seconds=2.0)
    services.replay_delete(actor=dropped.host, space_id=dropped.pk)

    rows = list(selectors.storage_by_host())

    assert [u.username for u in rows] == [ended.host.username, "small"]
    top = rows[0]
    size = Recording.objects.get(space=ended).size_bytes
    assert (top.replays, top.replay_bytes, top.clip_bytes) == (1, size, clip.size_bytes)
    assert top.total_bytes == size + clip.size_bytes
