"""spaces_project/timezones.py: which zone names are accepted, reading a wall time typed in a
zone (the hour the clocks skip or repeat is refused, with a sentence that says which), and how
a moment is written for people."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from spaces_project.errors import ValidationFailed
from spaces_project.timezones import (
    INVALID_TIME_ZONE,
    TIME_DOES_NOT_EXIST,
    TIME_IS_AMBIGUOUS,
    aware_from_wall_time,
    clean_time_zone,
    format_relative,
    format_when,
    zone_abbreviation,
    zone_choices,
    zone_named,
)

NEW_YORK = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")


# --- Names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("America/New_York", "America/New_York"),
        ("  europe/paris ", "Europe/Paris"),
        ("UTC", "UTC"),
        ("Etc/UTC", "Etc/UTC"),
        ("Asia/Kolkata", "Asia/Kolkata"),
    ],
)
def test_a_zone_name_is_stored_as_the_database_spells_it(given, stored):
    assert clean_time_zone(given) == stored


@pytest.mark.parametrize(
    "given",
    [
        "",
        "   ",
        None,
        42,
        "Mars/Olympus_Mons",
        "America/New_York\x00",
        "\x00",
        "../../../etc/passwd",
        "/usr/share/zoneinfo/UTC",
        "localtime",
        "posixrules",
        "Factory",
        "America/" + "x" * 100,
        "A" * 1_000_000,
        "Europe/Paris\ud800",
    ],
)
def test_anything_else_is_refused_with_one_stable_code(given):
    with pytest.raises(ValidationFailed) as refused:
        clean_time_zone(given)
    assert refused.value.code == INVALID_TIME_ZONE
    assert refused.value.status == 400
    assert list(refused.value.fields) == ["time_zone"]


def test_a_stored_name_that_is_not_a_zone_reads_as_utc():
    assert zone_named("") is UTC
    assert zone_named(None) is UTC
    assert zone_named("Not/AZone") is UTC
    assert zone_named("Europe/Paris") == PARIS


def test_the_choices_group_every_place_under_its_region_with_utc_first():
    groups = dict(zone_choices())
    assert groups[""] == [("UTC", "UTC")]
    assert ("America/New_York", "New York") in groups["America"]
    assert ("America/Argentina/Buenos_Aires", "Argentina / Buenos Aires") in groups["America"]
    values = [value for _, options in zone_choices() for value, _ in options]
    assert len(values) == len(set(values))
    assert all(clean_time_zone(value) == value for value in values)


# --- Reading a wall time --------------------------------------------------------------------


def test_a_wall_time_is_read_in_the_zone_given():
    moment = aware_from_wall_time(datetime(2026, 12, 8, 18, 0), NEW_YORK)
    assert moment.astimezone(UTC) == datetime(2026, 12, 8, 23, 0, tzinfo=UTC)
    summer = aware_from_wall_time(datetime(2026, 7, 8, 18, 0), NEW_YORK)
    assert summer.astimezone(UTC) == datetime(2026, 7, 8, 22, 0, tzinfo=UTC)


def test_an_hour_the_clocks_skip_is_refused_as_not_existing():
    # 8 March 2026, 02:00 EST: New York's clocks jump to 03:00 EDT.
    with pytest.raises(ValidationFailed) as refused:
        aware_from_wall_time(datetime(2026, 3, 8, 2, 30), NEW_YORK)
    assert refused.value.code == TIME_DOES_NOT_EXIST
    [message] = refused.value.fields["scheduled_for"]
    assert message == (
        "8 Mar 2026, 02:30 does not exist in America/New York: the clocks go forward then. "
        "Choose a later time."
    )


def test_an_hour_the_clocks_repeat_is_refused_as_ambiguous():
    # 1 November 2026, 02:00 EDT: New York's clocks go back to 01:00 EST; 01:30 happens twice.
    with pytest.raises(ValidationFailed) as refused:
        aware_from_wall_time(datetime(2026, 11, 1, 1, 30), NEW_YORK)
    assert refused.value.code == TIME_IS_AMBIGUOUS
    [message] = refused.value.fields["scheduled_for"]
    assert "1 Nov 2026, 01:30 happens twice in America/New York" in message


def test_the_minutes_either_side_of_a_change_are_accepted():
    before = aware_from_wall_time(datetime(2026, 3, 8, 1, 59), NEW_YORK)
    after = aware_from_wall_time(datetime(2026, 3, 8, 3, 0), NEW_YORK)
    # Subtracting in one zone compares wall times; the real distance is taken in UTC.
    assert after.astimezone(UTC) - before.astimezone(UTC) == timedelta(minutes=1)
    assert aware_from_wall_time(datetime(2026, 11, 1, 2, 0), NEW_YORK).tzname() == "EST"


def test_utc_has_no_gap_and_no_repeat():
    moment = aware_from_wall_time(datetime(2026, 3, 29, 2, 30), UTC)
    assert moment == datetime(2026, 3, 29, 2, 30, tzinfo=UTC)


# --- Writing a moment -----------------------------------------------------------------------

MOMENT = datetime(2026, 12, 8, 17, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_a_moment_is_written_in_the_zone_with_its_abbreviation():
    assert format_when(MOMENT, PARIS, now=NOW) == "Tue 8 Dec, 18:00 CET"
    assert format_when(MOMENT, NEW_YORK, now=NOW) == "Tue 8 Dec, 12:00 EST"
    assert format_when(MOMENT, UTC, now=NOW) == "Tue 8 Dec, 17:00 UTC"
    assert format_when(MOMENT, PARIS, long=True) == "Tuesday 8 December 2026, 18:00 CET"


def test_the_year_is_named_only_when_it_is_not_this_one():
    assert format_when(MOMENT + timedelta(days=30), PARIS, now=NOW) == "Thu 7 Jan 2027, 18:00 CET"


def test_a_zone_without_letters_is_written_as_an_offset_from_gmt():
    assert zone_abbreviation(MOMENT.astimezone(ZoneInfo("Asia/Dubai"))) == "GMT+4"
    assert zone_abbreviation(MOMENT.astimezone(ZoneInfo("Asia/Kathmandu"))) == "GMT+5:45"
    assert zone_abbreviation(MOMENT.astimezone(ZoneInfo("America/Sao_Paulo"))) == "GMT-3"
    assert zone_abbreviation(MOMENT.astimezone(ZoneInfo("Asia/Kolkata"))) == "IST"


def test_summer_time_gets_its_own_abbreviation():
    assert format_when(datetime(2026, 7, 8, 17, 0, tzinfo=UTC), PARIS, now=NOW).endswith("CEST")


def test_without_a_zone_the_active_one_is_used():
    from django.utils import timezone

    with timezone.override(NEW_YORK):
        assert format_when(MOMENT, now=NOW) == "Tue 8 Dec, 12:00 EST"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "now"),
        (-9, "9 seconds ago"),
        (-59, "59 seconds ago"),
        (-60, "1 minute ago"),
        (-125, "2 minutes ago"),
        (-3600, "1 hour ago"),
        (-86400, "yesterday"),
        (-3 * 86400, "3 days ago"),
        (16 * 60, "in 16 minutes"),
        (86400, "tomorrow"),
        (8 * 86400, "next week"),
        (-400 * 86400, "last year"),
    ],
)
def test_a_relative_time_reads_as_intl_relative_time_format_writes_it(seconds, text):
    assert format_relative(NOW + timedelta(seconds=seconds), now=NOW) == text
