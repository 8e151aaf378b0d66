"""Opus in ISO-BMFF, written by hand: fMP4/CMAF segments for HLS recordings and plain MP4 clips.

We write the boxes ourselves because a recording needs a fragment to end exactly where we say and
to start at a decode time we choose (tfdt), and PyAV's mp4 muxer decides both itself. Packets are
stored as they came out of the encoder: nothing here re-encodes.

References: ISO/IEC 14496-12 (the boxes) and "Encapsulation of Opus in ISO Base Media File Format"
(https://opus-codec.org/docs/opus_in_isobmff.html: the 'Opus' sample entry and its 'dOps' box).
Every sample is one Opus packet of 20 ms (960 samples at 48 kHz); callers fill gaps with SILENCE,
so a segment's timing is just its tfdt plus 960 per packet.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Sequence
from typing import NamedTuple

from media.dsp import FRAME_SAMPLES, SAMPLE_RATE

__all__ = [
    "FRAME_SAMPLES",
    "PRE_SKIP",
    "SAMPLE_RATE",
    "SILENCE",
    "init_segment",
    "media_segment",
    "plain_mp4",
    "read_segment",
]

# libopus's encoder delay at 48 kHz: the pre-skip its OpusHead carries (PyAV's extradata).
PRE_SKIP = 312
# TOC 0xf8 (CELT fullband, 20 ms, mono, one frame) and a range-coded frame whose first symbol is
# CELT's "silence" flag: libopus and FFmpeg's decoder both give 960 zero samples.
SILENCE = b"\xf8\xff\xfe"

TRACK_ID = 1
_MAX_U32 = 0xFFFFFFFF
# sample_depends_on = 2: every Opus packet decodes on its own (a sync sample).
_SYNC_SAMPLE_FLAGS = 0x02000000
_UNITY_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_LANGUAGE_UND = (ord("u") - 0x60) << 10 | (ord("n") - 0x60) << 5 | (ord("d") - 0x60)

# tfhd and trun flags (14496-12 8.8.7, 8.8.8).
_TFHD_BASE_DATA_OFFSET = 0x000001
_TFHD_SAMPLE_DESCRIPTION_INDEX = 0x000002
_TFHD_DEFAULT_DURATION = 0x000008
_TFHD_DEFAULT_SIZE = 0x000010
_TFHD_DEFAULT_FLAGS = 0x000020
_TFHD_DEFAULT_BASE_IS_MOOF = 0x020000
_TRUN_DATA_OFFSET = 0x000001
_TRUN_FIRST_SAMPLE_FLAGS = 0x000004
_TRUN_SAMPLE_DURATION = 0x000100
_TRUN_SAMPLE_SIZE = 0x000200
_TRUN_SAMPLE_FLAGS = 0x000400
_TRUN_SAMPLE_CTO = 0x000800


# -- writing -------------------------------------------------------------------------------------


def _box(kind: bytes, *payloads: bytes) -> bytes:
    size = 8 + sum(len(p) for p in payloads)
    if size > _MAX_U32:
        raise ValueError(f"{kind!r} box of {size} bytes needs 64-bit sizes, which we do not write")
    return b"".join((struct.pack(">I4s", size, kind), *payloads))


def _full_box(kind: bytes, version: int, flags: int, *payloads: bytes) -> bytes:
    return _box(kind, struct.pack(">I", version << 24 | flags), *payloads)


def _ftyp(kind: bytes, major: bytes, minor: int, *compatible: bytes) -> bytes:
    return _box(kind, major, struct.pack(">I", minor), *compatible)


def _check_channels(channels: int, pre_skip: int) -> None:
    # Mapping family 0 (the only one we write) allows mono and stereo only.
    if channels not in (1, 2):
        raise ValueError(f"channels must be 1 or 2, not {channels}")
    if not 0 <= pre_skip <= 0xFFFF:
        raise ValueError(f"pre_skip must fit 16 bits, not {pre_skip}")


def _moov(
    *, channels: int, pre_skip: int, duration: int, sample_table: bytes, fragmented: bool
) -> bytes:
    """The movie header and one Opus track. ``duration`` counts the track's samples at 48 kHz (0
    when fragmented); the movie and the track last that minus the pre-skip their edit trims."""
    shown = duration if fragmented else duration - pre_skip
    mvhd = _full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIIIIH10x", 0, 0, SAMPLE_RATE, shown, 0x10000, 0x0100),
        _UNITY_MATRIX,
        bytes(24),  # pre_defined
        struct.pack(">I", TRACK_ID + 1),  # next_track_ID
    )
    tkhd = _full_box(
        b"tkhd",
        0,
        0x000003,  # enabled, in movie
        struct.pack(">IIIII8xHHH2x", 0, 0, TRACK_ID, 0, shown, 0, 0, 0x0100),
        _UNITY_MATRIX,
        struct.pack(">II", 0, 0),  # width, height
    )
    edts = b""
    if not fragmented:
        # Trim the encoder's priming samples, as the Opus-in-ISOBMFF spec asks. A live recording
        # cannot know its duration up front, so its segments carry no edit (as FFmpeg's do not).
        elst = _full_box(b"elst", 0, 0, struct.pack(">IIiHH", 1, shown, pre_skip, 1, 0))
        edts = _box(b"edts", elst)
    mdhd = _full_box(
        b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, SAMPLE_RATE, duration, _LANGUAGE_UND, 0)
    )
    hdlr = _full_box(b"hdlr", 0, 0, struct.pack(">I4s12x", 0, b"soun"), b"SoundHandler\x00")
    smhd = _full_box(b"smhd", 0, 0, struct.pack(">hH", 0, 0))
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
    d_ops = _box(b"dOps", struct.pack(">BBHIhB", 0, channels, pre_skip, SAMPLE_RATE, 0, 0))
    opus_entry = _box(
        b"Opus",
        struct.pack(">6xH", 1),  # SampleEntry: data_reference_index
        struct.pack(">8xHHHHI", channels, 16, 0, 0, SAMPLE_RATE << 16),  # AudioSampleEntry
        d_ops,
    )
    stsd = _full_box(b"stsd", 0, 0, struct.pack(">I", 1), opus_entry)
    stbl = _box(b"stbl", stsd, sample_table)
    mdia = _box(b"mdia", mdhd, hdlr, _box(b"minf", smhd, dinf, stbl))
    trak = _box(b"trak", tkhd, edts, mdia)
    mvex = b""
    if fragmented:
        trex = struct.pack(">IIIII", TRACK_ID, 1, FRAME_SAMPLES, 0, _SYNC_SAMPLE_FLAGS)
        mvex = _box(b"mvex", _full_box(b"trex", 0, 0, trex))
    return _box(b"moov", mvhd, trak, mvex)


def init_segment(*, channels: int = 1, pre_skip: int = PRE_SKIP) -> bytes:
    """The HLS/CMAF initialisation segment (EXT-X-MAP): ftyp and a moov with no samples."""
    _check_channels(channels, pre_skip)
    ftyp = _ftyp(b"ftyp", b"iso6", 0, b"iso6", b"cmfc", b"mp41", b"dash", b"Opus")
    empty_tables = b"".join(
        (
            _full_box(b"stts", 0, 0, struct.pack(">I", 0)),
            _full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
            _full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
            _full_box(b"stco", 0, 0, struct.pack(">I", 0)),
        )
    )
    moov = _moov(
        channels=channels, pre_skip=pre_skip, duration=0, sample_table=empty_tables, fragmented=True
    )
    return ftyp + moov


def media_segment(packets: Sequence[bytes], *, sequence: int, base_time: int) -> bytes:
    """One fragment: styp, moof and mdat. ``base_time`` is the first packet's decode time in 48 kHz
    samples (the previous segment's base_time plus 960 per packet, for a gapless recording);
    ``sequence`` is mfhd's sequence number, increasing from 1."""
    if not packets:
        raise ValueError("a segment holds at least one packet")
    if not 0 <= sequence <= _MAX_U32:
        raise ValueError(f"sequence must fit 32 bits, not {sequence}")
    if not 0 <= base_time < 1 << 64:
        raise ValueError(f"base_time must fit 64 bits, not {base_time}")
    styp = _ftyp(b"styp", b"msdh", 0, b"msdh", b"cmfs", b"cmff", b"iso6")
    tfhd = _full_box(
        b"tfhd",
        0,
        _TFHD_DEFAULT_BASE_IS_MOOF | _TFHD_DEFAULT_DURATION | _TFHD_DEFAULT_FLAGS,
        struct.pack(">III", TRACK_ID, FRAME_SAMPLES, _SYNC_SAMPLE_FLAGS),
    )
    tfdt = _full_box(b"tfdt", 1, 0, struct.pack(">Q", base_time))
    sizes = struct.pack(f">{len(packets)}I", *map(len, packets))

    def moof(data_offset: int) -> bytes:
        trun = _full_box(
            b"trun",
            0,
            _TRUN_DATA_OFFSET | _TRUN_SAMPLE_SIZE,
            struct.pack(">Ii", len(packets), data_offset),
            sizes,
        )
        mfhd = _full_box(b"mfhd", 0, 0, struct.pack(">I", sequence))
        return _box(b"moof", mfhd, _box(b"traf", tfhd, tfdt, trun))

    # The data offset counts from the moof's first byte to the first packet, past mdat's header.
    moof_size = len(moof(0))
    return b"".join((styp, moof(moof_size + 8), _box(b"mdat", *packets)))


def plain_mp4(packets: Sequence[bytes], *, channels: int = 1, pre_skip: int = PRE_SKIP) -> bytes:
    """A progressive MP4 (moov before mdat) holding ``packets``, for an ``<audio src>`` without MSE.

    The edit list trims ``pre_skip`` samples from the start. For a clip cut from the middle of a
    stream the spec recommends at least 80 ms (3840) there, so the decoder's warm-up is not heard.
    """
    _check_channels(channels, pre_skip)
    count = len(packets)
    if count * FRAME_SAMPLES <= pre_skip:
        raise ValueError(f"{count} packets do not outlast a pre-skip of {pre_skip} samples")
    ftyp = _ftyp(b"ftyp", b"isom", 0x200, b"isom", b"iso2", b"mp41", b"Opus")
    sizes = struct.pack(f">{count}I", *map(len, packets))

    def moov(chunk_offset: int) -> bytes:
        tables = b"".join(
            (
                _full_box(b"stts", 0, 0, struct.pack(">III", 1, count, FRAME_SAMPLES)),
                _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, count, 1)),
                _full_box(b"stsz", 0, 0, struct.pack(">II", 0, count), sizes),
                _full_box(b"stco", 0, 0, struct.pack(">II", 1, chunk_offset)),
            )
        )
        return _moov(
            channels=channels,
            pre_skip=pre_skip,
            duration=count * FRAME_SAMPLES,
            sample_table=tables,
            fragmented=False,
        )

    # stco is a fixed-size field, so the moov's length does not depend on the offset it holds.
    chunk_offset = len(ftyp) + len(moov(0)) + 8
    if chunk_offset + sum(map(len, packets)) > _MAX_U32:
        raise ValueError("clip too large for 32-bit chunk offsets")
    return b"".join((ftyp, moov(chunk_offset), _box(b"mdat", *packets)))


