"""Live HLS of a Space: the listeners' mix as 1 s segments and a sliding playlist.

WebRTC listeners are bounded by our cores; an HLS listener costs us nothing, since any static
server or CDN in front of the storage serves them. The origin hands the writer the very Opus
packet it encoded for its WebRTC listeners (no second encode), one per 20 ms tick. As in
``media.recording``, the event loop only appends the packet; each second a segment goes to a
writer thread through a bounded queue, and a segment that finds the queue full is dropped and
counted (the next one is marked as a discontinuity): the mixing loop never waits for storage.

The writer stores each segment whole, then the playlist naming it, then its own state
(``live.json``): a reader never finds a playlist naming a file that is not there. The playlist
names the last ``WINDOW`` segments, each with its wall time (``EXT-X-PROGRAM-DATE-TIME``, how a
player shows its delay); a segment leaving the window is deleted ``KEEP`` segments later, so a
client holding an older playlist still finds what it names. These are not a recording: they
are gone seconds after they were heard, and the domain deletes the folder after the end.

A Space whose origin stops and starts again (another worker, a restart) keeps one playlist: the
next writer reads ``live.json`` and goes on from the media and discontinuity sequence numbers
there, its first segment after an ``EXT-X-DISCONTINUITY``.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Protocol

from media import fmp4
from media.hls import iso

logger = logging.getLogger(__name__)

SEGMENT_TICKS = 50
"""1 s of 20 ms ticks: the delay a listener hears is about two to three segments."""
WINDOW = 6
"""Segments in the playlist: players start two or three segments from its end."""
KEEP = 10
"""Segments kept after they left the playlist, for clients still reading an older one."""
QUEUE_SEGMENTS = 8

INIT = "init.mp4"
PLAYLIST = "index.m3u8"
STATE = "live.json"


class LiveSink(Protocol):
    """The folder of one Space's live HLS. Called on the writer thread only."""

    def write(self, name: str, data: bytes) -> None:
        """Store ``data`` as ``name``, replacing it, whole or not at all."""

    def read(self, name: str) -> bytes | None:
        """The stored ``name``, or None."""

    def delete(self, name: str) -> None: ...


@dataclass
class Entry:
    uri: str
    duration: float
    wall: float
    """Wall time of the segment's first tick."""
    discontinuity: bool = False


@dataclass
class _State:
    media_sequence: int = 0
    """The sequence number of ``entries[0]``."""
    discontinuity_sequence: int = 0
    entries: list[Entry] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    """Segments out of the window, not yet deleted, oldest first."""

    @classmethod
    def load(cls, data: bytes | None) -> _State:
        if not data:
            return cls()
        raw = json.loads(data)
        return cls(
            media_sequence=int(raw["media_sequence"]),
            discontinuity_sequence=int(raw["discontinuity_sequence"]),
            entries=[Entry(**e) for e in raw["entries"]],
            retired=[str(r) for r in raw["retired"]],
        )

    def dump(self) -> bytes:
        return json.dumps(
            {
                "media_sequence": self.media_sequence,
                "discontinuity_sequence": self.discontinuity_sequence,
                "entries": [asdict(e) for e in self.entries],
                "retired": self.retired,
            }
        ).encode()


@dataclass
class _Segment:
    sequence: int
    packets: list[bytes]


def playlist(
    entries: list[Entry], *, media_sequence: int, discontinuity_sequence: int, ended: bool
) -> str:
    """The live media playlist naming ``entries`` (the sliding window), oldest first."""
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-TARGETDURATION:1",
        f"#EXT-X-MEDIA-SEQUENCE:{media_sequence}",
        f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{INIT}"',
    ]
    for i, entry in enumerate(entries):
        if entry.discontinuity and i:
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{iso(entry.wall)}")
        lines += [f"#EXTINF:{entry.duration:.3f},", entry.uri]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


