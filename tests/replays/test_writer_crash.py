"""A media worker killed (SIGKILL) while its recorder writes leaves nothing half-written behind.

The recorder and the `StorageSink` run in a child process, as in a media worker; the child's
storage stalls half-way through one file (the real `spaces_project.storage.put`, with the file
it writes slowed down), says so on its stdout, and the test kills it there: mid-segment, or
between a whole segment and the playlist that would name it. Then the Space ends, the periodic
sweep finalizes the recording past its grace period, and the replay is exactly the segments the
last playlist named: every one whole, no temporary file, no orphan segment.
"""

from __future__ import annotations

import io
import os
import random
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import av
import pytest

from media import fmp4, hls
from media.recording import INIT, PLAYLIST, SEGMENT_TICKS
from replays import services as replays_services
from replays.services import FINALIZE_GRACE_SECONDS, REPLAY_PLAYLIST
from replays.timeline import read_parts
from spaces import services
from spaces.models import Recording, Space, recording_prefix
from spaces_project import storage
from tests.clock import Clock
from tests.factories import SpaceFactory
from tests.servers import ROOT, server_env

pytestmark = pytest.mark.django_db(transaction=True)

STALLED = b"stalled"
CHILD_WITHIN = 60.0
"""Seconds for the child to start Django and reach the stalled write: a bound, not a measure."""
# The child stalls on the third segment (00002.m4s): two whole segments come before it.
STALL_AT = 2
SEGMENTS_FED = STALL_AT + 2


# --- The child: a recorder whose storage stalls, killed there -----------------------------------