# -- reading -------------------------------------------------------------------------------------


class _Box(NamedTuple):
    kind: bytes
    start: int  # offset of the box's first byte in the buffer it was read from
    payload: memoryview


def _boxes(data: bytes | memoryview, where: str) -> list[_Box]:
    """The boxes filling ``data`` exactly. A box running past the end, or bytes left over, mean a
    truncated or damaged file."""
    view = memoryview(data)
    found: list[_Box] = []
    pos = 0
    while pos < len(view):
        if len(view) - pos < 8:
            raise ValueError(f"{where}: {len(view) - pos} stray bytes where a box should start")
        size, kind = struct.unpack_from(">I4s", view, pos)
        header = 8
        if size == 1:
            if len(view) - pos < 16:
                raise ValueError(f"{where}: truncated 64-bit box size")
            (size,) = struct.unpack_from(">Q", view, pos + 8)
            header = 16
        elif size == 0:
            raise ValueError(f"{where}: {kind!r} box runs to the end of the file: never written")
        if size < header:
            raise ValueError(f"{where}: {kind!r} box claims {size} bytes")
        if pos + size > len(view):
            raise ValueError(f"{where}: {kind!r} box of {size} bytes is cut short (truncated)")
        found.append(_Box(bytes(kind), pos, view[pos + header : pos + size]))
        pos += size
    return found


