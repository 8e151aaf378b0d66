"""RED payloads (RFC 2198): what the origin sends and what it takes from speakers."""

from __future__ import annotations

import pytest

from media import red
from media.dsp import FRAME_SAMPLES
from media.red import RedError, RedHistory, pack, unpack


def test_a_packet_carries_its_redundant_frames_oldest_first_then_the_primary() -> None:
    payload = pack(111, b"now", [(1920, b"two back"), (960, b"one back")])
    # Two 4-byte headers (F=1, PT 111, offset, length), the primary's 1-byte header.
    assert payload[:4] == bytes((0x80 | 111,)) + ((1920 << 10) | 8).to_bytes(3, "big")
    assert payload[8] == 111
    assert payload[9:] == b"two backone backnow"
    assert unpack(payload) == (111, b"now", [(1920, 111, b"two back"), (960, 111, b"one back")])


def test_without_redundancy_a_packet_is_one_header_byte_and_the_primary() -> None:
    assert pack(111, b"frame") == b"\x6fframe"
    assert unpack(b"\x6fframe") == (111, b"frame", [])


def test_blocks_the_format_cannot_carry_are_left_out_not_mangled() -> None:
    too_long = b"x" * (red.MAX_BLOCK + 1)
    payload = pack(
        111,
        b"now",
        [(red.MAX_OFFSET + 1, b"too old"), (0, b"same time"), (960, too_long), (960, b"ok")],
    )
    assert unpack(payload) == (111, b"now", [(960, 111, b"ok")])


@pytest.mark.parametrize(
    "payload",
    [
        b"",  # no header at all
        b"\xef\x00\x0f",  # a block header cut short
        b"\xef\x00\x3c\x05\x6fab",  # a 5-byte block, 2 bytes left
        b"\xef\x00\x3c\x00" * (red.MAX_BLOCKS + 1) + b"\x6f",  # more blocks than any sender sends
    ],
)
def test_a_malformed_payload_is_refused(payload: bytes) -> None:
    with pytest.raises(RedError):
        unpack(payload)


def test_history_repeats_what_was_sent_within_its_distance() -> None:
    history = RedHistory(2, FRAME_SAMPLES)
    assert unpack(history.wrap(111, 0, b"f0"))[2] == []
    for n in range(4):
        history.add(n * FRAME_SAMPLES, f"f{n}".encode())
    _, primary, blocks = unpack(history.wrap(111, 4 * FRAME_SAMPLES, b"f4"))
    assert primary == b"f4"
    assert blocks == [(2 * FRAME_SAMPLES, 111, b"f2"), (FRAME_SAMPLES, 111, b"f3")]


def test_history_skips_a_frame_a_late_tick_pushed_out_of_reach() -> None:
    history = RedHistory(2, FRAME_SAMPLES)
    history.add(0, b"f0")
    history.add(FRAME_SAMPLES, b"f1")
    # Tick 2 was skipped (the loop was late): frame 0 is now three frames back.
    _, _, blocks = unpack(history.wrap(111, 3 * FRAME_SAMPLES, b"f3"))
    assert blocks == [(2 * FRAME_SAMPLES, 111, b"f1")]


def test_history_follows_the_rtp_timestamp_across_its_wrap() -> None:
    history = RedHistory(1, FRAME_SAMPLES)
    history.add(0xFFFFFFFF - 100, b"before")
    _, _, blocks = unpack(history.wrap(111, FRAME_SAMPLES - 101, b"after"))
    assert blocks == [(FRAME_SAMPLES, 111, b"before")]


def test_a_history_of_distance_zero_keeps_nothing() -> None:
    history = RedHistory(0, FRAME_SAMPLES)
    history.add(0, b"f0")
    assert history.wrap(111, FRAME_SAMPLES, b"f1") == pack(111, b"f1")