class _StallingFile:
    """A file being written by `storage.put`: the write the child stalls on stores half its
    bytes, flushes them to disk, tells the parent, and never returns."""

    def __init__(self, file: IO[Any], stall_on: Callable[[bytes], bool]) -> None:
        self._file = file
        self._stall_on = stall_on

    def write(self, data: bytes) -> int:
        if self._stall_on(data):
            self._file.write(data[: len(data) // 2])
            self._file.flush()
            os.fsync(self._file.fileno())
            sys.stdout.buffer.write(STALLED + b"\n")
            sys.stdout.flush()
            time.sleep(CHILD_WITHIN * 2)  # killed long before; an orphaned child ends anyway
            os._exit(1)
        return self._file.write(data)

    def __enter__(self) -> _StallingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def run_child() -> None:
    """``python -c`` entry (Django already set up): argv = [space id, "segment" | "playlist"]."""
    import numpy as np

    from media.dsp import OpusEncoder
    from media.recording import Recorder
    from spaces.audio.recording import StorageSink

    space_id, stall = int(sys.argv[1]), sys.argv[2]
    segments_seen = 0

    def stall_on(data: bytes) -> bool:
        nonlocal segments_seen
        if stall == "segment" and data[4:8] == b"styp":
            segments_seen += 1
            return segments_seen == STALL_AT + 1
        stalled_name = hls.segment_name(STALL_AT).encode()
        return stall == "playlist" and data.startswith(b"#EXTM3U") and stalled_name in data

    real_fdopen = os.fdopen

    def fdopen(fd: int, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        file = real_fdopen(fd, mode, *args, **kwargs)
        return _StallingFile(file, stall_on) if "w" in mode else file

    os.fdopen = fdopen
    wall = time.time()
    recorder = Recorder(
        StorageSink(space_id),
        part=f"{int(wall * 1000):013d}-{random.randrange(1 << 32):08x}",
        wall_start=wall,
        first_index=0,
    )
    encoder = OpusEncoder()
    n = fmp4.FRAME_SAMPLES
    for tick in range(SEGMENTS_FED * SEGMENT_TICKS):
        t = np.arange(tick * n, (tick + 1) * n)
        pcm = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t / fmp4.SAMPLE_RATE)).astype(np.int16)
        for payload in encoder.encode(pcm):
            recorder.add(tick, payload)
    time.sleep(CHILD_WITHIN * 2)  # the writer thread stalls; the parent kills us
    os._exit(1)


# --- The parent ---------------------------------------------------------------------------------


def child_env(tmp_path: Path) -> tuple[dict[str, str], bool]:
    """The media worker's environment: this test's recordings folder (tests/conftest.py) and,
    when a second process can share it, this test's database (True). An in-memory SQLite test
    database cannot be shared: the child then gets an empty one, its sink logs that the
    recording's start was not saved, and the parent saves it as the sink would have."""
    try:
        env, shared = server_env(), True
    except RuntimeError:
        env, shared = (
            {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "spaces_project.settings",
                "DATABASE_URL": f"sqlite:///{tmp_path / 'child.sqlite3'}",
            },
            False,
        )
    env["SPACES_RECORDINGS_ROOT"] = os.environ["SPACES_RECORDINGS_ROOT"]
    return env, shared


def kill_while_stalled(space_id: int, stall: str, tmp_path: Path) -> bool:
    """Run the child until it stalls, then SIGKILL it; whether it shared our database."""
    log = tmp_path / "child.log"
    env, shared = child_env(tmp_path)
    code = (
        "import django; django.setup(); "
        "from tests.replays.test_writer_crash import run_child; run_child()"
    )
    with open(log, "wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(space_id), stall],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        assert child.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            ready = selector.select(CHILD_WITHIN) and child.stdout.readline().strip() == STALLED
        assert ready, f"the child never stalled: {log.read_text()[-3000:]}"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
        return shared
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        if child.stdout is not None:
            child.stdout.close()


def stored(prefix: str) -> set[str]:
    return {
        name.removeprefix(f"{prefix}/") for name, _ in storage.walk(storage.recordings(), prefix)
    }


def decoded_samples(prefix: str, part: hls.Part) -> int:
    store = storage.recordings()
    data = storage.get(store, f"{prefix}/{part.map_uri}")
    for segment in part.segments:
        body = storage.get(store, f"{prefix}/{segment.uri}")
        fmp4.read_segment(body)  # raises on a truncated or damaged segment
        data += body
    with av.open(io.BytesIO(data), mode="r") as container:
        return sum(f.samples for f in container.decode(container.streams.audio[0]))


@pytest.mark.parametrize(
    "stall",
    [
        pytest.param("segment", id="killed-mid-segment"),
        pytest.param("playlist", id="killed-between-segment-and-playlist"),
    ],
)
def test_a_writer_killed_mid_write_leaves_a_replay_of_whole_segments_and_no_orphan(
    stall: str, tmp_path: Path, clock: Clock
) -> None:
    space = SpaceFactory(recording_enabled=True)
    prefix = recording_prefix(space.pk)
    shared_database = kill_while_stalled(space.pk, stall, tmp_path)

    # What the kill left: a temporary file half-written, and for a kill after a whole segment,
    # that segment, which no playlist names.
    store = storage.recordings()
    [part] = read_parts(store, prefix)
    on_disk = stored(prefix)
    temporary = {n for n in on_disk if n.endswith(storage.TEMPORARY_SUFFIX)}
    assert len(temporary) == 1, on_disk
    stalled_segment = f"{part.name}/{hls.segment_name(STALL_AT)}"
    assert (stalled_segment in on_disk) == (stall == "playlist"), on_disk
    assert [s.sequence for s in part.playlist.segments] == list(range(STALL_AT))
    assert not part.ended
    assert part.summary is None

    # The sink's one database write before the kill: the child made it if it could reach our
    # database; otherwise the parent makes it (idempotent either way).
    if shared_database:
        assert Recording.objects.filter(space=space).exists()
    services.recording_mark_started(space_id=space.pk, started_at=clock.now - timedelta(seconds=10))
    services.space_end(actor=space.host, space_id=space.pk)
    assert replays_services.recording_finalize(space_id=space.pk) is None, (
        "a part that never closed must wait for the grace period"
    )
    assert replays_services.recording_sweep()["finalized"] == 0
    clock.advance(seconds=FINALIZE_GRACE_SECONDS + 1)
    assert replays_services.recording_sweep()["finalized"] == 1

    recording = Recording.objects.get(space=space)
    assert recording.status == Recording.Status.READY
    replay, ended = hls.parse_media_playlist(
        storage.get(store, f"{prefix}/{REPLAY_PLAYLIST}").decode()
    )
    assert ended
    [played] = replay
    named = {played.map_uri, *(s.uri for s in played.segments)}
    assert stored(prefix) == {REPLAY_PLAYLIST, f"{part.name}/{PLAYLIST}", *named}
    assert named == {
        f"{part.name}/{INIT}",
        *(f"{part.name}/{hls.segment_name(n)}" for n in range(STALL_AT)),
    }
    stored_ms = STALL_AT * SEGMENT_TICKS * 20
    assert recording.duration_ms == round(played.duration * 1000) == stored_ms
    assert decoded_samples(prefix, played) == (
        STALL_AT * SEGMENT_TICKS * fmp4.FRAME_SAMPLES - fmp4.PRE_SKIP
    )
    assert recording.size_bytes == sum(
        store.size(f"{prefix}/{name}") for name in stored(prefix) if name != REPLAY_PLAYLIST
    )
    assert Space.objects.get(pk=space.pk).state == Space.State.ENDED
