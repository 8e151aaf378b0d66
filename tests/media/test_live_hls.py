"""Live HLS of a Space (#19): the writer's segments and sliding playlist, and nginx serving them.

The first half drives a :class:`LiveWriter` by hand with an in-memory sink (no network, fast);
the last test writes a real stream into a folder that nginx, configured by the deployment's own
``deploy/nginx/live-hls.conf``, serves over HTTP, and plays it back as a player would.
"""

from __future__ import annotations

import http.client
import io
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import av
import numpy as np
import pytest

from media import fmp4
from media.client import dominant_frequency, tone_amplitude
from media.dsp import OpusEncoder, frame_to_mono
from media.live import (
    INIT,
    KEEP,
    PLAYLIST,
    QUEUE_SEGMENTS,
    SEGMENT_TICKS,
    STATE,
    WINDOW,
    LiveWriter,
)
from tests.servers import running_nginx

WALL = 1_700_000_000.0
EPOCH = 0x0000BEEF
WITHIN = 10.0
"""Seconds a writer thread gets to catch up: it only bounds how long a broken run waits."""


# -- helpers -------------------------------------------------------------------------------------


class MemorySink:
    """A folder in a dict that notes every call. With ``block``, writes wait for ``release``
    (storage slower than real time); ``fail`` names files whose next write raises."""

    def __init__(self, *, block: bool = False, fail: Iterable[str] = ()) -> None:
        self.files: dict[str, bytes] = {}
        self.deleted: list[str] = []
        self.order: list[str] = []
        """Names written, in order."""
        self.playlists: list[tuple[str, set[str]]] = []
        """Each playlist written, with the names stored at that moment."""
        self.entered = threading.Event()
        self.release = threading.Event()
        if not block:
            self.release.set()
        self._fail = set(fail)
        self._lock = threading.Lock()

    def write(self, name: str, data: bytes) -> None:
        self.entered.set()
        assert self.release.wait(WITHIN), "the test never released the sink"
        with self._lock:
            if name in self._fail:
                self._fail.discard(name)
                raise OSError(f"disk full writing {name}")
            self.files[name] = data
            self.order.append(name)
            if name == PLAYLIST:
                self.playlists.append((data.decode(), set(self.files)))

    def read(self, name: str) -> bytes | None:
        with self._lock:
            return self.files.get(name)

    def delete(self, name: str) -> None:
        with self._lock:
            self.files.pop(name, None)
            self.deleted.append(name)

    def segments(self) -> list[str]:
        with self._lock:
            return sorted(n for n in self.files if n.endswith(".m4s"))

    def playlist(self) -> Playlist:
        with self._lock:
            return parse(self.files[PLAYLIST].decode())


@dataclass
class Listed:
    uri: str
    duration: float
    wall: float
    media_sequence: int
    discontinuity_sequence: int
    """The numbers a player gives this segment (RFC 8216 6.2.1, 6.2.2)."""
    after_discontinuity: bool


@dataclass
class Playlist:
    target_duration: int
    media_sequence: int
    discontinuity_sequence: int
    map_uri: str
    entries: list[Listed] = field(default_factory=list)
    ended: bool = False


