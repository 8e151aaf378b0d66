"""The recordings storage on S3: the same code path as production's, against moto's S3 server
on loopback (no network beyond 127.0.0.1)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import numpy as np
import pytest
from django.conf import settings
from django.core.files.storage import storages
from django.test import override_settings
from moto.server import ThreadedMotoServer

from media import fmp4
from media.dsp import OpusEncoder
from media.recording import Recorder
from spaces.audio.recording import StorageSink
from spaces_project import storage


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"recordings-{uuid.uuid4().hex[:12]}"  # moto keeps buckets for the process
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    backend = {
        "BACKEND": "spaces_project.s3.RecordingsS3Storage",  # what settings.py names
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint,
            "location": "recordings",
            "file_overwrite": True,
            "default_acl": None,
        },
    }
    try:
        with override_settings(STORAGES={**settings.STORAGES, "recordings": backend}):
            yield
    finally:
        server.stop()


def test_put_replaces_and_walk_and_delete_tree_see_every_file(s3):
    store = storage.recordings()
    assert type(store).__name__ == "RecordingsS3Storage"
    storage.put(store, "spaces/1/p/index.m3u8", b"first")
    storage.put(store, "spaces/1/p/index.m3u8", b"second")  # replaced, not renamed
    storage.put(store, "spaces/1/p/00000.m4s", b"x" * 10)
    assert storage.get(store, "spaces/1/p/index.m3u8") == b"second"
    assert sorted(storage.walk(store, "spaces/1")) == [
        ("spaces/1/p/00000.m4s", 10),
        ("spaces/1/p/index.m3u8", 6),
    ]
    assert storage.delete_tree(store, "spaces/1") == 2
    assert list(storage.walk(store, "spaces/1")) == []


def test_live_files_carry_the_headers_a_cdn_caches_by_and_recordings_none(s3):
    store = storage.recordings()
    storage.put(store, "live/7-abc/index.m3u8", b"#EXTM3U\n", public=True)
    storage.put(store, "live/7-abc/0000abcd-000001.m4s", b"x", public=True)
    storage.put(store, "spaces/7/p/00000.m4s", b"x")
    client = store.connection.meta.client
    bucket = store.bucket_name

    def head(name: str) -> tuple[str, str | None]:
        meta = client.head_object(Bucket=bucket, Key=f"recordings/{name}")
        return meta["ContentType"], meta.get("CacheControl")

    assert head("live/7-abc/index.m3u8") == ("application/vnd.apple.mpegurl", "no-cache")
    assert head("live/7-abc/0000abcd-000001.m4s") == ("audio/mp4", "public, max-age=60, immutable")
    assert head("spaces/7/p/00000.m4s")[1] is None


@pytest.mark.django_db(transaction=True)  # the writer thread has its own connection
def test_a_recording_goes_to_s3_through_the_sink(s3):
    from tests.factories import SpaceFactory

    space = SpaceFactory()
    encoder = OpusEncoder()
    tone = (np.sin(2 * np.pi * 440 * np.arange(960) / 48_000) * 8000).astype(np.int16)
    recorder = Recorder(
        StorageSink(space.pk), part="0000000000001-0000abcd", wall_start=1.0, first_index=0
    )
    for index in range(250):
        recorder.add(index, encoder.encode(tone)[0])
    recorder.close()
    assert recorder.wait_closed(30)
    store = storages["recordings"]
    names = {name for name, _ in storage.walk(store, f"spaces/{space.pk}")}
    part = f"spaces/{space.pk}/0000000000001-0000abcd"
    assert names == {
        f"{part}/init.mp4",
        f"{part}/00000.m4s",
        f"{part}/00001.m4s",
        f"{part}/00002.m4s",
        f"{part}/index.m3u8",
        f"{part}/part.json",
    }
    base, packets = fmp4.read_segment(storage.get(store, f"{part}/00002.m4s"))
    assert (base, len(packets)) == (2 * 100 * 960, 50)
    assert space.recording.started_at.timestamp() == 1.0  # recording.started from the sink


@pytest.mark.django_db
def test_a_podcast_episode_is_built_on_s3_and_served_by_ranges_then_deleted_with_its_replay(s3):
    """The podcast's file streams from an S3 object (seek, then read) as from a local file."""
    from django.test import Client

    from replays import services
    from replays.models import ReplayAudio, audio_file_name
    from tests.factories import ended_space, make_replay

    space = ended_space()
    make_replay(space, seconds=3.0)
    services.podcast_feed_update(user=space.host, enabled=True)
    audio = services.replay_audio_build(space_id=space.pk)
    assert audio is not None
    store = storages["recordings"]
    data = storage.get(store, audio_file_name(space.pk))
    assert len(data) == audio.size_bytes

    app = Client()  # a podcast app: no account
    whole = app.get(f"/spaces/{space.pk}/replay/audio.m4a")
    assert b"".join(whole.streaming_content) == data
    part = app.get(f"/spaces/{space.pk}/replay/audio.m4a", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert b"".join(part.streaming_content) == data[1000:2000]

    services.replay_delete(actor=space.host, space_id=space.pk)
    assert not store.exists(audio_file_name(space.pk))
    assert not ReplayAudio.objects.exists()