def _one(boxes: list[_Box], kind: bytes, where: str) -> memoryview:
    matches = [box.payload for box in boxes if box.kind == kind]
    if len(matches) != 1:
        raise ValueError(f"{where}: expected one {kind!r} box, found {len(matches)}")
    return matches[0]


class _Fields:
    """Big-endian fields of one box's payload, read in order; never past its end."""

    def __init__(self, payload: memoryview, kind: str) -> None:
        self._payload = payload
        self._pos = 0
        self._kind = kind

    def take(self, fmt: str) -> tuple[int, ...]:
        size = struct.calcsize(fmt)
        if self._pos + size > len(self._payload):
            raise ValueError(f"{self._kind} box is too short")
        values = struct.unpack_from(fmt, self._payload, self._pos)
        self._pos += size
        return values

    def one(self, fmt: str) -> int:
        return self.take(fmt)[0]

    def done(self) -> None:
        if self._pos != len(self._payload):
            raise ValueError(f"{self._kind} box has {len(self._payload) - self._pos} extra bytes")


def read_segment(data: bytes) -> tuple[int, list[bytes]]:
    """``(base_time, packets)`` of a segment written by media_segment.

    Raises ValueError for anything it cannot vouch for: a truncated or half-written file, extra
    bytes, a second track or run, or samples not 960 long (their packets could not be placed at
    20 ms each).
    """
    top = _boxes(data, "segment")
    kinds = [box.kind for box in top]
    if kinds not in ([b"styp", b"moof", b"mdat"], [b"moof", b"mdat"]):
        raise ValueError(f"segment: expected [styp] moof mdat, found {kinds}")
    moof, mdat = top[-2], top[-1]
    moof_boxes = _boxes(moof.payload, "moof")
    _one(moof_boxes, b"mfhd", "moof")
    traf = _boxes(_one(moof_boxes, b"traf", "moof"), "traf")

    tfhd = _Fields(_one(traf, b"tfhd", "traf"), "tfhd")
    flags = tfhd.one(">I") & 0xFFFFFF
    if tfhd.one(">I") != TRACK_ID:
        raise ValueError(f"tfhd: not track {TRACK_ID}")
    base_offset = tfhd.one(">Q") if flags & _TFHD_BASE_DATA_OFFSET else moof.start
    if flags & _TFHD_SAMPLE_DESCRIPTION_INDEX:
        tfhd.one(">I")
    default_duration = tfhd.one(">I") if flags & _TFHD_DEFAULT_DURATION else FRAME_SAMPLES
    default_size = tfhd.one(">I") if flags & _TFHD_DEFAULT_SIZE else None
    if flags & _TFHD_DEFAULT_FLAGS:
        tfhd.one(">I")
    tfhd.done()

    tfdt = _Fields(_one(traf, b"tfdt", "traf"), "tfdt")
    version = tfdt.one(">I") >> 24
    if version not in (0, 1):
        raise ValueError(f"tfdt: unknown version {version}")
    base_time = tfdt.one(">Q" if version == 1 else ">I")
    tfdt.done()

    trun = _Fields(_one(traf, b"trun", "traf"), "trun")
    flags = trun.one(">I") & 0xFFFFFF
    count = trun.one(">I")
    if count == 0:
        raise ValueError("trun: no samples")
    if not flags & _TRUN_DATA_OFFSET:
        raise ValueError("trun: no data offset")
    data_start = base_offset + trun.one(">i")
    if flags & _TRUN_FIRST_SAMPLE_FLAGS:
        trun.one(">I")
    per_sample = (_TRUN_SAMPLE_DURATION, _TRUN_SAMPLE_SIZE, _TRUN_SAMPLE_FLAGS, _TRUN_SAMPLE_CTO)
    present = [bit for bit in per_sample if flags & bit]
    rows = trun.take(f">{count * len(present)}I") if present else ()
    trun.done()
    column = {bit: rows[i :: len(present)] for i, bit in enumerate(present)}

    durations = set(column.get(_TRUN_SAMPLE_DURATION, (default_duration,)))
    if durations != {FRAME_SAMPLES}:
        raise ValueError(f"samples must last {FRAME_SAMPLES}, found {sorted(durations)}")
    if _TRUN_SAMPLE_SIZE in column:
        sizes = column[_TRUN_SAMPLE_SIZE]
    elif default_size is not None:
        sizes = (default_size,) * count
    else:
        raise ValueError("trun: no sample sizes")
    mdat_payload_start = len(data) - len(mdat.payload)  # the mdat is the last box
    if data_start != mdat_payload_start or sum(sizes) != len(mdat.payload):
        raise ValueError("mdat does not hold exactly the samples trun describes")
    ends = list(itertools.accumulate(sizes))
    return base_time, [bytes(mdat.payload[a:b]) for a, b in zip([0, *ends], ends, strict=False)]