def parse(text: str) -> Playlist:
    """A live media playlist as a player reads it: each segment numbered as RFC 8216 says."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[0] == "#EXTM3U"
    head = {k: v for k, _, v in (line.partition(":") for line in lines if line.startswith("#"))}
    out = Playlist(
        target_duration=int(head["#EXT-X-TARGETDURATION"]),
        media_sequence=int(head["#EXT-X-MEDIA-SEQUENCE"]),
        discontinuity_sequence=int(head["#EXT-X-DISCONTINUITY-SEQUENCE"]),
        map_uri=head["#EXT-X-MAP"].removeprefix("URI=").strip('"'),
        ended="#EXT-X-ENDLIST" in lines,
    )
    msn, dsn = out.media_sequence, out.discontinuity_sequence
    duration, wall, boundary = 0.0, 0.0, False
    for line in lines[1:]:
        if line == "#EXT-X-DISCONTINUITY":
            boundary = True
            dsn += 1
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            wall = datetime.fromisoformat(line.partition(":")[2]).timestamp()
        elif line.startswith("#EXTINF:"):
            duration = float(line.removeprefix("#EXTINF:").split(",")[0])
        elif not line.startswith("#"):
            out.entries.append(Listed(line, duration, wall, msn, dsn, boundary))
            msn += 1
            boundary = False
    return out


def segment_name(sequence: int, epoch: int = EPOCH) -> str:
    return f"{epoch:08x}-{sequence:06d}.m4s"


def marked(index: int) -> bytes:
    """A stand-in packet that says which tick it came from (the writer never decodes)."""
    return b"\xf8" + index.to_bytes(4, "big")


def feed(writer: LiveWriter, indexes: Iterable[int], *, paced: bool = True) -> None:
    """``paced``: as the real clock, which hands over a segment a second: each handed-over
    segment waits until the writer has taken it (feeding faster fills the queue and drops)."""
    for index in indexes:
        writer.add(index, marked(index))
        if paced:
            assert wait_for(writer._queue.empty), "the writer thread never took a segment"


def wait_for(condition: Callable[[], bool], within: float = WITHIN) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def closed(writer: LiveWriter, *, ended: bool) -> None:
    writer.close(ended=ended)
    assert writer.wait_closed(WITHIN), "the writer thread never finished"


def numbering(sink: MemorySink) -> dict[str, tuple[int, int]]:
    """Every URI any playlist named, with its (media, discontinuity) sequence numbers; a URI
    numbered two ways across playlists fails here, as it would confuse every player."""
    seen: dict[str, tuple[int, int]] = {}
    for text, _ in sink.playlists:
        for entry in parse(text).entries:
            numbers = (entry.media_sequence, entry.discontinuity_sequence)
            assert seen.setdefault(entry.uri, numbers) == numbers, f"{entry.uri} renumbered"
    return seen


# -- the writer ----------------------------------------------------------------------------------


def test_the_playlist_slides_over_the_last_six_one_second_segments() -> None:
    sink = MemorySink()
    writer = LiveWriter(sink, epoch=EPOCH, first_index=1000, wall_start=WALL)

    feed(writer, range(1000, 1000 + 10 * SEGMENT_TICKS + 25))
    closed(writer, ended=False)

    playlist = sink.playlist()
    assert playlist.target_duration == 1
    assert playlist.map_uri == INIT
    assert sink.files[INIT] == fmp4.init_segment()
    assert [e.uri for e in playlist.entries] == [segment_name(n) for n in range(5, 11)]
    assert playlist.media_sequence == 5
    assert [e.media_sequence for e in playlist.entries] == list(range(5, 11))
    assert [e.duration for e in playlist.entries] == [1.0] * 5 + [0.5]
    assert [e.wall for e in playlist.entries] == [pytest.approx(WALL + n) for n in range(5, 11)]
    assert not playlist.ended
    for n in range(5, 11):
        base_time, packets = fmp4.read_segment(sink.files[segment_name(n)])
        first = 1000 + n * SEGMENT_TICKS
        assert base_time == n * SEGMENT_TICKS * fmp4.FRAME_SAMPLES
        assert packets == [marked(i) for i in range(first, min(first + SEGMENT_TICKS, 1525))]
    assert writer.segments_written == 11
    assert writer.dropped_segments == 0


def test_a_segment_leaving_the_window_is_deleted_only_after_keep_more() -> None:
    sink = MemorySink()
    writer = LiveWriter(sink, epoch=EPOCH, first_index=0, wall_start=WALL)
    total = WINDOW + KEEP + 8

    feed(writer, range(total * SEGMENT_TICKS))
    closed(writer, ended=False)

    assert sink.segments() == [segment_name(n) for n in range(total - WINDOW - KEEP, total)]
    assert sink.deleted == [segment_name(n) for n in range(total - WINDOW - KEEP)]
    # A client holding any playlist of the last KEEP seconds still finds all it names.
    for text, _ in sink.playlists[-KEEP:]:
        assert {e.uri for e in parse(text).entries} <= set(sink.files)


def test_every_playlist_names_only_files_already_stored() -> None:
    sink = MemorySink()
    writer = LiveWriter(sink, epoch=EPOCH, first_index=0, wall_start=WALL)

    feed(writer, range(30 * SEGMENT_TICKS + 10))
    closed(writer, ended=True)

    assert len(sink.playlists) == 32  # one per segment, and the ended one
    for text, stored in sink.playlists:
        playlist = parse(text)
        assert playlist.map_uri in stored
        assert [e.uri for e in playlist.entries if e.uri not in stored] == []


def test_ticks_the_origin_skipped_are_silence_and_a_lost_second_is_a_discontinuity() -> None:
    sink = MemorySink()
    writer = LiveWriter(sink, epoch=EPOCH, first_index=0, wall_start=WALL)
    # A few ticks inside segment 0, the end of 1 into 2, and all of 3 and 4.
    skipped = {*range(5, 9), *range(95, 105), *range(140, 260)}

    feed(writer, (i for i in range(6 * SEGMENT_TICKS) if i not in skipped))
    writer.add(270, b"late")  # a tick already past is ignored
    closed(writer, ended=False)

    stored = {int(n[9:15]): fmp4.read_segment(sink.files[n])[1] for n in sink.segments()}
    assert sorted(stored) == [0, 1, 2, 5]
    for number, packets in stored.items():
        first = number * SEGMENT_TICKS
        assert packets == [
            fmp4.SILENCE if i in skipped else marked(i) for i in range(first, first + 50)
        ]
    playlist = sink.playlist()
    assert [(e.uri, e.after_discontinuity) for e in playlist.entries] == [
        (segment_name(0), False),
        (segment_name(1), False),
        (segment_name(2), False),
        (segment_name(5), True),
    ]
    assert [e.discontinuity_sequence for e in playlist.entries] == [0, 0, 0, 1]
    numbering(sink)


def test_a_segment_finding_the_queue_full_is_dropped_counted_and_never_named() -> None:
    sink = MemorySink(block=True)
    writer = LiveWriter(sink, epoch=EPOCH, first_index=0, wall_start=WALL)
    segments = QUEUE_SEGMENTS + 4

    # The writer holds one segment (its first write blocks), the queue QUEUE_SEGMENTS more.
    feed(writer, range(SEGMENT_TICKS + 1))
    assert sink.entered.wait(WITHIN)
    feed(writer, range(SEGMENT_TICKS + 1, segments * SEGMENT_TICKS + 1), paced=False)
    assert writer.dropped_segments == segments - QUEUE_SEGMENTS - 1
    sink.release.set()
    feed(writer, range(segments * SEGMENT_TICKS + 1, (segments + 2) * SEGMENT_TICKS))
    closed(writer, ended=False)

    kept = QUEUE_SEGMENTS + 1
    named = [e.uri for text, _ in sink.playlists for e in parse(text).entries]
    assert set(named) == {segment_name(n) for n in [*range(kept), segments, segments + 1]}
    assert [e.after_discontinuity for e in sink.playlist().entries][-3:] == [False, True, False]
    assert writer.dropped_segments == segments - kept
    numbering(sink)


def test_a_segment_storage_refused_is_counted_and_the_next_one_marks_the_gap() -> None:
    sink = MemorySink(fail=[segment_name(2)])
    writer = LiveWriter(sink, epoch=EPOCH, first_index=0, wall_start=WALL)

    feed(writer, range(5 * SEGMENT_TICKS))
    closed(writer, ended=False)

    playlist = sink.playlist()
    assert [(e.uri, e.after_discontinuity) for e in playlist.entries] == [
        (segment_name(0), False),
        (segment_name(1), False),
        (segment_name(3), True),
        (segment_name(4), False),
    ]
    assert writer.dropped_segments == 1


def test_the_end_list_is_written_only_when_the_space_has_ended() -> None:
    going_on = MemorySink()
    writer = LiveWriter(going_on, epoch=EPOCH, first_index=0, wall_start=WALL)
    feed(writer, range(130))
    closed(writer, ended=False)
    assert not going_on.playlist().ended
    assert [e.duration for e in going_on.playlist().entries] == [1.0, 1.0, 0.6]

    over = MemorySink()
    writer = LiveWriter(over, epoch=EPOCH, first_index=0, wall_start=WALL)
    feed(writer, range(130))
    closed(writer, ended=True)
    writer.close(ended=False)  # a second close changes nothing
    assert over.playlist().ended
    assert [e.uri for e in over.playlist().entries] == [segment_name(n) for n in range(3)]
    assert all(not parse(text).ended for text, _ in over.playlists[:-1])


def test_a_second_origin_continues_the_playlist_after_a_discontinuity() -> None:
    sink = MemorySink()
    first = LiveWriter(sink, epoch=EPOCH, first_index=0, wall_start=WALL)
    feed(first, range(4 * SEGMENT_TICKS + 20))  # 4.4 s, then the origin stops
    closed(first, ended=False)
    second_epoch = 0x00C0FFEE
    second = LiveWriter(sink, epoch=second_epoch, first_index=7000, wall_start=WALL + 9)

    feed(second, range(7000, 7000 + 12 * SEGMENT_TICKS))
    closed(second, ended=True)

    ours = [segment_name(n) for n in range(5)]
    theirs = [segment_name(n, second_epoch) for n in range(12)]
    numbers = numbering(sink)
    # One count over both origins: each URI keeps its number in every playlist it is in.
    assert [numbers[u][0] for u in ours + theirs] == list(range(17))
    assert [numbers[u][1] for u in ours + theirs] == [0] * 5 + [1] * 12
    boundary = parse(sink.playlists[5][0])
    assert [(e.uri, e.after_discontinuity) for e in boundary.entries][-2:] == [
        (ours[-1], False),
        (theirs[0], True),
    ]
    final = sink.playlist()
    assert final.ended
    assert final.media_sequence == 17 - WINDOW
    # The boundary left the window: the header counts it now.
    assert final.discontinuity_sequence == 1
    assert not any(e.after_discontinuity for e in final.entries)
    assert final.entries[0].wall == pytest.approx(WALL + 9 + 17 - WINDOW - 5)


def test_a_writer_ending_the_space_before_its_first_segment_still_ends_the_playlist() -> None:
    sink = MemorySink()
    first = LiveWriter(sink, epoch=EPOCH, first_index=0, wall_start=WALL)
    feed(first, range(3 * SEGMENT_TICKS))
    closed(first, ended=False)

    second = LiveWriter(sink, epoch=0x00C0FFEE, first_index=500, wall_start=WALL + 5)
    closed(second, ended=True)  # the Space ended before the new origin's first tick

    assert sink.playlist().ended
    assert [e.uri for e in sink.playlist().entries] == [segment_name(n) for n in range(3)]


def test_a_segment_is_stored_before_the_playlist_naming_it_and_the_state_after() -> None:
    sink = MemorySink()
    writer = LiveWriter(sink, epoch=EPOCH, first_index=0, wall_start=WALL)

    feed(writer, range(3 * SEGMENT_TICKS))
    closed(writer, ended=True)

    segments = [segment_name(n) for n in range(3)]
    assert sink.order == [
        INIT,
        *(name for segment in segments for name in (segment, PLAYLIST, STATE)),
        PLAYLIST,  # the ended playlist
        STATE,
    ]
    assert STATE not in {e.uri for text, _ in sink.playlists for e in parse(text).entries}


# -- nginx in front of the folder, a player behind it --------------------------------------------


class FolderSink:
    """A LiveSink on a local folder: each file through a temporary name and ``os.replace``, as
    ``spaces_project.storage.put`` stores it (a reader never sees half a file)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, data: bytes) -> None:
        temporary = self.folder / f"{name}.partial"
        temporary.write_bytes(data)
        os.replace(temporary, self.folder / name)

    def read(self, name: str) -> bytes | None:
        try:
            return (self.folder / name).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)


