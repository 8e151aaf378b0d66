"""Recording a Space from its origin (#18): the recorder's segments, playlist and summary, and a
real Space whose recording leaves out a speaker the listeners still hear.

The first half drives a :class:`Recorder` by hand with an in-memory sink (no network, fast); the
second runs a real worker with aiortc peers and decodes what it stored through FFmpeg's demuxer.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
import pytest_asyncio

from media import fmp4, hls
from media.client import MediaClient, ToneTrack, tone_amplitude
from media.dsp import OpusEncoder, frame_to_mono
from media.recording import (
    INIT,
    PLAYLIST,
    QUEUE_SEGMENTS,
    SEGMENT_TICKS,
    SUMMARY,
    TURN_WINDOWS,
    PartSummary,
    Recorder,
)
from media.worker import MediaWorker
from tests.media.mixcheck import MixTap, change_of, frames_while_mixed

WALL = 1_700_000_000.0
WITHIN = 10.0
"""Seconds a writer thread gets to catch up: it only bounds how long a broken run waits."""
HEARD = 0.05  # a tone sent at 0.3 of full scale that is clearly there
ABSENT = 0.01

Pcm = npt.NDArray[np.float32]


# -- helpers -------------------------------------------------------------------------------------


class MemorySink:
    """Stores a part in a dict and notes every call. With ``block``, the first write waits for
    ``release`` (storage slower than real time); ``fail`` names files whose write raises once."""

    def __init__(self, *, block: bool = False, fail: Iterable[str] = ()) -> None:
        self.files: dict[str, bytes] = {}
        self.calls: list[tuple[str, str]] = []
        self.playlists: list[tuple[str, set[str]]] = []
        """Each playlist written, with the names stored at that moment."""
        self.summary: PartSummary | None = None
        self.entered = threading.Event()
        self.release = threading.Event()
        if not block:
            self.release.set()
        self._fail = set(fail)

    def write(self, part: str, name: str, data: bytes) -> None:
        self.entered.set()
        assert self.release.wait(WITHIN), "the test never released the sink"
        if name in self._fail:
            self._fail.discard(name)
            raise OSError(f"disk full writing {name}")
        self.files[name] = data
        self.calls.append(("write", name))
        if name == PLAYLIST:
            self.playlists.append((data.decode(), set(self.files)))

    def started(self, part: str, wall_start: float) -> None:
        self.calls.append(("started", part))

    def closed(self, summary: PartSummary) -> None:
        self.calls.append(("closed", summary.name))
        self.summary = summary

    def playlist(self) -> tuple[list[hls.Part], bool]:
        return hls.parse_media_playlist(self.files[PLAYLIST].decode())


def wait_for(condition: Callable[[], bool], within: float = WITHIN) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def marked(index: int) -> bytes:
    """A stand-in packet that says which tick it came from (the recorder never decodes)."""
    return b"\xf8" + index.to_bytes(4, "big")


def feed(recorder: Recorder, indexes: Iterable[int]) -> None:
    for index in indexes:
        recorder.add(index, marked(index))


def stored_segments(sink: MemorySink) -> dict[int, tuple[int, list[bytes]]]:
    """Segment number -> (base_time, packets), read back from the stored fMP4."""
    return {
        int(name[:5]): fmp4.read_segment(data)
        for name, data in sink.files.items()
        if name.endswith(".m4s")
    }


def uris(playlist: str) -> list[str]:
    (part,), _ = hls.parse_media_playlist(playlist)
    return [part.map_uri, *(s.uri for s in part.segments)]


def closed(recorder: Recorder, sink: MemorySink) -> PartSummary:
    recorder.close()
    assert recorder.wait_closed(WITHIN), "the writer thread never finished"
    assert sink.summary is not None
    return sink.summary


def decode_recording(files: dict[str, bytes]) -> dict[int, Pcm]:
    """Init plus the playlist's segments in order, through FFmpeg's mp4 demuxer and Opus
    decoder: each whole 20 ms frame keyed by its tick from the part's start (its pts / 960)."""
    (part,), _ = hls.parse_media_playlist(files[PLAYLIST].decode())
    data = files[part.map_uri] + b"".join(files[s.uri] for s in part.segments)
    frames: dict[int, Pcm] = {}
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
        for frame in container.decode(stream):
            assert frame.pts is not None
            # The first frame is shortened by the Opus pre-skip; the rest are whole ticks.
            if frame.samples == fmp4.FRAME_SAMPLES and frame.pts % fmp4.FRAME_SAMPLES == 0:
                frames[frame.pts // fmp4.FRAME_SAMPLES] = frame_to_mono(frame)
    return frames


def heard(pcm: Pcm, *frequencies: float) -> bool:
    """Each tone is clearly there. By level alone: in a frame where a sender's FIFO dropped
    samples, a phase jump spreads a tone's energy around it without taking it away."""
    return all(tone_amplitude(pcm, f) > HEARD for f in frequencies)


def peaks_at(pcm: Pcm, frequency: float) -> bool:
    """Some of the tone is there, as a peak of the spectrum: not the spread of a phase jump in
    another tone, which is no peak 100 Hz either side."""
    level = tone_amplitude(pcm, frequency)
    side = max(tone_amplitude(pcm, frequency + d) for d in (-100.0, 100.0))
    return level > ABSENT and level > 2.0 * side


def tone_packets(frequency: float, count: int) -> list[bytes]:
    encoder = OpusEncoder()
    t = np.arange(count * fmp4.FRAME_SAMPLES)
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * frequency * t / fmp4.SAMPLE_RATE)).astype(np.int16)
    n = fmp4.FRAME_SAMPLES
    return [p for i in range(count) for p in encoder.encode(pcm[i * n : (i + 1) * n])]