class LiveWriter:
    """One origin's stretch of a Space's live HLS. ``add`` runs on the event loop."""

    def __init__(self, sink: LiveSink, *, epoch: int, first_index: int, wall_start: float):
        self.sink = sink
        self.epoch = epoch
        self.first_index = first_index
        self.wall_start = wall_start
        self.dropped_segments = 0
        self.segments_written = 0
        self._gathering = _Segment(0, [])
        self._last_index = first_index - 1
        self._queue: queue.Queue[_Segment | None] = queue.Queue(QUEUE_SEGMENTS)
        self._closed = False
        self._ended = False
        self._continues = False  # a playlist an earlier origin began: mark where we join it
        self._thread = threading.Thread(
            target=self._write_all, name=f"live-{epoch:08x}", daemon=True
        )
        self._thread.start()

    # -- on the event loop --

    def add(self, index: int, payload: bytes) -> None:
        """The listeners' packet of tick ``index``; skipped ticks become silence."""
        if index <= self._last_index or self._closed:
            return
        relative = index - self.first_index
        sequence = relative // SEGMENT_TICKS
        gathering = self._gathering
        if sequence != gathering.sequence:
            _fill(gathering, SEGMENT_TICKS)
            self._hand_over(gathering)
            gathering = self._gathering = _Segment(sequence, [])
        _fill(gathering, relative - sequence * SEGMENT_TICKS)
        gathering.packets.append(payload)
        self._last_index = index

    def _hand_over(self, segment: _Segment) -> None:
        if not segment.packets:
            return
        try:
            self._queue.put_nowait(segment)
        except queue.Full:
            self.dropped_segments += 1
            logger.warning(
                "live %08x: storage too slow, segment %d dropped", self.epoch, segment.sequence
            )

    def close(self, *, ended: bool) -> None:
        """Hand over the last segment; with ``ended``, the playlist gets ``EXT-X-ENDLIST``
        (players stop). Without it (the origin stopped, the Space goes on) the next writer
        continues the playlist."""
        if self._closed:
            return
        self._closed = True
        self._ended = ended
        self._hand_over(self._gathering)
        threading.Thread(target=self._queue.put, args=(None,), daemon=True).start()

    def wait_closed(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- on the writer thread --

    def _write_all(self) -> None:
        state: _State | None = None
        expected = 0
        while (segment := self._queue.get()) is not None:
            try:
                if state is None:
                    state = self._begin()
                self._store(state, segment, discontinuity=segment.sequence != expected)
                expected = segment.sequence + 1
            except Exception:
                logger.exception("live %08x: segment %d not stored", self.epoch, segment.sequence)
                self.dropped_segments += 1
        if self._ended:
            try:
                if state is None:
                    # None of ours stored: the playlist an earlier origin left must end too.
                    state = _State.load(self.sink.read(STATE))
                if state.entries:
                    self._publish(state, ended=True)
            except Exception:
                logger.exception("live %08x: final playlist not stored", self.epoch)

    def _begin(self) -> _State:
        try:
            state = _State.load(self.sink.read(STATE))
        except Exception:
            logger.exception("live %08x: unreadable state, starting a new playlist", self.epoch)
            state = _State()
        self.sink.write(INIT, fmp4.init_segment())
        self._continues = bool(state.entries)
        return state

    def _store(self, state: _State, segment: _Segment, *, discontinuity: bool) -> None:
        name = f"{self.epoch:08x}-{segment.sequence:06d}.m4s"
        data = fmp4.media_segment(
            segment.packets,
            sequence=segment.sequence + 1,
            base_time=segment.sequence * SEGMENT_TICKS * fmp4.FRAME_SAMPLES,
        )
        self.sink.write(name, data)
        first_here = self.segments_written == 0
        self.segments_written += 1
        wall = self.wall_start + segment.sequence * SEGMENT_TICKS * 0.02
        entries = state.entries
        entries.append(
            Entry(
                name,
                len(segment.packets) * 0.02,
                wall,
                discontinuity=discontinuity or (first_here and self._continues),
            )
        )
        while len(entries) > WINDOW:
            old = entries.pop(0)
            state.media_sequence += 1
            if entries[0].discontinuity:
                # The boundary left the window: players count it from the header now.
                state.discontinuity_sequence += 1
            state.retired.append(old.uri)
        self._publish(state, ended=False)
        retired = deque(state.retired)
        while len(retired) > KEEP:
            stale = retired.popleft()
            try:
                self.sink.delete(stale)
            except Exception:
                logger.warning("live %08x: %s not deleted", self.epoch, stale)
        state.retired = list(retired)

    def _publish(self, state: _State, *, ended: bool) -> None:
        text = playlist(
            state.entries,
            media_sequence=state.media_sequence,
            discontinuity_sequence=state.discontinuity_sequence,
            ended=ended,
        )
        self.sink.write(PLAYLIST, text.encode())
        self.sink.write(STATE, state.dump())


def _fill(segment: _Segment, upto: int) -> None:
    missing = upto - len(segment.packets)
    if missing > 0:
        segment.packets.extend([fmp4.SILENCE] * missing)