class Player:
    """One keep-alive HTTP/1.1 connection, as hls.js or a phone holds to the CDN."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1"
        self.path = parts.path
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)

    def get(
        self, name: str, method: str = "GET", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        self.connection.request(method, self.path + name, headers=headers or {})
        response = self.connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body

    def close(self) -> None:
        self.connection.close()


def tone_packets(frequency: float, count: int) -> list[bytes]:
    encoder = OpusEncoder()
    n = fmp4.FRAME_SAMPLES
    t = np.arange(count * n)
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * frequency * t / fmp4.SAMPLE_RATE)).astype(np.int16)
    return [p for i in range(count) for p in encoder.encode(pcm[i * n : (i + 1) * n])]


@pytest.mark.media
@pytest.mark.timeout(60)
def test_a_player_plays_the_live_stream_through_nginx(tmp_path: Path) -> None:
    live = tmp_path / "live"
    folder = "space-7-9f3c2a"
    packets = tone_packets(440, 5 * SEGMENT_TICKS + 20)  # 5.4 s of 440 Hz
    writer = LiveWriter(FolderSink(live / folder), epoch=EPOCH, first_index=0, wall_start=WALL)

    with running_nginx(live) as base:
        player = Player(f"{base}{folder}/")
        try:
            for i in range(3 * SEGMENT_TICKS + 1):
                writer.add(i, packets[i])
            stored = live / folder / PLAYLIST
            assert wait_for(lambda: stored.exists() and segment_name(2) in stored.read_text())

            status, headers, body = player.get(PLAYLIST)
            assert status == 200
            assert headers["content-type"] == "application/vnd.apple.mpegurl"
            assert headers["cache-control"] == "no-cache"
            assert headers["access-control-allow-origin"] == "*"
            playlist = parse(body.decode())
            assert not playlist.ended
            assert [e.uri for e in playlist.entries] == [segment_name(n) for n in range(3)]

            status, headers, init = player.get(playlist.map_uri)
            assert (status, headers["content-type"]) == (200, "audio/mp4")
            assert headers["cache-control"] == "public, max-age=60, immutable"
            fetched: dict[str, bytes] = {}

            def fetch_new(playlist: Playlist) -> None:
                for entry in playlist.entries:
                    if entry.uri not in fetched:
                        status, headers, body = player.get(entry.uri)
                        assert (status, headers["content-type"]) == (200, "audio/mp4")
                        assert headers["cache-control"] == "public, max-age=60, immutable"
                        assert headers["access-control-allow-origin"] == "*"
                        assert int(headers["content-length"]) == len(body) > 0
                        fetched[entry.uri] = body

            fetch_new(playlist)
            # The Space goes on, then ends: the player polls again and finds the end.
            for i in range(3 * SEGMENT_TICKS + 1, len(packets)):
                writer.add(i, packets[i])
            closed(writer, ended=True)
            status, _, body = player.get(PLAYLIST)
            playlist = parse(body.decode())
            assert playlist.ended
            fetch_new(playlist)

            # hls.js asks cross-origin, with a Range header: the preflight is answered.
            status, headers, _ = player.get(
                segment_name(0),
                method="OPTIONS",
                headers={
                    "Origin": "https://spaces.example",
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "range",
                },
            )
            assert status == 204
            assert headers["access-control-allow-origin"] == "*"
            assert "range" in headers["access-control-allow-headers"].lower()
            status, headers, part = player.get(segment_name(1), headers={"Range": "bytes=0-99"})
            assert (status, len(part)) == (206, 100)
            assert headers["access-control-allow-origin"] == "*"
            # The writer's own state, its temporaries and the folder itself are not served.
            assert (live / folder / STATE).exists()
            (live / folder / "index.m3u8.partial").write_text("#EXTM3U\n")
            for name in (STATE, "index.m3u8.partial", ""):
                status, _, _ = player.get(name)
                assert status in (403, 404), name
            status, _, _ = Player(base).get("")
            assert status in (403, 404)
        finally:
            player.close()

    names = [segment_name(n) for n in range(6)]
    assert sorted(fetched) == names
    data = init + b"".join(fetched[n] for n in names)
    samples: list[np.ndarray] = []
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
        for frame in container.decode(stream):
            samples.append(frame_to_mono(frame))
    pcm = np.concatenate(samples)
    # Every packet written came back, less the encoder's priming the decoder drops.
    assert len(pcm) == len(packets) * fmp4.FRAME_SAMPLES - fmp4.PRE_SKIP
    steady = pcm[fmp4.FRAME_SAMPLES * 5 :]
    assert dominant_frequency(steady) == pytest.approx(440, abs=2)
    assert tone_amplitude(steady, 440) > 0.2