# -- segments ------------------------------------------------------------------------------------


def test_a_segment_is_cut_every_hundred_ticks_and_close_hands_over_the_last() -> None:
    sink = MemorySink()
    recorder = Recorder(sink, part="p", wall_start=WALL, first_index=1000)

    feed(recorder, range(1000, 1250))
    assert wait_for(lambda: "00001.m4s" in sink.files)
    assert "00002.m4s" not in sink.files  # still gathering
    closed(recorder, sink)

    segments = stored_segments(sink)
    assert sorted(segments) == [0, 1, 2]
    for number, (base_time, packets) in segments.items():
        first = 1000 + number * SEGMENT_TICKS
        assert base_time == number * SEGMENT_TICKS * fmp4.FRAME_SAMPLES
        assert packets == [marked(i) for i in range(first, min(first + SEGMENT_TICKS, 1250))]
    assert [len(p) for _, p in segments.values()] == [100, 100, 50]
    parts, ended = sink.playlist()
    assert ended
    assert [(s.sequence, s.duration) for s in parts[0].segments] == [(0, 2.0), (1, 2.0), (2, 1.0)]


def test_ticks_the_origin_skipped_are_silence_and_every_full_segment_has_a_hundred() -> None:
    sink = MemorySink()
    recorder = Recorder(sink, part="p", wall_start=WALL, first_index=0)
    skipped = {*range(5, 10), *range(100, 104), *range(195, 200), 250}

    feed(recorder, (i for i in range(280) if i not in skipped))
    recorder.add(270, b"late")  # a tick already past is ignored
    closed(recorder, sink)

    segments = stored_segments(sink)
    assert [len(p) for _, p in segments.values()] == [100, 100, 80]
    packets = [p for _, (_, ps) in sorted(segments.items()) for p in ps]
    assert packets == [fmp4.SILENCE if i in skipped else marked(i) for i in range(280)]


def test_a_whole_segment_skipped_keeps_the_later_ones_in_place() -> None:
    sink = MemorySink()
    recorder = Recorder(sink, part="p", wall_start=WALL, first_index=0)

    feed(recorder, [*range(150), *range(330, 420)])
    closed(recorder, sink)

    segments = stored_segments(sink)
    assert sorted(segments) == [0, 1, 3, 4]
    assert segments[1][1] == [marked(i) for i in range(100, 150)] + [fmp4.SILENCE] * 50
    assert segments[3] == (
        300 * fmp4.FRAME_SAMPLES,
        [fmp4.SILENCE] * 30 + [marked(i) for i in range(330, 400)],
    )
    parts, _ = sink.playlist()
    assert [s.sequence for s in parts[0].segments] == [0, 1, 3, 4]
    assert sink.files[PLAYLIST].decode().count("#EXT-X-GAP") == 1


