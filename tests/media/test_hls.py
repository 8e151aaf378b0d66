"""HLS media playlists of a recording: what the recorder writes is what the replay reads back."""

from __future__ import annotations

import pytest

from media.hls import (
    SEGMENT_SECONDS,
    Part,
    Segment,
    media_playlist,
    parse_media_playlist,
    segment_name,
)

WALL = 1_700_000_000.25  # a part's first tick, to the millisecond the playlist keeps


def full(*sequences: int) -> list[Segment]:
    return [Segment(n, SEGMENT_SECONDS, segment_name(n)) for n in sequences]


def tags(text: str, tag: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(tag)]


def test_a_part_reads_back_as_it_was_written() -> None:
    part = Part("init.mp4", WALL, [*full(0, 1), Segment(2, 0.74, segment_name(2))])

    text = media_playlist([part], ended=True)
    parts, ended = parse_media_playlist(text)

    assert ended
    assert len(parts) == 1
    assert parts[0].map_uri == "init.mp4"
    assert parts[0].wall_start == pytest.approx(WALL, abs=1e-3)
    assert parts[0].segments == part.segments
    assert text.startswith("#EXTM3U\n")
    assert tags(text, "#EXT-X-TARGETDURATION") == ["#EXT-X-TARGETDURATION:2"]
    assert tags(text, "#EXT-X-PROGRAM-DATE-TIME") == [
        "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.250Z"
    ]


def test_a_prefix_goes_before_every_uri_it_names() -> None:
    part = Part("init.mp4", WALL, full(0, 1))

    text = media_playlist([part], ended=True, prefix="/media/rec/p1/")
    parts, _ = parse_media_playlist(text)

    assert parts[0].map_uri == "/media/rec/p1/init.mp4"
    assert [s.uri for s in parts[0].segments] == [
        "/media/rec/p1/00000.m4s",
        "/media/rec/p1/00001.m4s",
    ]
    assert [s.sequence for s in parts[0].segments] == [0, 1]


def test_a_missing_segment_is_a_gap_and_the_rest_keep_their_positions() -> None:
    part = Part("init.mp4", WALL, full(0, 3, 4))

    text = media_playlist([part], ended=False)
    parts, _ = parse_media_playlist(text)

    # Two gaps of a full segment each hold the place of 1 and 2: 3 still starts 6 s in.
    assert text.count("#EXT-X-GAP") == 2
    lines = text.splitlines()
    for missing in (1, 2):
        at = lines.index(segment_name(missing))
        assert lines[at - 2 : at] == ["#EXT-X-GAP", f"#EXTINF:{SEGMENT_SECONDS:.3f},"]
    assert [s.sequence for s in parts[0].segments] == [0, 3, 4]
    assert [s.uri for s in parts[0].segments] == ["00000.m4s", "00003.m4s", "00004.m4s"]
    assert parts[0].duration == 5 * SEGMENT_SECONDS


def test_a_part_that_starts_with_a_gap_keeps_its_first_segment_in_place() -> None:
    text = media_playlist([Part("init.mp4", WALL, full(2))], ended=True)

    parts, _ = parse_media_playlist(text)

    assert text.count("#EXT-X-GAP") == 2
    assert [s.sequence for s in parts[0].segments] == [2]
    assert parts[0].duration == 3 * SEGMENT_SECONDS


def test_parts_follow_each_other_with_a_discontinuity_map_and_date() -> None:
    first = Part("p1/init.mp4", WALL, full(0, 1))
    second = Part("p2/init.mp4", WALL + 600.5, [Segment(0, 1.0, "p2/" + segment_name(0))])

    text = media_playlist([first, second], ended=True)
    parts, ended = parse_media_playlist(text)

    assert ended
    assert tags(text, "#EXT-X-DISCONTINUITY") == ["#EXT-X-DISCONTINUITY"]
    assert tags(text, "#EXT-X-MAP") == [
        '#EXT-X-MAP:URI="p1/init.mp4"',
        '#EXT-X-MAP:URI="p2/init.mp4"',
    ]
    assert len(tags(text, "#EXT-X-PROGRAM-DATE-TIME")) == 2
    # The discontinuity sits between the first part's last segment and the second's map.
    lines = text.splitlines()
    at = lines.index("#EXT-X-DISCONTINUITY")
    assert lines[at - 1] == "00001.m4s"
    assert lines[at + 1] == '#EXT-X-MAP:URI="p2/init.mp4"'
    assert [p.map_uri for p in parts] == ["p1/init.mp4", "p2/init.mp4"]
    assert [p.wall_start for p in parts] == [
        pytest.approx(WALL, abs=1e-3),
        pytest.approx(WALL + 600.5, abs=1e-3),
    ]
    assert parts[0].segments == first.segments
    assert parts[1].segments == second.segments


def test_a_part_with_no_segment_is_left_out() -> None:
    empty = Part("p0/init.mp4", WALL - 60)
    part = Part("p1/init.mp4", WALL, full(0))

    text = media_playlist([empty, part], ended=True)
    parts, _ = parse_media_playlist(text)

    assert "#EXT-X-DISCONTINUITY" not in text
    assert [p.map_uri for p in parts] == ["p1/init.mp4"]


def test_only_an_ended_recording_carries_endlist() -> None:
    part = Part("init.mp4", WALL, full(0))

    live = media_playlist([part], ended=False)
    done = media_playlist([part], ended=True)

    assert "#EXT-X-ENDLIST" not in live
    assert tags(live, "#EXT-X-PLAYLIST-TYPE") == ["#EXT-X-PLAYLIST-TYPE:EVENT"]
    assert parse_media_playlist(live)[1] is False
    assert done.rstrip("\n").splitlines()[-1] == "#EXT-X-ENDLIST"
    assert tags(done, "#EXT-X-PLAYLIST-TYPE") == ["#EXT-X-PLAYLIST-TYPE:VOD"]
    assert parse_media_playlist(done)[1] is True


def test_a_part_lasts_from_its_start_to_the_end_of_its_last_segment() -> None:
    assert Part("init.mp4", WALL).duration == 0.0
    assert Part("init.mp4", WALL, full(0)).duration == SEGMENT_SECONDS
    last = Segment(4, 0.5, segment_name(4))
    assert Part("init.mp4", WALL, [*full(0, 1), last]).duration == 4 * SEGMENT_SECONDS + 0.5


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello\n",
        "#EXTM3U\n#EXTINF:2.000,\n00000.m4s\n",  # a segment before any part's date
        "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.250Z\n00000.m4s\n",  # no EXTINF
        "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.250Z\n#EXTINF:2.000,\nclip.mp4\n",
        "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n",
        "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.250Z\n#EXTINF:two,\n00000.m4s\n",
    ],
    ids=["empty", "not-hls", "no-part", "no-duration", "odd-name", "bad-date", "bad-duration"],
)
def test_what_this_module_did_not_write_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_media_playlist(text)
