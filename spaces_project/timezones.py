"""Time zones: which names are accepted, reading a wall time typed in a zone, and how a moment
is written for people ("Tue 8 Dec, 18:00 CET").

Every person has a zone (`accounts.User.time_zone`, an IANA name; accounts/middleware.py
activates it for each request), so the site shows and reads times in the viewer's zone and an
e-mail in its recipient's. The API does not: it speaks ISO 8601 with offsets.

Names are checked against `zoneinfo.available_timezones()`, not by trying `ZoneInfo(name)`:
that also opens files such as "posixrules" or "localtime" that are not zones a person lives in,
and its errors differ by platform. One code, `invalid_time_zone`, whatever was wrong.

A wall time in a zone can be missing (the hour skipped when clocks go forward) or happen twice
(the hour repeated when they go back). `aware_from_wall_time` refuses both with a sentence that
says which, rather than guessing an hour the person did not mean.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal, cast

from babel.core import Locale, UnknownLocaleError
from babel.dates import format_skeleton, format_timedelta
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_lazy

from spaces_project.errors import ValidationFailed

INVALID_TIME_ZONE = "invalid_time_zone"
TIME_DOES_NOT_EXIST = "time_does_not_exist"
TIME_IS_AMBIGUOUS = "time_is_ambiguous"

# The longest IANA name is 32 characters; the column holds 64.
MAX_NAME_LENGTH = 64
DEFAULT_ZONE_NAME = "UTC"

# Names a browser may report that are not in the database under that spelling.
_ALIASES = {"utc": "UTC", "etc/utc": "Etc/UTC", "gmt": "Etc/GMT", "z": "UTC", "zulu": "Etc/UTC"}


@functools.cache
def _names() -> dict[str, str]:
    """Lower-case name -> the database's spelling, for every zone a person may choose."""
    names = {name.lower(): name for name in zoneinfo.available_timezones()}
    names.pop("localtime", None)
    names.pop("posixrules", None)
    names.pop("factory", None)
    return names


