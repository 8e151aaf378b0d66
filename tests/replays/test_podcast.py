"""The podcast: a host's replays as one M4A each and an RSS feed of them, on real files.

The audio is checked through FFmpeg (PyAV): its codec, its exact length in samples, the tone of
each part where it belongs and silence in a gap. The feed is parsed by feedparser (what many
podcast tools use; `bozo` flags any XML or feed error) and read element by element with
ElementTree against RSS 2.0 and Apple's podcast tags.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from email.utils import parsedate_to_datetime

import av
import feedparser
import numpy as np
import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.utils import timezone

from media import fmp4, hls
from media.client import tone_amplitude
from media.dsp import OpusEncoder, frame_to_mono
from media.recording import INIT, PLAYLIST, SUMMARY, PartSummary
from replays import selectors, services, timeline
from replays.models import PodcastFeed, ReplayAudio, audio_file_name
from spaces import services as spaces_services
from spaces.models import Recording, Space
from spaces_project import storage
from spaces_project.celery import app as celery_app
from spaces_project.errors import Conflict, Gone, NotAuthenticated
from tests.factories import (
    BlockFactory,
    SpaceFactory,
    UserFactory,
    ended_space,
    make_replay,
)

pytestmark = pytest.mark.django_db

ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
ATOM = "{http://www.w3.org/2005/Atom}"
PSC = "{http://podlove.org/simple-chapters}"
PODCAST = "{https://podcastindex.org/namespace/1.0}"
SERVER = "http://testserver"


def publish(host) -> PodcastFeed:
    return services.podcast_feed_update(user=host, enabled=True)


def built(space: Space) -> ReplayAudio:
    audio = services.replay_audio_build(space_id=space.pk)
    assert audio is not None
    return audio


def audio_bytes(space: Space) -> bytes:
    return storage.get(storage.recordings(), audio_file_name(space.pk))


def decoded(data: bytes) -> np.ndarray:
    """The M4A through FFmpeg's own MP4 demuxer and Opus decoder (edit list applied)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
        return np.concatenate([frame_to_mono(f) for f in container.decode(stream)])


def container_seconds(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        assert container.duration is not None
        return container.duration / av.time_base


def tone(frequency: float, count: int) -> list[bytes]:
    encoder = OpusEncoder()
    n = fmp4.FRAME_SAMPLES
    t = np.arange(count * n)
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * frequency * t / fmp4.SAMPLE_RATE)).astype(np.int16)
    return [p for i in range(count) for p in encoder.encode(pcm[i * n : (i + 1) * n])]


def store_part(space: Space, wall: float, segments: dict[int, list[bytes]], turns) -> str:
    """A part as the worker's recorder leaves it (init, segments, final playlist, part.json),
    with only the segments given: a number left out is a segment that storage dropped."""
    store, name = storage.recordings(), f"{int(wall * 1000):013d}-{len(segments):08x}"
    folder = f"spaces/{space.pk}/{name}"
    storage.put(store, f"{folder}/{INIT}", fmp4.init_segment())
    written = []
    for sequence, packets in sorted(segments.items()):
        data = fmp4.media_segment(
            packets,
            sequence=sequence + 1,
            base_time=sequence * 100 * fmp4.FRAME_SAMPLES,
        )
        storage.put(store, f"{folder}/{hls.segment_name(sequence)}", data)
        written.append(hls.Segment(sequence, len(packets) * 0.02, hls.segment_name(sequence)))
    playlist = hls.media_playlist([hls.Part(INIT, wall, written)], ended=True)
    storage.put(store, f"{folder}/{PLAYLIST}", playlist.encode())
    last = max(segments)
    summary = PartSummary(
        name=name,
        wall_start=wall,
        duration_ms=last * 2000 + len(segments[last]) * 20,
        segments=len(segments),
        turns=turns,
        talk_seconds={str(user): 1.0 for _, user in turns},
    )
    storage.put(store, f"{folder}/{SUMMARY}", summary.to_json())
    return name


