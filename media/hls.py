"""HLS media playlists of a recording: written by the recorder, read back by the replay.

Segments are numbered from a part's start, each ``SEGMENT_SECONDS`` long except the last, so a
segment's number is its position: a number missing between two segments (dropped because
storage was too slow) is written as an ``EXT-X-GAP`` of the same length, and a replay's clock
stays true to the Space's. Parts (one per origin that mixed the Space) follow one another with
``EXT-X-DISCONTINUITY`` and their own ``EXT-X-MAP``; each carries the wall time of its first
tick as ``EXT-X-PROGRAM-DATE-TIME``, which is how captions, chapters and reactions find their
place in the replay.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

SEGMENT_SECONDS = 2.0
_NUMBERED = re.compile(r"(\d{5,})\.m4s$")


@dataclass(frozen=True)
class Segment:
    sequence: int
    """The segment's number in its part: it starts ``sequence * SEGMENT_SECONDS`` in."""
    duration: float
    uri: str


@dataclass
class Part:
    map_uri: str
    wall_start: float
    segments: list[Segment] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """From the part's start to the end of its last segment (gaps included)."""
        if not self.segments:
            return 0.0
        last = self.segments[-1]
        return last.sequence * SEGMENT_SECONDS + last.duration


def segment_name(sequence: int) -> str:
    return f"{sequence:05d}.m4s"


def media_playlist(parts: list[Part], *, ended: bool, prefix: str = "") -> str:
    """One media playlist of ``parts`` in order; ``prefix`` is put before every URI."""
    longest = max((s.duration for p in parts for s in p.segments), default=SEGMENT_SECONDS)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{max(1, math.ceil(longest))}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        f"#EXT-X-PLAYLIST-TYPE:{'VOD' if ended else 'EVENT'}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    first = True
    for part in parts:
        if not part.segments:
            continue
        if not first:
            lines.append("#EXT-X-DISCONTINUITY")
        first = False
        lines.append(f'#EXT-X-MAP:URI="{prefix}{part.map_uri}"')
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{iso(part.wall_start)}")
        expected = 0
        for segment in part.segments:
            folder = segment.uri.rpartition("/")[0]
            for missing in range(expected, segment.sequence):
                gap = f"{folder}/{segment_name(missing)}" if folder else segment_name(missing)
                lines += ["#EXT-X-GAP", f"#EXTINF:{SEGMENT_SECONDS:.3f},", f"{prefix}{gap}"]
            lines += [f"#EXTINF:{segment.duration:.3f},", f"{prefix}{segment.uri}"]
            expected = segment.sequence + 1
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def parse_media_playlist(text: str) -> tuple[list[Part], bool]:
    """The parts of a playlist this module wrote, gaps left out, and whether it has ended.
    Raise ValueError on anything else."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError("not an HLS playlist")
    parts: list[Part] = []
    duration: float | None = None
    gap = False
    map_uri = ""
    for line in lines[1:]:
        if line.startswith("#EXT-X-MAP:URI="):
            map_uri = line.removeprefix("#EXT-X-MAP:URI=").strip('"')
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            stamp = line.removeprefix("#EXT-X-PROGRAM-DATE-TIME:")
            parts.append(Part(map_uri, datetime.fromisoformat(stamp).timestamp()))
        elif line.startswith("#EXTINF:"):
            duration = float(line.removeprefix("#EXTINF:").rstrip(",").split(",")[0])
        elif line == "#EXT-X-GAP":
            gap = True
        elif not line.startswith("#"):
            if duration is None or not parts:
                raise ValueError(f"segment without duration or part: {line!r}")
            number = _NUMBERED.search(line)
            if number is None:
                raise ValueError(f"unexpected segment name: {line!r}")
            if not gap:
                parts[-1].segments.append(Segment(int(number.group(1)), duration, line))
            duration, gap = None, False
    return parts, "#EXT-X-ENDLIST" in lines


def iso(wall: float) -> str:
    return (
        datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
