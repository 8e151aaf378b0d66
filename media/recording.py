"""Recording a Space from its origin: the mix already encoded for listeners, as HLS.

The origin hands the recorder one Opus packet per 20 ms tick: the very packet every listener
gets, so recording costs no encode at all while nobody has kept their voice out (the origin
encodes a second mix only while someone has, ``media.origin``). On the event loop the recorder
only appends the packet to the segment being gathered; every ``SEGMENT_TICKS`` ticks (2 s) the
segment goes to a writer thread through a bounded queue. When the queue is full (storage slower
than real time), the segment is dropped and counted: the mixing loop never waits for I/O. The
playlist marks a dropped segment as a gap, so positions in the replay stay true to the clock.

The writer muxes fMP4 (``media.fmp4``) and stores files through a :class:`RecordingSink`
(Django's storage API, in ``spaces.audio.recording``), each file whole or not at all, the
playlist after the segment it names: a reader, or a process killed mid-segment, never finds a
playlist naming a file that is not there.

One recorder writes one *part*: what one origin mixed. A Space whose origin stops (everyone
left the worker, or the worker died) and starts again gets a new part; the replay joins the
parts in order (``replays``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol

from media import fmp4, hls

logger = logging.getLogger(__name__)

Key = Hashable
SEGMENT_TICKS = 100
"""2 s of 20 ms ticks: short enough for a live clip of the last 30 s, long enough that a
playlist of an hour stays small."""
QUEUE_SEGMENTS = 16
"""32 s of audio may wait for storage before segments are dropped."""
TURN_WINDOWS = 4
"""A new speaker's turn (a chapter) begins once they are the loudest for this many levels
windows in a row (about a second): a cough or a laugh starts no chapter."""

INIT = "init.mp4"
PLAYLIST = "index.m3u8"
SUMMARY = "part.json"


@dataclass
class PartSummary:
    """What a part holds, written beside it as ``part.json`` when it closes."""

    name: str
    wall_start: float
    duration_ms: int = 0
    segments: int = 0
    dropped_segments: int = 0
    talk_seconds: dict[str, float] = field(default_factory=dict)
    """Seconds each recorded stage member was heard speaking (keys: user ids as strings)."""
    turns: list[tuple[int, str]] = field(default_factory=list)
    """(ms from the part's start, user id): where each speaker's turn begins."""
    left_out: list[str] = field(default_factory=list)
    """Stage members whose voice was kept out at any moment."""

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> PartSummary:
        raw = json.loads(data)
        raw["turns"] = [(int(at), str(user)) for at, user in raw.get("turns", [])]
        return cls(**raw)


class RecordingSink(Protocol):
    """Where a part goes. Every method is called on the recorder's writer thread, in order:
    ``started`` once before the first file is written (the first segment is ready), ``closed``
    last."""

    def write(self, part: str, name: str, data: bytes) -> None:
        """Store ``data`` as ``name`` in ``part``, replacing it, whole or not at all."""

    def started(self, part: str, wall_start: float) -> None: ...

    def closed(self, summary: PartSummary) -> None: ...


@dataclass
class _Segment:
    sequence: int
    packets: list[bytes]


class Recorder:
    """One part of a Space's recording. ``add`` and ``note_speaking`` run on the event loop."""

    def __init__(self, sink: RecordingSink, *, part: str, wall_start: float, first_index: int):
        self.sink = sink
        self.part = part
        self.first_index = first_index
        self.summary = PartSummary(name=part, wall_start=wall_start)
        self._gathering = _Segment(0, [])
        self._last_index = first_index - 1
        self._queue: queue.Queue[_Segment | None] = queue.Queue(QUEUE_SEGMENTS)
        self._closed = False
        self._talk: dict[Key, float] = {}
        self._turn_user: Key | None = None
        self._candidate: Key | None = None
        self._candidate_windows = 0
        self._candidate_since = 0
        self._left_out: set[Key] = set()
        self._started = False
        self._thread = threading.Thread(
            target=self._write_all, name=f"recorder-{part}", daemon=True
        )
        self._thread.start()

    @property
    def dropped_segments(self) -> int:
        return self.summary.dropped_segments

    # -- on the event loop --

    def add(self, index: int, payload: bytes) -> None:
        """The recorded packet of tick ``index``. Ticks the origin skipped become silence."""
        if index <= self._last_index or self._closed:
            return
        relative = index - self.first_index
        sequence = relative // SEGMENT_TICKS
        gathering = self._gathering
        if sequence != gathering.sequence:
            self._fill_to(gathering, (gathering.sequence + 1) * SEGMENT_TICKS)
            self._hand_over(gathering)
            gathering = self._gathering = _Segment(sequence, [])
        self._fill_to(gathering, relative)
        gathering.packets.append(payload)
        self._last_index = index

    @staticmethod
    def _fill_to(segment: _Segment, relative_end: int) -> None:
        missing = relative_end - segment.sequence * SEGMENT_TICKS - len(segment.packets)
        if missing > 0:
            segment.packets.extend([fmp4.SILENCE] * missing)

    def _hand_over(self, segment: _Segment) -> None:
        if not segment.packets:
            return
        try:
            self._queue.put_nowait(segment)
        except queue.Full:
            self.summary.dropped_segments += 1
            logger.warning(
                "recording %s: storage too slow, segment %d dropped", self.part, segment.sequence
            )

    def note_speaking(self, speaking: Sequence[Key], window_seconds: float, index: int) -> None:
        """A levels window (loudest first) of the members being recorded: talk time and turns."""
        for user in speaking:
            self._talk[user] = self._talk.get(user, 0.0) + window_seconds
        loudest = speaking[0] if speaking else None
        if loudest is None or loudest == self._turn_user:
            self._candidate, self._candidate_windows = None, 0
            return
        if loudest != self._candidate:
            self._candidate, self._candidate_windows = loudest, 0
            self._candidate_since = max(0, index - self.first_index) * 20
        self._candidate_windows += 1
        if self._candidate_windows >= TURN_WINDOWS:
            self._turn_user = loudest
            self.summary.turns.append((self._candidate_since, str(loudest)))
            self._candidate, self._candidate_windows = None, 0

    def note_left_out(self, users: set[Key]) -> None:
        self._left_out |= users

    def close(self) -> None:
        """Hand over the last segment and let the writer finish (it does not wait for it)."""
        if self._closed:
            return
        self._closed = True
        self._hand_over(self._gathering)
        summary = self.summary
        summary.duration_ms = max(0, self._last_index + 1 - self.first_index) * 20
        talk = sorted(self._talk.items(), key=lambda kv: -kv[1])
        summary.talk_seconds = {str(u): round(s, 2) for u, s in talk}
        summary.left_out = sorted(str(u) for u in self._left_out)
        # The end marker must get through even when the queue is full of segments.
        threading.Thread(target=self._queue.put, args=(None,), daemon=True).start()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Block until the writer stored everything (for threads and tests, not the loop)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- on the writer thread --

    def _write_all(self) -> None:
        written: list[hls.Segment] = []
        try:
            while (segment := self._queue.get()) is not None:
                stored = len(written)
                try:
                    self._store(segment, written)
                except Exception:
                    logger.exception(
                        "recording %s: segment %d not stored", self.part, segment.sequence
                    )
                    if len(written) == stored:  # else stored, and the next playlist names it
                        self.summary.dropped_segments += 1
            self.summary.segments = len(written)
            if written:
                self.sink.write(self.part, PLAYLIST, self._playlist(written, ended=True))
            self.sink.write(self.part, SUMMARY, self.summary.to_json())
        except Exception:
            logger.exception("recording %s: closing failed", self.part)
        finally:
            with contextlib.suppress(Exception):
                self.sink.closed(self.summary)

    def _store(self, segment: _Segment, written: list[hls.Segment]) -> None:
        if not self._started:
            # Before any file: whoever cleans up after a crash learns of the part from this.
            self.sink.started(self.part, self.summary.wall_start)
            self._started = True
        if not written:
            self.sink.write(self.part, INIT, fmp4.init_segment())
        data = fmp4.media_segment(
            segment.packets,
            sequence=segment.sequence + 1,
            base_time=segment.sequence * SEGMENT_TICKS * fmp4.FRAME_SAMPLES,
        )
        name = hls.segment_name(segment.sequence)
        self.sink.write(self.part, name, data)
        written.append(hls.Segment(segment.sequence, len(segment.packets) * 0.02, name))
        self.sink.write(self.part, PLAYLIST, self._playlist(written, ended=False))

    def _playlist(self, written: list[hls.Segment], *, ended: bool) -> bytes:
        return hls.media_playlist(
            [hls.Part(INIT, self.summary.wall_start, written)], ended=ended
        ).encode()