@pytest.fixture
def two_parts(host) -> Space:
    """An ended Space recorded in two parts (its origin moved): the first 5 s of a 440 Hz tone
    whose middle segment storage dropped (2 to 4 s), then 2 s of 880 Hz. A guest speaks in
    the second part."""
    guest = UserFactory(username="guest", display_name="Guest <Star> & Co")
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    space = SpaceFactory(
        host=host,
        title="Two parts",
        state=Space.State.ENDED,
        started_at=start,
        ended_at=start + timedelta(minutes=1),
    )
    first, second = start.timestamp(), start.timestamp() + 30
    a, b = tone(440.0, 150), tone(880.0, 100)
    store_part(space, first, {0: a[:100], 2: a[100:]}, [(0, str(host.pk))])
    store_part(space, second, {0: b}, [(500, str(guest.pk))])
    spaces_services.recording_mark_started(space_id=space.pk, started_at=start)
    recording = services.recording_finalize(space_id=space.pk)
    assert recording is not None
    assert recording.duration_ms == 7000
    return space


# --- One file per replay -------------------------------------------------------------------------


def test_the_replay_is_one_m4a_of_its_parts_in_order_with_a_dropped_segment_as_silence(two_parts):
    audio = built(two_parts)

    data = audio_bytes(two_parts)
    assert audio.size_bytes == len(data)
    assert data[4:8] == b"ftyp"
    assert b"moov" in data[: data.index(b"mdat")]
    pcm = decoded(data)
    rate = fmp4.SAMPLE_RATE
    # 350 packets of 20 ms, less the encoder's delay the file trims: the replay's length.
    assert len(pcm) == 350 * fmp4.FRAME_SAMPLES - fmp4.PRE_SKIP
    assert audio.duration_ms == len(pcm) * 1000 // rate
    assert container_seconds(data) == pytest.approx(len(pcm) / rate, abs=0.03)
    assert tone_amplitude(pcm[round(0.5 * rate) : 2 * rate - 4800], 440.0) > 0.1
    assert np.abs(pcm[round(2.1 * rate) : round(3.9 * rate)]).max() < 1e-3  # the dropped 2 s
    assert tone_amplitude(pcm[round(4.1 * rate) : round(4.9 * rate)], 440.0) > 0.1
    assert tone_amplitude(pcm[round(5.2 * rate) : round(6.9 * rate)], 880.0) > 0.1
    assert tone_amplitude(pcm[round(5.2 * rate) : round(6.9 * rate)], 440.0) < 0.05


def test_building_again_stores_the_same_bytes(ended):
    first = built(ended)
    before = audio_bytes(ended)
    second = built(ended)
    assert audio_bytes(ended) == before
    assert (second.pk, second.size_bytes) == (first.pk, first.size_bytes)
    assert ReplayAudio.objects.count() == 1


def test_a_published_replay_queues_its_audio_after_it_is_made(
    host, audio_builds, django_capture_on_commit_callbacks
):
    publish(host)
    space = ended_space(host=host)
    with django_capture_on_commit_callbacks(execute=True):
        make_replay(space, seconds=3.0)
    assert audio_builds == [space.pk]


def test_the_queued_task_builds_it_in_the_embedded_shape(
    host, monkeypatch, django_capture_on_commit_callbacks
):
    """With no broker, tasks run in the caller: the task queued by name is registered
    (ReplaysConfig.ready imports replays.tasks) and builds the file after the commit."""
    monkeypatch.undo()  # the real `_queue_audio_build`, not the recorder of the autouse fixture
    publish(host)
    space = ended_space(host=host)
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            make_replay(space, seconds=3.0)
    finally:
        celery_app.conf.task_always_eager = eager
    audio = ReplayAudio.objects.get(recording__space=space)
    assert audio.size_bytes == len(audio_bytes(space))