# -- what reaches the sink, in which order --------------------------------------------------------


def test_init_then_each_segment_then_its_playlist_and_closed_comes_last() -> None:
    sink = MemorySink()
    recorder = Recorder(sink, part="p", wall_start=WALL, first_index=0)

    feed(recorder, range(250))
    closed(recorder, sink)

    assert sink.calls == [
        ("started", "p"),  # before any file, so a crash leaves nothing nobody knows of
        ("write", INIT),
        ("write", "00000.m4s"),
        ("write", PLAYLIST),
        ("write", "00001.m4s"),
        ("write", PLAYLIST),
        ("write", "00002.m4s"),
        ("write", PLAYLIST),
        ("write", PLAYLIST),  # the same segments, ended
        ("write", SUMMARY),
        ("closed", "p"),
    ]
    assert sink.files[INIT] == fmp4.init_segment()


def test_every_playlist_names_only_files_already_stored() -> None:
    sink = MemorySink()
    recorder = Recorder(sink, part="p", wall_start=WALL, first_index=0)

    feed(recorder, range(350))
    closed(recorder, sink)

    assert len(sink.playlists) == 5
    for n, (text, stored) in enumerate(sink.playlists):
        (part,), ended = hls.parse_media_playlist(text)
        assert part.map_uri in stored
        assert {s.uri for s in part.segments} <= stored
        assert part.wall_start == pytest.approx(WALL, abs=1e-3)
        assert [s.sequence for s in part.segments] == list(range(min(n + 1, 4)))
        assert ended == (n == 4)


def test_a_part_with_no_tick_writes_only_its_summary() -> None:
    sink = MemorySink()
    recorder = Recorder(sink, part="p", wall_start=WALL, first_index=0)

    summary = closed(recorder, sink)

    assert sink.calls == [("write", SUMMARY), ("closed", "p")]
    assert (summary.segments, summary.duration_ms) == (0, 0)


# -- the summary ---------------------------------------------------------------------------------


def test_the_summary_counts_talk_turns_and_who_was_left_out() -> None:
    sink = MemorySink()
    recorder = Recorder(sink, part="p", wall_start=WALL, first_index=1000)
    ada, bob = 7, 9
    assert TURN_WINDOWS == 4  # the windows below are written for it
    windows: list[list[int]] = [
        [ada],
        [ada],
        [ada],
        [ada],  # ada's turn from the first of these
        [bob, ada],  # bob laughs over ada: no turn
        [ada],
        [bob],
        [bob],
        [bob],
        [],  # a pause before bob's fourth window: still no turn
        [bob, ada],
        [bob, ada],
        [bob, ada],
        [bob, ada],  # bob's turn from the first of these
    ]

    feed(recorder, range(1000, 1000 + 10 * len(windows)))
    for n, speaking in enumerate(windows):
        recorder.note_speaking(speaking, 0.2, 1000 + 10 * n)
    recorder.note_left_out({bob})
    summary = closed(recorder, sink)

    assert summary.turns == [(0, "7"), (2000, "9")]
    assert summary.talk_seconds == {"7": 2.0, "9": 1.6}
    assert summary.left_out == ["9"]
    assert summary.duration_ms == 10 * len(windows) * 20
    assert summary.segments == 2
    assert summary.dropped_segments == 0
    assert (summary.name, summary.wall_start) == ("p", WALL)
    assert PartSummary.from_json(sink.files[SUMMARY]) == summary


# -- storage slower than real time, or failing ----------------------------------------------------


