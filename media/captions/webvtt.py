"""Transcript rendering: WebVTT and plain text from caption finals. Pure functions, no I/O.

Times are seconds from the start of the recording (pass ``origin`` to subtract an epoch time,
such as when the Space went live).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

MIN_CUE_SECONDS = 0.1
_WHITESPACE = re.compile(r"\s+")


class TranscriptSegment(NamedTuple):
    speaker: str
    text: str
    start: float
    end: float


def _timestamp(seconds: float, *, sep: str = ".") -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def _one_line(text: str) -> str:
    # A blank line would end the cue; a line break inside one is legal but pointless here.
    return _WHITESPACE.sub(" ", text).strip()


def _escape(text: str) -> str:
    """Cue text escaping: '&', '<' and '>' as entities, which also breaks up any '-->'."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _segments(
    segments: Iterable[tuple[str, str, float, float]], origin: float
) -> list[TranscriptSegment]:
    out = []
    for speaker, text, start, end in segments:
        line = _one_line(text)
        if not line:
            continue
        begin = max(0.0, start - origin)
        finish = max(end - origin, begin + MIN_CUE_SECONDS)
        out.append(TranscriptSegment(_one_line(speaker), line, begin, finish))
    out.sort(key=lambda segment: (segment.start, segment.end))
    return out


def transcript_webvtt(
    segments: Iterable[tuple[str, str, float, float]], *, origin: float = 0.0
) -> str:
    """A WebVTT file: one cue per segment, the speaker as a ``<v>`` voice span."""
    lines = ["WEBVTT", ""]
    for number, segment in enumerate(_segments(segments, origin), start=1):
        lines.append(str(number))
        lines.append(f"{_timestamp(segment.start)} --> {_timestamp(segment.end)}")
        if segment.speaker:
            lines.append(f"<v {_escape(segment.speaker)}>{_escape(segment.text)}</v>")
        else:
            lines.append(_escape(segment.text))
        lines.append("")
    return "\n".join(lines) + ("\n" if len(lines) == 2 else "")


def transcript_text(
    segments: Iterable[tuple[str, str, float, float]], *, origin: float = 0.0
) -> str:
    """Plain text, one line per segment: ``[HH:MM:SS] Speaker: text``."""
    lines = []
    for segment in _segments(segments, origin):
        stamp = _timestamp(segment.start)[:8]
        prefix = f"{segment.speaker}: " if segment.speaker else ""
        lines.append(f"[{stamp}] {prefix}{segment.text}")
    return "\n".join(lines) + ("\n" if lines else "")