def test_a_broker_that_is_away_does_not_fail_finalizing(host, monkeypatch, committed):
    monkeypatch.undo()

    def unreachable(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(celery_app, "signature", unreachable)
    publish(host)
    space = ended_space(host=host)
    with committed():
        make_replay(space, seconds=2.0)
    assert Recording.objects.get(space=space).status == Recording.Status.READY
    assert not ReplayAudio.objects.exists()
    assert services.podcast_audio_sweep() == 1  # the sweep builds it instead


@pytest.mark.parametrize("why", ["feed_off", "ticketed"])
def test_no_audio_is_queued_for_a_replay_that_is_not_published(
    host, why, audio_builds, django_capture_on_commit_callbacks
):
    if why == "feed_off":
        services.podcast_feed_update(user=host, enabled=False)
    else:
        publish(host)
    space = ended_space(host=host, is_ticketed=why == "ticketed")
    with django_capture_on_commit_callbacks(execute=True):
        make_replay(space, seconds=2.0)
    assert audio_builds == []
    assert not ReplayAudio.objects.exists()
    assert not storage.recordings().exists(audio_file_name(space.pk))


def test_the_sweep_builds_the_audio_of_published_replays_made_before_the_feed_was_on(ended):
    other = ended_space(host=UserFactory(username="quiet"))
    make_replay(other, seconds=2.0)  # their host has no feed
    ticketed = ended_space(host=ended.host, is_ticketed=True)
    make_replay(ticketed, seconds=2.0)
    assert services.recording_sweep()["audio_built"] == 0

    publish(ended.host)

    assert services.recording_sweep()["audio_built"] == 1
    assert list(ReplayAudio.objects.values_list("recording__space_id", flat=True)) == [ended.pk]
    assert services.recording_sweep()["audio_built"] == 0  # nothing left to build


def test_deleting_the_replay_deletes_its_audio_file_and_row(ended):
    built(ended)
    services.replay_delete(actor=ended.host, space_id=ended.pk)
    assert not storage.recordings().exists(audio_file_name(ended.pk))
    assert not ReplayAudio.objects.exists()
    assert services.replay_audio_build(space_id=ended.pk) is None


def test_the_retention_period_deletes_the_audio_with_the_replay(settings, ended):
    built(ended)
    settings.SPACES_RECORDING_RETENTION_DAYS = 30
    Recording.objects.filter(space=ended).update(ready_at=timezone.now() - timedelta(days=31))
    assert services.recording_sweep()["expired_replays"] == 1
    assert not storage.recordings().exists(audio_file_name(ended.pk))
    assert not ReplayAudio.objects.exists()


def test_a_build_that_read_the_replay_before_it_was_deleted_leaves_no_file(ended, monkeypatch):
    """The replay is deleted while its audio is being made: the builder stores its file after
    the delete removed the folder, then finds the replay deleted and removes its file."""
    whole = timeline.whole

    def delete_meanwhile(*args, **kwargs):
        data = whole(*args, **kwargs)
        services.replay_delete(actor=ended.host, space_id=ended.pk)
        return data

    monkeypatch.setattr(timeline, "whole", delete_meanwhile)

    assert services.replay_audio_build(space_id=ended.pk) is None
    assert not storage.recordings().exists(audio_file_name(ended.pk))
    assert not ReplayAudio.objects.exists()


# --- Who may fetch it -----------------------------------------------------------------------------


def audio_url(space: Space) -> str:
    return f"/spaces/{space.pk}/replay/audio.m4a"


def test_a_podcast_app_fetches_a_published_episode_whole_by_ranges_and_conditionally(ended):
    publish(ended.host)
    audio = built(ended)
    data = audio_bytes(ended)
    app = Client()  # no account, no cookie

    whole = app.get(audio_url(ended))
    assert whole.status_code == 200
    assert whole["Content-Type"] == "audio/mp4"
    assert whole["Accept-Ranges"] == "bytes"
    assert int(whole["Content-Length"]) == audio.size_bytes
    assert b"".join(whole.streaming_content) == data

    part = app.get(audio_url(ended), headers={"Range": "bytes=100-299"})
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-299/{len(data)}"
    assert b"".join(part.streaming_content) == data[100:300]
    tail = app.get(audio_url(ended), headers={"Range": "bytes=-50"})
    assert b"".join(tail.streaming_content) == data[-50:]
    past = app.get(audio_url(ended), headers={"Range": f"bytes={len(data)}-"})
    assert (past.status_code, past["Content-Range"]) == (416, f"bytes */{len(data)}")

    head = app.head(audio_url(ended))
    assert (head.status_code, int(head["Content-Length"]), head.content) == (200, len(data), b"")
    again = app.get(audio_url(ended), headers={"If-None-Match": whole["ETag"]})
    assert again.status_code == 304
    stale = app.get(
        audio_url(ended), headers={"Range": "bytes=0-9", "If-Range": '"an-older-version"'}
    )
    assert stale.status_code == 200  # not the range of a file that changed: all of it


def test_signed_out_only_a_published_replay_plays(ended, host):
    app = Client()
    assert app.get(audio_url(ended)).status_code == 401  # no feed
    services.podcast_feed_update(user=host, enabled=False)
    assert app.get(audio_url(ended)).status_code == 401  # a feed that is off
    ticketed = ended_space(host=host, is_ticketed=True)
    make_replay(ticketed, seconds=2.0)
    publish(host)
    assert app.get(audio_url(ticketed)).status_code == 401
    assert app.get(f"/spaces/{ticketed.pk}/replay/chapters.json").status_code == 401
    assert app.get(audio_url(ended)).status_code == 200


def test_a_banned_hosts_episodes_no_longer_play_signed_out(ended, host):
    publish(host)
    built(ended)
    assert Client().get(audio_url(ended)).status_code == 200
    host.is_active = False
    host.save()
    assert Client().get(audio_url(ended)).status_code == 401
    assert Client().get(feed_url(host)).status_code == 404


def test_signed_in_the_replays_own_rule_holds(ended, listener, host):
    publish(host)
    ticketed = ended_space(host=host, is_ticketed=True)
    make_replay(ticketed, seconds=2.0)
    browser = Client()
    browser.force_login(listener)
    refused = browser.get(audio_url(ticketed))
    assert (refused.status_code, refused.content) == (
        403,
        b"This Space was ticketed: its replay is for ticket holders.",
    )
    assert browser.get(audio_url(ended)).status_code == 200
    BlockFactory(blocker=host, blocked=listener)
    assert browser.get(audio_url(ended)).status_code == 404


def test_a_missing_file_is_made_when_asked_for(ended, listener):
    """Lazily: a listener of a replay that is not in any feed, or a file storage lost."""
    browser = Client()
    browser.force_login(listener)
    response = browser.get(audio_url(ended))
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    assert len(data) == ReplayAudio.objects.get().size_bytes

    storage.recordings().delete(audio_file_name(ended.pk))
    again = browser.get(audio_url(ended))
    assert b"".join(again.streaming_content) == data


def test_the_audio_of_a_replay_that_is_not_there_is_refused_with_its_code(host, listener, live):
    with pytest.raises(NotAuthenticated):
        services.replay_audio_open(viewer=None, space_id=live.pk)
    with pytest.raises(Conflict) as not_ready:
        services.replay_audio_open(viewer=listener, space_id=live.pk)
    assert not_ready.value.code == "replay_not_ready"
    services.replay_delete(actor=host, space_id=live.pk)
    with pytest.raises(Gone):
        services.replay_audio_open(viewer=listener, space_id=live.pk)
    assert Client().get("/spaces/999999/replay/audio.m4a").status_code == 404


# --- The feed ------------------------------------------------------------------------------------


def feed_url(user) -> str:
    return f"/u/{user.username}/podcast.xml"


def read_feed(user) -> tuple[bytes, ET.Element]:
    response = Client().get(feed_url(user))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/rss+xml; charset=utf-8"
    return response.content, ET.fromstring(response.content)


def test_the_feed_is_valid_rss_with_every_tag_podcast_apps_need(host, two_parts):
    PodcastFeed.objects.create(
        user=host, enabled=True, title="", description="", category="Technology"
    )
    audio = built(two_parts)
    body, rss = read_feed(host)

    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    assert parsed.feed.title == "The Host's Spaces"
    assert parsed.feed.author == "The Host"  # itunes:author
    [entry] = parsed.entries
    assert entry.title == "Two parts"
    assert [e.type for e in entry.enclosures] == ["audio/mp4"]

    assert rss.tag == "rss"
    assert rss.get("version") == "2.0"
    channel = rss.find("channel")
    assert channel is not None
    for tag in ("title", "link", "description", "language", "lastBuildDate"):
        assert (channel.findtext(tag) or "").strip(), tag
    assert channel.findtext("link") == f"{SERVER}/u/{host.username}/"
    assert channel.findtext("language") == "en-us"
    self_link = channel.find(f"{ATOM}link")
    assert self_link is not None
    assert (self_link.get("href"), self_link.get("rel"), self_link.get("type")) == (
        f"{SERVER}{feed_url(host)}",
        "self",
        "application/rss+xml",
    )
    assert channel.findtext(f"{ITUNES}author") == "The Host"
    image = channel.find(f"{ITUNES}image")
    assert image is not None
    assert image.get("href", "").startswith(f"{SERVER}/static/img/podcast-cover")
    # The cover is a static file (collected in production, not in a fresh clone's tests):
    # found by the static finders, square and within Apple's 1400-3000 px.
    cover = finders.find(image.get("href", "").removeprefix(f"{SERVER}/static/"))
    assert cover is not None
    with av.open(cover) as picture:  # FFmpeg reads the JPEG's size
        stream = picture.streams.video[0]
        assert stream.width == stream.height
        assert 1400 <= stream.width <= 3000
    assert channel.findtext("image/url") == image.get("href")
    assert channel.findtext("image/title") == channel.findtext("title")
    category = channel.find(f"{ITUNES}category")
    assert category is not None
    assert category.get("text") == "Technology"
    # Apple's current values (feedparser still reads only the older yes/no/clean).
    assert channel.findtext(f"{ITUNES}explicit") == "false"

    [item] = channel.findall("item")
    assert item.findtext("title") == "Two parts"
    assert "Guest <Star> & Co" in (item.findtext("description") or "")  # escaped, read back
    assert item.findtext("link") == f"{SERVER}/spaces/{two_parts.pk}/replay/"
    guid = item.find("guid")
    assert guid is not None
    assert guid.get("isPermaLink") == "false"
    assert guid.text
    published = parsedate_to_datetime(item.findtext("pubDate") or "")
    assert published == two_parts.ended_at
    enclosure = item.find("enclosure")
    assert enclosure is not None
    assert enclosure.get("type") == "audio/mp4"
    assert enclosure.get("url") == f"{SERVER}{audio_url(two_parts)}"
    fetched = Client().get(audio_url(two_parts))  # as a podcast app, signed out
    data = b"".join(fetched.streaming_content)
    assert int(enclosure.get("length", "0")) == len(data) == audio.size_bytes
    assert item.findtext(f"{ITUNES}duration") == "7"
    assert round(container_seconds(data)) == 7

    chapters = item.find(f"{PSC}chapters")
    assert chapters is not None
    assert chapters.get("version") == "1.2"
    assert [(c.get("start"), c.get("title")) for c in chapters] == [
        ("00:00:00.000", "The Host"),
        ("00:00:05.500", "Guest <Star> & Co"),  # the second part starts 5 s in
    ]
    json_link = item.find(f"{PODCAST}chapters")
    assert json_link is not None
    assert json_link.get("type") == "application/json+chapters"
    chapters_json = Client().get(json_link.get("url", "").removeprefix(SERVER))
    assert chapters_json["Content-Type"] == "application/json+chapters"
    assert json.loads(chapters_json.content) == {
        "version": "1.2.0",
        "chapters": [
            {"startTime": 0.0, "title": "The Host"},
            {"startTime": 5.5, "title": "Guest <Star> & Co"},
        ],
    }


def test_the_feed_lists_only_ready_public_replays_newest_first_and_at_most_a_hundred(
    host, ended, monkeypatch
):
    publish(host)
    older = ended_space(host=host, title="Older")
    Space.objects.filter(pk=older.pk).update(ended_at=ended.ended_at - timedelta(days=1))
    older.refresh_from_db()
    make_replay(older, seconds=2.0)
    ticketed = ended_space(host=host, title="Paid", is_ticketed=True)
    make_replay(ticketed, seconds=2.0)
    deleted = ended_space(host=host, title="Gone")
    make_replay(deleted, seconds=2.0)
    unbuilt = ended_space(host=host, title="Not built yet")
    make_replay(unbuilt, seconds=2.0)
    live = SpaceFactory(host=host, title="Live now", started_at=timezone.now())
    make_replay(live, seconds=2.0)
    someone_elses = ended_space(host=UserFactory(username="other"), title="Not theirs")
    make_replay(someone_elses, seconds=2.0)
    for space in (ended, older, ticketed, deleted, someone_elses):
        built(space)
    services.replay_delete(actor=host, space_id=deleted.pk)

    _, rss = read_feed(host)
    titles = [i.findtext("title") for i in rss.iter("item")]
    assert titles == [ended.title, "Older"]

    monkeypatch.setattr(selectors, "PODCAST_ITEMS", 1)
    _, rss = read_feed(host)
    assert [i.findtext("title") for i in rss.iter("item")] == [ended.title]
    status = selectors.podcast_status(user=host)
    assert (status.episodes, status.preparing, status.ticketed) == (2, 1, 1)


def test_the_feed_costs_the_same_queries_for_one_episode_or_many(host, ended):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    publish(host)
    built(ended)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            read_feed(host)
        return len(captured)

    one = queries()
    for n in range(3):
        space = ended_space(host=host, title=f"More {n}")
        make_replay(space, seconds=2.0, speakers=[host, UserFactory()])
        built(space)
    assert queries() == one


def test_a_space_a_co_host_took_over_stays_in_the_feed_of_who_started_it(host, ended):
    cohost = UserFactory(username="cohost")
    Space.objects.filter(pk=ended.pk).update(host=cohost, original_host=host)
    publish(host)
    publish(cohost)
    built(ended)
    assert len(list(read_feed(host)[1].iter("item"))) == 1
    assert list(read_feed(cohost)[1].iter("item")) == []


@pytest.mark.parametrize("case", ["never_on", "turned_off", "unknown", "inactive"])
def test_no_feed_is_404(host, ended, case):
    built(ended)
    user = host
    if case == "turned_off":
        publish(host)
        services.podcast_feed_update(user=host, enabled=False)
    elif case == "unknown":
        user = UserFactory.build(username="nobody")
    elif case == "inactive":
        publish(host)
        host.is_active = False
        host.save()
    assert Client().get(feed_url(user)).status_code == 404


def test_someone_the_host_blocked_gets_no_feed_while_signed_in(host, ended, listener):
    publish(host)
    BlockFactory(blocker=host, blocked=listener)
    browser = Client()
    browser.force_login(listener)
    assert browser.get(feed_url(host)).status_code == 404
    assert Client().get(feed_url(host)).status_code == 200


def test_the_feed_answers_304_to_its_etag_and_changes_with_its_episodes(host, ended):
    publish(host)
    app = Client()
    empty = app.get(feed_url(host))
    assert empty.status_code == 200
    assert b"<item>" not in empty.content
    assert app.get(feed_url(host), headers={"If-None-Match": empty["ETag"]}).status_code == 304
    assert empty["Last-Modified"]

    built(ended)
    fuller = app.get(feed_url(host), headers={"If-None-Match": empty["ETag"]})
    assert fuller.status_code == 200
    assert b"<item>" in fuller.content
    assert fuller["ETag"] != empty["ETag"]


def test_text_that_xml_cannot_carry_never_breaks_the_feed(host, ended):
    """Services refuse control characters; an older row must still not break the feed."""
    Space.objects.filter(pk=ended.pk).update(
        title='Q&A <live> "quoted" \x0b\ufffe', topics=["Ünïcode ✓", "a]]>b"]
    )
    services.podcast_feed_update(
        user=host, enabled=True, title="Title & <more>", description="Line one\nline two"
    )
    built(ended)
    body, rss = read_feed(host)
    assert feedparser.parse(body).bozo == 0
    assert rss.findtext("channel/title") == "Title & <more>"
    assert rss.findtext("channel/item/title") == 'Q&A <live> "quoted" '
    assert "a]]>b" in (rss.findtext("channel/item/description") or "")


# --- The feed's settings -------------------------------------------------------------------------


def test_updating_leaves_out_what_is_not_given_and_refuses_bad_values(host):
    services.podcast_feed_update(user=host, title="Mine", category="History")
    feed = services.podcast_feed_update(user=host, enabled=True)
    assert (feed.enabled, feed.title, feed.category) == (True, "Mine", "History")
    for kwargs, code in [
        ({"category": "Nope"}, "invalid_category"),
        ({"title": "x" * 101}, "too_long"),
        ({"description": "x" * 1001}, "too_long"),
        ({"title": "nul\x00byte"}, "invalid_text"),
        ({"description": 5}, "invalid_text"),
        ({"enabled": "yes"}, "invalid"),
    ]:
        with pytest.raises(Exception) as refused:
            services.podcast_feed_update(user=host, **kwargs)
        assert getattr(refused.value, "code", None) == code, kwargs
    assert PodcastFeed.objects.get(user=host).title == "Mine"