def test_a_slow_sink_fills_the_queue_and_later_segments_are_dropped_not_waited_for() -> None:
    sink = MemorySink(block=True)
    recorder = Recorder(sink, part="p", wall_start=WALL, first_index=0)
    feed(recorder, range(SEGMENT_TICKS + 1))
    assert sink.entered.wait(WITHIN)  # the writer holds segment 0, stuck in the sink

    extra = 5
    last = (1 + QUEUE_SEGMENTS + extra) * SEGMENT_TICKS + 50
    loop_side = threading.Thread(target=feed, args=(recorder, range(SEGMENT_TICKS + 1, last)))
    loop_side.start()
    loop_side.join(WITHIN)
    assert not loop_side.is_alive(), "add() waited for storage"
    assert recorder.dropped_segments == extra

    sink.release.set()
    assert wait_for(lambda: f"{QUEUE_SEGMENTS:05d}.m4s" in sink.files)
    summary = closed(recorder, sink)

    kept = [*range(QUEUE_SEGMENTS + 1), 1 + QUEUE_SEGMENTS + extra]
    assert sorted(stored_segments(sink)) == kept
    parts, _ = sink.playlist()
    assert [s.sequence for s in parts[0].segments] == kept
    assert sink.files[PLAYLIST].decode().count("#EXT-X-GAP") == extra
    assert summary.dropped_segments == extra
    assert summary.segments == len(kept)


def test_close_with_a_full_queue_returns_at_once_and_the_part_still_ends() -> None:
    sink = MemorySink(block=True)
    recorder = Recorder(sink, part="p", wall_start=WALL, first_index=0)
    feed(recorder, range(SEGMENT_TICKS + 1))
    assert sink.entered.wait(WITHIN)
    feed(recorder, range(SEGMENT_TICKS + 1, (QUEUE_SEGMENTS + 2) * SEGMENT_TICKS + 1))
    assert recorder.dropped_segments == 1

    closer = threading.Thread(target=recorder.close)
    closer.start()
    closer.join(WITHIN)
    assert not closer.is_alive(), "close() waited for storage"
    sink.release.set()
    assert recorder.wait_closed(WITHIN)

    assert sink.calls[-3:] == [("write", PLAYLIST), ("write", SUMMARY), ("closed", "p")]
    assert sink.playlist()[1] is True
    # The last one (one tick, handed over at close) found the queue full too.
    assert sink.summary is not None
    assert sink.summary.dropped_segments == 2
    assert sink.summary.segments == QUEUE_SEGMENTS + 1


def test_a_segment_whose_write_fails_is_a_gap_and_the_others_are_stored() -> None:
    sink = MemorySink(fail={"00001.m4s"})
    recorder = Recorder(sink, part="p", wall_start=WALL, first_index=0)

    feed(recorder, range(350))
    summary = closed(recorder, sink)

    assert sorted(stored_segments(sink)) == [0, 2, 3]
    text = sink.files[PLAYLIST].decode()
    lines = text.splitlines()
    assert lines[lines.index("00001.m4s") - 2] == "#EXT-X-GAP"
    parts, ended = hls.parse_media_playlist(text)
    assert ended
    assert [s.sequence for s in parts[0].segments] == [0, 2, 3]
    assert all(uri in stored for text, stored in sink.playlists for uri in uris(text))
    assert (summary.segments, summary.dropped_segments) == (3, 1)


def test_a_failed_first_playlist_write_loses_neither_the_segment_nor_started() -> None:
    """Segment 0 is stored before its playlist write fails: the next playlist names it, and the
    part must still be announced (the sink creates the Space's Recording in ``started``)."""
    sink = MemorySink(fail={PLAYLIST})
    recorder = Recorder(sink, part="p", wall_start=WALL, first_index=0)

    feed(recorder, range(250))
    summary = closed(recorder, sink)

    assert sink.calls.count(("started", "p")) == 1
    parts, _ = sink.playlist()
    assert [s.sequence for s in parts[0].segments] == [0, 1, 2]
    assert (summary.segments, summary.dropped_segments) == (3, 0)


# -- playable ------------------------------------------------------------------------------------