@functools.cache
def zone_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The zones grouped by region for a <select>: [("America", [("America/New_York", "New
    York"), ...]), ...]; UTC first, on its own."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for name in sorted(_names().values()):
        region, _, place = name.partition("/")
        if not place or region in ("Etc", "SystemV", "US", "Canada", "Mexico", "Brazil", "Chile"):
            continue  # aliases and legacy names: every place is listed under its region
        groups.setdefault(region, []).append((name, place.replace("_", " ").replace("/", " / ")))
    return [("", [(DEFAULT_ZONE_NAME, "UTC")]), *sorted(groups.items())]


def time_zone_error(message: str | None = None) -> ValidationFailed:
    message = message or gettext("That is not a time zone we know.")
    return ValidationFailed(
        message,
        code=INVALID_TIME_ZONE,
        fields={
            "time_zone": [
                gettext("%(message)s Choose one from the list, e.g. Europe/Paris.")
                % {"message": message}
            ]
        },
    )


def clean_time_zone(value: object) -> str:
    """`value` as the database spells it ("america/new_york" -> "America/New_York"), or
    ValidationFailed(code=`invalid_time_zone`). Checks the length before anything else, so a
    huge or binary input costs nothing."""
    if not isinstance(value, str) or not value.strip():
        raise time_zone_error(gettext("Give a time zone."))
    if len(value) > MAX_NAME_LENGTH:
        raise time_zone_error()
    key = value.strip().lower()
    name = _names().get(key) or _ALIASES.get(key)
    if name is None:
        raise time_zone_error()
    return name


def zone_named(name: str | None) -> tzinfo:
    """The zone a stored or cookie name stands for; UTC when blank or not a zone (an old row,
    a forged cookie: showing UTC is better than failing the page)."""
    if name:
        try:
            return zoneinfo.ZoneInfo(clean_time_zone(name))
        except ValidationFailed:
            pass
    return UTC


def zone_name(zone: tzinfo) -> str:
    """The IANA name of `zone` ("UTC" for the UTC singleton)."""
    return str(getattr(zone, "key", None) or DEFAULT_ZONE_NAME)


# --- Reading a wall time ---------------------------------------------------------------------


def _wall(value: datetime) -> str:
    return f"{value.day} {value:%b %Y}, {value:%H:%M}"


def aware_from_wall_time(value: datetime, zone: tzinfo) -> datetime:
    """The moment a naive wall time `value` stands for in `zone`.

    Refuses a time that does not exist there (`time_does_not_exist`: the clocks skip it) or
    that happens twice (`time_is_ambiguous`), naming the field `scheduled_for`."""
    if value.tzinfo is not None:
        return value.astimezone(zone)
    first = value.replace(tzinfo=zone, fold=0)
    second = value.replace(tzinfo=zone, fold=1)
    name = zone_name(zone).replace("_", " ")
    # A skipped wall time does not survive the trip to UTC and back: 02:30 becomes 03:30.
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
        message = gettext(
            "%(time)s does not exist in %(zone)s: the clocks go forward then. Choose a later time."
        ) % {"time": _wall(value), "zone": name}
        raise ValidationFailed(
            message, code=TIME_DOES_NOT_EXIST, fields={"scheduled_for": [message]}
        )
    if first.utcoffset() != second.utcoffset():
        message = gettext(
            "%(time)s happens twice in %(zone)s: the clocks go back then. "
            "Choose a time outside that hour."
        ) % {"time": _wall(value), "zone": name}
        raise ValidationFailed(message, code=TIME_IS_AMBIGUOUS, fields={"scheduled_for": [message]})
    return first


# --- Writing a moment for people -------------------------------------------------------------

_NUMERIC_NAME = re.compile(r"^([+-])(\d\d)(\d\d)?$")


def zone_abbreviation(value: datetime) -> str:
    """The short name of the zone at `value`: "CET", "EST", "UTC"; "GMT+4" or "GMT+5:30" for a
    zone that has no letters (the tz database writes those as "+04", "+0530")."""
    text = value.tzname() or ""
    match = _NUMERIC_NAME.match(text)
    if not match:
        return text or "UTC"
    sign, hours, minutes = match.groups()
    label = f"GMT{sign}{int(hours)}"
    return f"{label}:{minutes}" if minutes and minutes != "00" else label


def format_when(
    value: datetime, zone: tzinfo | None = None, *, long: bool = False, now: datetime | None = None
) -> str:
    """`value` in `zone` (default: the active zone) for people: "Tue 8 Dec, 18:00 CET", or
    with `long`, "Tuesday 8 December 2026, 18:00 CET". The short form names the year only when
    it is not this year's."""
    local = value.astimezone(zone or timezone.get_current_timezone())
    abbreviation = zone_abbreviation(local)
    locale = _babel_locale()
    if locale is not None:
        # Another language: its own order and words ("mar, 8 de diciembre de 2026, 18:00").
        this_year = (now or timezone.now()).astimezone(local.tzinfo).year
        skeleton = "yMMMMEEEEd" if long else ("MMMEd" if local.year == this_year else "yMMMEd")
        day = format_skeleton(skeleton, local, locale=locale)
        return f"{day}, {format_skeleton('Hm', local, locale=locale)} {abbreviation}"
    if long:
        return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M} {abbreviation}"
    this_year = (now or timezone.now()).astimezone(local.tzinfo).year
    year = "" if local.year == this_year else f" {local.year}"
    return f"{local:%a} {local.day} {local:%b}{year}, {local:%H:%M} {abbreviation}"


# The units of Intl.RelativeTimeFormat as static/js/time.js picks them, so that the text the
# server writes is the text the script keeps up to date.
_UNITS = (
    ("year", 365 * 86400),
    ("month", 30 * 86400),
    ("week", 7 * 86400),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
    ("second", 1),
)
_Unit = Literal["year", "month", "week", "day", "hour", "minute", "second"]
_AUTO = {
    ("day", -1): gettext_lazy("yesterday"),
    ("day", 1): gettext_lazy("tomorrow"),
    ("week", -1): gettext_lazy("last week"),
    ("week", 1): gettext_lazy("next week"),
    ("month", -1): gettext_lazy("last month"),
    ("month", 1): gettext_lazy("next month"),
    ("year", -1): gettext_lazy("last year"),
    ("year", 1): gettext_lazy("next year"),
}


def _babel_locale() -> Locale | None:
    """The active language's Babel locale, or None for English (written by hand above, as the
    script writes it)."""
    language = translation.get_language() or settings.LANGUAGE_CODE
    if language.lower().startswith("en"):
        return None
    try:
        return Locale.parse(translation.to_locale(language))
    except (UnknownLocaleError, ValueError):
        return None


def relative_unit(seconds: float) -> tuple[int, str]:
    """(count, unit) for a signed distance in seconds, as time.js `unitFor` chooses them."""
    size = abs(seconds)
    for unit, length in _UNITS:
        if size >= length or unit == "second":
            count = int(size // length)
            return (count if seconds >= 0 else -count), unit
    raise AssertionError("unreachable")


def format_relative(value: datetime, *, now: datetime | None = None) -> str:
    """How far `value` is from `now`, as `Intl.RelativeTimeFormat("en", {numeric: "auto"})`
    writes it: "9 seconds ago", "in 16 minutes", "yesterday"."""
    now = now or timezone.now()
    count, unit = relative_unit((value - now) / timedelta(seconds=1))
    if count == 0:
        return gettext("now")
    if (unit, count) in _AUTO:
        return str(_AUTO[(unit, count)])
    locale = _babel_locale()
    if locale is not None:
        span = timedelta(seconds=count * dict(_UNITS)[unit])
        return format_timedelta(
            span,
            granularity=cast("_Unit", unit),
            threshold=1,
            add_direction=True,
            locale=locale,
        )
    plural = "" if abs(count) == 1 else "s"
    return f"in {count} {unit}{plural}" if count > 0 else f"{-count} {unit}{plural} ago"
