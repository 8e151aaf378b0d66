"""A recording as stored: its parts, their place in the replay, and packets cut from them.

A recording is one or more parts (one per media origin that mixed the Space), each a folder of
fMP4 segments with its own playlist (media/recording.py). The replay plays the parts one after
another, so a position in the replay is a part and a time inside it; each part knows the wall
time of its first tick, which places captions, turns and reactions on the replay's clock. Gaps
between parts (nobody on the worker) are left out of the replay.

Cutting a clip reads the segments that cover it and keeps the packets inside the range: every
packet is 20 ms, so any range cuts on a packet boundary, without re-encoding.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.files.storage import Storage

from media import fmp4, hls
from media.recording import INIT, PLAYLIST, SUMMARY, PartSummary
from spaces_project import storage

TICK_MS = 20
# Packets decoded before a clip's first one and then skipped (the Opus pre-skip), so the
# decoder has settled when the clip begins: the Opus-in-ISOBMFF spec asks for at least 80 ms
# when a stream is cut mid-way.
WARMUP_PACKETS = 4


@dataclass(frozen=True)
class StoredPart:
    name: str
    wall_start: float
    offset_ms: int  # where it starts in the replay
    duration_ms: int
    playlist: hls.Part
    ended: bool  # its playlist is final (the part closed properly)
    summary: PartSummary | None  # part.json, written when the part closed

    @property
    def end_ms(self) -> int:
        return self.offset_ms + self.duration_ms

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "wall_start": self.wall_start,
            "offset_ms": self.offset_ms,
            "duration_ms": self.duration_ms,
        }


def read_parts(store: Storage, prefix: str) -> list[StoredPart]:
    """The parts under ``prefix`` that hold at least one segment, in recording order (a part's
    name starts with its start time in milliseconds)."""
    try:
        directories, _ = store.listdir(prefix)
    except FileNotFoundError:
        return []
    parts: list[StoredPart] = []
    offset = 0
    for name in sorted(d for d in directories if d[:1].isdigit()):
        try:
            text = storage.get(store, f"{prefix}/{name}/{PLAYLIST}").decode()
            playlists, ended = hls.parse_media_playlist(text)
        except (FileNotFoundError, ValueError, UnicodeDecodeError):
            continue  # no segment was ever stored whole
        if not playlists or not playlists[0].segments:
            continue
        playlist = playlists[0]
        summary = None
        if store.exists(f"{prefix}/{name}/{SUMMARY}"):
            try:
                summary = PartSummary.from_json(storage.get(store, f"{prefix}/{name}/{SUMMARY}"))
            except (ValueError, TypeError, KeyError):
                summary = None
        duration = round(playlist.duration * 1000)
        parts.append(
            StoredPart(name, playlist.wall_start, offset, duration, playlist, ended, summary)
        )
        offset += duration
    return parts


def part_at(parts: list[StoredPart], position_ms: int) -> StoredPart | None:
    for part in parts:
        if part.offset_ms <= position_ms < part.end_ms:
            return part
    return None


def position_of(parts: list[StoredPart] | list[dict[str, object]], wall: float) -> int | None:
    """Where wall time ``wall`` (epoch seconds) is in the replay; None if it was not recorded."""
    for part in parts:
        start, offset, duration = _fields(part)
        if start <= wall < start + duration / 1000:
            return offset + round((wall - start) * 1000)
    return None


def wall_of(parts: list[StoredPart] | list[dict[str, object]], position_ms: int) -> float | None:
    """The wall time (epoch seconds) of a position in the replay."""
    for part in parts:
        start, offset, duration = _fields(part)
        if offset <= position_ms <= offset + duration:
            return start + (position_ms - offset) / 1000
    return None


def _fields(part: StoredPart | dict[str, object]) -> tuple[float, int, int]:
    if isinstance(part, StoredPart):
        return part.wall_start, part.offset_ms, part.duration_ms
    return (
        float(str(part["wall_start"])),
        int(str(part["offset_ms"])),
        int(str(part["duration_ms"])),
    )


def cut(store: Storage, prefix: str, part: StoredPart, start_ms: int, end_ms: int) -> bytes:
    """An MP4 of the recording from ``start_ms`` to ``end_ms`` (positions in the replay, both
    inside ``part``), with the packets as recorded: no decode, no encode."""
    first_tick = (start_ms - part.offset_ms) // TICK_MS
    last_tick = -(-(end_ms - part.offset_ms) // TICK_MS)  # exclusive
    warmup = min(WARMUP_PACKETS, first_tick)
    wanted_from = first_tick - warmup
    packets: list[bytes] = []
    per_segment = round(hls.SEGMENT_SECONDS * 1000) // TICK_MS
    by_sequence = {s.sequence: s for s in part.playlist.segments}
    for sequence in range(wanted_from // per_segment, (last_tick - 1) // per_segment + 1):
        segment = by_sequence.get(sequence)
        if segment is None:  # a gap in the recording: silence keeps the clip's clock
            data = [fmp4.SILENCE] * per_segment
        else:
            _, data = fmp4.read_segment(storage.get(store, f"{prefix}/{part.name}/{segment.uri}"))
        base = sequence * per_segment
        for i, packet in enumerate(data):
            if wanted_from <= base + i < last_tick:
                packets.append(packet)
    # From the stream's start, skip the encoder's delay as the replay does; mid-stream, skip
    # just the warm-up packets, so the clip lasts exactly its range (a player shows 0:12 for
    # a 12 s clip, not 0:11).
    pre_skip = warmup * fmp4.FRAME_SAMPLES if warmup else fmp4.PRE_SKIP
    return fmp4.plain_mp4(packets, pre_skip=pre_skip)


def whole(store: Storage, prefix: str, parts: list[StoredPart]) -> bytes:
    """The replay as one plain MP4 (the podcast's enclosure): every part's packets in order, a
    missing segment as silence, so the file lasts what the replay lasts; no decode, no
    encode. Each part's segments are read one at a time, never the whole folder at once.

    Only the file's start trims the encoder's delay: a later part's encoder delay is a few
    milliseconds of near-silence inside the stream, as in the HLS replay."""
    per_segment = round(hls.SEGMENT_SECONDS * 1000) // TICK_MS
    packets: list[bytes] = []
    for part in parts:
        ticks = part.duration_ms // TICK_MS
        by_sequence = {s.sequence: s for s in part.playlist.segments}
        for sequence in range(-(-ticks // per_segment)):
            wanted = min(per_segment, ticks - sequence * per_segment)
            segment = by_sequence.get(sequence)
            if segment is None:
                packets += [fmp4.SILENCE] * wanted
                continue
            _, data = fmp4.read_segment(storage.get(store, f"{prefix}/{part.name}/{segment.uri}"))
            # A short last segment (the part ended mid-segment) holds fewer packets.
            packets += data[:wanted] + [fmp4.SILENCE] * (wanted - len(data))
    return fmp4.plain_mp4(packets)


def part_files(part: StoredPart) -> set[str]:
    """The files a part's playlist needs (what finalizing keeps)."""
    return {INIT, PLAYLIST, SUMMARY, *(s.uri for s in part.playlist.segments)}