def test_the_stored_part_plays_as_audio_with_silence_where_ticks_were_skipped() -> None:
    sink = MemorySink()
    recorder = Recorder(sink, part="p", wall_start=WALL, first_index=500)
    packets = tone_packets(440, 250)
    skipped = set(range(120, 130))

    for i, packet in enumerate(packets):
        if i not in skipped:
            recorder.add(500 + i, packet)
    closed(recorder, sink)
    frames = decode_recording(sink.files)

    assert sorted(frames) == list(range(1, 250))
    # A tick either side of the hole may carry the decoder's overlap; inside it, silence.
    silent = [t for t in range(121, 129) if tone_amplitude(frames[t], 440) > ABSENT]
    assert silent == []
    toned = [t for t in frames if t not in range(119, 132) and not heard(frames[t], 440)]
    assert toned == []


# -- a real Space ----------------------------------------------------------------------------------


class DirectorySink:
    """Files under ``root/part/``, each replaced whole (written aside, then renamed)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.summary: PartSummary | None = None

    def write(self, part: str, name: str, data: bytes) -> None:
        folder = self.root / part
        folder.mkdir(parents=True, exist_ok=True)
        aside = folder / f".{name}.tmp"
        aside.write_bytes(data)
        os.replace(aside, folder / name)

    def started(self, part: str, wall_start: float) -> None:
        pass

    def closed(self, summary: PartSummary) -> None:
        self.summary = summary

    def files(self, part: str) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in (self.root / part).iterdir()}


RecordedJoin = Callable[..., Awaitable[MediaClient]]


@pytest_asyncio.fixture
async def join_recorded(
    worker: MediaWorker, space: str, tmp_path: Path
) -> AsyncIterator[tuple[RecordedJoin, DirectorySink]]:
    """``await join(user_id, role, recorded=..., **MediaClient kwargs)``, every join asking the
    worker to record into a folder of ``tmp_path``."""
    sink = DirectorySink(tmp_path)
    clients: list[MediaClient] = []

    async def make(
        user_id: str, role: str, *, recorded: bool = True, **kwargs: object
    ) -> MediaClient:
        async def exchange(offer: str) -> str:
            return await worker.join(space, user_id, role, offer, recording=sink, recorded=recorded)

        client = MediaClient(exchange, name=user_id, **kwargs)  # type: ignore[arg-type]
        clients.append(client)
        await client.connect(within=10)
        assert await worker.wait_connected(space, user_id, within=10)
        return client

    try:
        yield make, sink
    finally:
        for client in clients:
            await client.close()


def received_payloads(client: MediaClient, worker: MediaWorker, space: str) -> dict[int, bytes]:
    """The listener's RTP payloads by the tick that mixed them."""
    seq0 = worker.rtp_sequence(space, client.name, 0)
    assert seq0 is not None
    return {(p.sequence_number - seq0) & 0xFFFF: p.payload for p in client.packets}


