"""Moments on the pages, in the viewer's zone (accounts/middleware.py activates it):

- `{{ value|when }}`: "Tue 8 Dec, 18:00 CET"; `{{ value|when_long }}`: "Tuesday 8 December 2026,
  18:00 CET" (spaces_project/timezones.py writes both, as the e-mails do);
- `{{ value|relative }}`: "9 seconds ago", "in 16 minutes";
- `{% relative_time value %}`: that text in a `<time datetime data-relative>` element, which
  static/js/time.js keeps up to date while the page is open, with the full time as its title.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from spaces_project.timezones import format_relative, format_when

register = template.Library()


@register.filter
def when(value: datetime | None) -> str:
    return format_when(value) if isinstance(value, datetime) else ""


@register.filter
def when_long(value: datetime | None) -> str:
    return format_when(value, long=True) if isinstance(value, datetime) else ""


@register.filter
def relative(value: datetime | None) -> str:
    return format_relative(value) if isinstance(value, datetime) else ""


@register.simple_tag
def relative_time(value: datetime | None) -> SafeString:
    if not isinstance(value, datetime):
        return SafeString("")
    return format_html(
        '<time datetime="{}" data-relative title="{}">{}</time>',
        value.isoformat(),
        format_when(value, long=True),
        format_relative(value),
    )
