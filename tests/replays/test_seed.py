"""`manage.py seed_replays` after `seed_demo` and `seed_tickets` (as `make seed` runs them): a
demo replay that is really recorded and finalized, with chapters, a speaker left out for a
while, a transcript, reactions and two clips; the same rows however often it runs."""

from __future__ import annotations

import io
from io import StringIO

import av
import numpy as np
import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from media import hls
from replays import services
from replays.management.commands.seed_replays import COMMENTS, OPT_OUT, OPTED_OUT, TITLE, TURNS
from replays.models import Clip, PodcastFeed, ReplayAudio, audio_file_name
from replays.selectors import place_comments, replay_comments, replay_for
from replays.services import REPLAY_PLAYLIST
from spaces.models import CaptionLine, ModerationAction, ReactionBucket, Recording, Space
from spaces_project import storage

pytestmark = pytest.mark.django_db(transaction=True)

SAMPLE_RATE = 48_000
# Half a second inside each boundary: a syllable's tail and Opus's look-ahead stay out.
MARGIN = 0.5


@pytest.fixture(autouse=True)
def _real_bars(settings):
    settings.SPACES_HOST_MIN_FOLLOWERS = 600
    settings.SPACES_TICKETED_MIN_FOLLOWERS = 1000


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=StringIO(), stderr=StringIO())
    call_command("seed_tickets", stdout=StringIO(), stderr=StringIO())
    call_command("seed_replays", stdout=out, stderr=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {
        "spaces": Space.objects.filter(title=TITLE).count(),
        "recordings": Recording.objects.count(),
        "clips": Clip.objects.count(),
        "captions": CaptionLine.objects.count(),
        "reactions": ReactionBucket.objects.count(),
        "log": ModerationAction.objects.count(),
        "podcast_audio": ReplayAudio.objects.count(),
        "podcast_feeds": PodcastFeed.objects.filter(enabled=True).count(),
    }


def replay_audio(recording: Recording) -> np.ndarray:
    store = storage.recordings()
    prefix = recording.storage_prefix
    [part], ended = hls.parse_media_playlist(
        storage.get(store, f"{prefix}/{REPLAY_PLAYLIST}").decode()
    )
    assert ended
    data = storage.get(store, f"{prefix}/{part.map_uri}") + b"".join(
        storage.get(store, f"{prefix}/{s.uri}") for s in part.segments
    )
    with av.open(io.BytesIO(data), mode="r") as container:
        return np.concatenate(
            [f.to_ndarray().reshape(-1) for f in container.decode(container.streams.audio[0])]
        )


def rms(pcm: np.ndarray, start: float, end: float) -> float:
    window = pcm[round((start + MARGIN) * SAMPLE_RATE) : round((end - MARGIN) * SAMPLE_RATE)]
    return float(np.sqrt(np.mean(window.astype(np.float64) ** 2)))


def test_the_demo_replay_is_ready_with_chapters_a_left_out_speaker_captions_and_clips():
    output = seed()

    space = Space.objects.get(title=TITLE)
    assert space.state == Space.State.ENDED
    assert "Replay recorded" in output
    assert f"/spaces/{space.pk}/replay/" in output
    recording = Recording.objects.get(space=space)
    assert recording.status == Recording.Status.READY
    assert recording.dropped_segments == 0
    assert space.started_at < recording.started_at
    assert recording.started_at.timestamp() + recording.duration_ms / 1000 <= (
        space.ended_at.timestamp()
    )

    viewer = User.objects.get(username="margaret")
    replay = replay_for(viewer=viewer, space_id=space.pk)
    assert [u.username for u in replay.left_out] == [OPTED_OUT]
    # A chapter at each turn, except the one Linus spoke while his voice was kept out.
    heard_turns = [name for name, start, _, _ in TURNS if not OPT_OUT[0] <= start < OPT_OUT[1]]
    assert [c.speaker.username for c in replay.chapters] == heard_turns
    assert {u.username for u, _ in replay.speakers} == {"grace", "ada", "linus"}
    # The transcript: every line but the one said while Linus was left out.
    said = [text for _, _, _, lines in TURNS for text in lines]
    out = [text for name, start, _, lines in TURNS for text in lines if name == OPTED_OUT]
    assert [c.text for c in replay.cues] == [t for t in said if t != out[-1]]
    assert sum(r["total"] for r in replay.reactions) == sum(
        ReactionBucket.objects.filter(space=space).values_list("count", flat=True)
    )
    assert {(c.author.username, c.source) for c in replay.clips} == {
        ("grace", Clip.Source.REPLAY),
        ("margaret", Clip.Source.REPLAY),
    }
    for clip in replay.clips:
        assert storage.recordings().exists(clip.file_name)

    # The comments made while it was live, each at its moment on the replay's clock.
    recording_, comments = replay_comments(viewer=viewer, space_id=space.pk)
    placed = place_comments(recording_, comments)
    assert [c.comment.text for c in placed] == [text for _, _, text in COMMENTS]
    # The recording starts when the seeded clock does: a comment's place is its second.
    for item, (_, at, _) in zip(placed, COMMENTS, strict=True):
        assert item.at_ms == pytest.approx(at * 1000, abs=1000)

    # Grace publishes it as a podcast: the feed lists it with its whole audio, chapters included.
    assert "/u/grace/podcast.xml" in output
    audio = ReplayAudio.objects.get(recording=recording)
    assert storage.recordings().size(audio_file_name(space.pk)) == audio.size_bytes
    feed = Client().get("/u/grace/podcast.xml")
    assert feed.status_code == 200
    assert f'length="{audio.size_bytes}"'.encode() in feed.content
    assert feed.content.count(b"<psc:chapter ") == len(heard_turns)

    # The audio: each turn is heard, and Linus's turn while he was out is silence.
    pcm = replay_audio(recording)
    assert len(pcm) == pytest.approx(recording.duration_ms * SAMPLE_RATE / 1000, abs=960)
    for name, start, end, _ in TURNS:
        level = rms(pcm, start, end)
        if OPT_OUT[0] <= start < OPT_OUT[1]:
            assert level < 1e-3, f"{name}'s turn at {start} s is in the replay"
        else:
            assert level > 0.02, f"{name}'s turn at {start} s is not in the replay"


def test_seeding_twice_keeps_one_demo_replay_and_its_two_clips():
    seed()
    before = counts()
    output = seed()

    assert "already there" in output
    assert counts() == before
    assert before["spaces"] == 1
    assert before["clips"] == 2
    assert (before["podcast_audio"], before["podcast_feeds"]) == (1, 1)


def test_a_deleted_clip_is_made_again_and_a_deleted_replay_is_recorded_again():
    seed()
    space = Space.objects.get(title=TITLE)
    clip = Clip.objects.get(space=space, author__username="margaret")
    services.clip_delete(actor=clip.author, slug=clip.slug)
    seed()
    assert Clip.objects.filter(space=space, deleted_at__isnull=True).count() == 2

    services.replay_delete(actor=space.host, space_id=space.pk)
    seed()
    newer = Space.objects.filter(title=TITLE).exclude(pk=space.pk).get()
    assert Recording.objects.get(space=newer).status == Recording.Status.READY
    assert Clip.objects.filter(space=newer, deleted_at__isnull=True).count() == 2