@pytest.mark.media
@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_a_speaker_left_out_of_the_recording_is_still_heard_live(
    join_recorded: tuple[RecordedJoin, DirectorySink],
    worker: MediaWorker,
    space: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Judged per tick (see mixcheck): a frame of the recording or of the listener counts only
    when the audio tap proves the worker mixed both tones whole in it and the tick before."""
    join, sink = join_recorded
    tap = MixTap(worker, space)
    tones: dict[Hashable, float] = {"low": 440, "high": 880}
    await join("low", "speaker", send=ToneTrack(440), receive="none")
    await join("high", "speaker", send=ToneTrack(880), receive="none")
    listener = await join("listener", "listener", sendrecv=False, receive="rtp")
    recorder = worker.recorder(space)
    assert recorder is not None
    origin = worker._origins[space]
    recorded: dict[int, bytes] = {}
    add = recorder.add

    def spy(index: int, payload: bytes) -> None:
        recorded[index] = payload
        add(index, payload)

    monkeypatch.setattr(recorder, "add", spy)

    # Everyone recorded: no second encode, the recording is the listeners' very packets.
    before = await frames_while_mixed(listener, worker, space, "listener", tap, tones, n=100)
    assert origin._recording_encoder is None
    live = received_payloads(listener, worker, space)
    common = sorted(set(recorded) & set(live))
    assert len(common) >= 100
    assert [t for t in common if recorded[t] != live[t]] == []

    assert await worker.set_recorded(space, "high", False)
    k = change_of(worker, space, "high", "recorded=False").index
    assert origin._recording_encoder is not None
    # 0.2 s for the recording's decoder to settle on the second encoder's stream.
    after = await frames_while_mixed(
        listener, worker, space, "listener", tap, tones, since=k + 10, n=100
    )
    live = received_payloads(listener, worker, space)
    apart = [t for t in sorted(set(recorded) & set(live)) if t >= k and t in tap.ticks_with("high")]
    assert len(apart) >= 100
    assert [t for t in apart if recorded[t] == live[t]] == []

    await worker.end_space(space)
    tap.remove()
    assert await asyncio.to_thread(recorder.wait_closed, WITHIN), "the recording was never finished"
    assert sink.summary is not None
    assert sink.summary.left_out == ["high"]
    assert "low" in sink.summary.talk_seconds
    frames = decode_recording(sink.files(recorder.part))

    def in_recording(ticks: Iterable[int]) -> dict[int, Pcm]:
        """The recording's frames of those (mix) ticks, which it must all hold."""
        found = {t: frames.get(t - recorder.first_index) for t in ticks}
        assert [t for t, pcm in found.items() if pcm is None] == [], "ticks not recorded"
        return {t: pcm for t, pcm in found.items() if pcm is not None}

    both = in_recording(f.tick for f in before if f.tick < k)
    assert len(both) >= 100
    assert [t for t, pcm in both.items() if not heard(pcm, 440, 880)] == []
    alone = in_recording(f.tick for f in after)

    def why(t: int) -> dict[str, object]:
        """What a session that meets a failure here needs to find its cause (seen once in CI,
        not reproduced: the recording's frame of a tick the tap proves clean lacked the tone)."""
        previous = frames.get(t - 1 - recorder.first_index)
        return {
            "tick": t,
            "since_change": t - k,
            "440": round(tone_amplitude(alone[t], 440), 3),
            "880": round(tone_amplitude(alone[t], 880), 3),
            "440_tick_before": None
            if previous is None
            else round(tone_amplitude(previous, 440), 3),
            "silence_filled_in_last_5": [u for u in range(t - 5, t + 1) if u not in recorded],
            "high_mixed": t in tap.ticks_with("high"),
            "low_mixed_ticks_around": sorted(u for u in tap.ticks_with("low") if t - 5 <= u <= t),
        }

    assert [why(t) for t, pcm in alone.items() if not heard(pcm, 440)] == []
    assert [t for t, pcm in alone.items() if peaks_at(pcm, 880)] == []
    assert tone_amplitude(np.concatenate(list(alone.values())), 880) < ABSENT
    # Meanwhile the listener heard them both, every one of those ticks.
    assert [f.tick for f in after if not heard(f.pcm, 440, 880)] == []


@pytest.mark.media
@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_only_a_left_out_member_on_stage_starts_the_second_encode(
    join_recorded: tuple[RecordedJoin, DirectorySink], worker: MediaWorker, space: str
) -> None:
    join, sink = join_recorded
    await join("low", "speaker", send=ToneTrack(440), receive="none")
    await join("shy", "listener", recorded=False, receive="none")
    origin = worker._origins[space]
    recorder = worker.recorder(space)
    assert recorder is not None

    assert origin.left_out == {"shy"}
    assert origin._recording_encoder is None  # a listener adds nothing to the mix
    assert await worker.set_role(space, "shy", "speaker")
    assert origin._recording_encoder is not None
    assert await worker.set_role(space, "shy", "listener")
    assert origin._recording_encoder is None
    assert await worker.set_role(space, "shy", "speaker")
    assert await worker.set_recorded(space, "shy", True)
    assert origin._recording_encoder is None

    await worker.end_space(space)
    assert await asyncio.to_thread(recorder.wait_closed, WITHIN)
    assert sink.summary is not None
    assert sink.summary.left_out == ["shy"]  # left out while on stage, for a while
