"""Template helpers of the Spaces pages, and the home page's live region (templates/home.html is
rendered by accounts.views.home, which knows nothing of Spaces: the region loads its own data)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template
from django.template.loader import get_template

register = template.Library()


@register.simple_tag(takes_context=True)
def live_now(context: template.Context) -> dict[str, Any]:
    """Bubbles of followed people and all live Spaces, for the signed-in viewer."""
    from spaces.views.lists import live_now as read

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"bubbles": [], "live_spaces": [], "more_live": False}
    return read(viewer=user)


@register.simple_tag
def template_exists(name: str) -> bool:
    """Lets a page include another engineer's partial only once it exists."""
    try:
        get_template(name)
    except template.TemplateDoesNotExist:
        return False
    return True


@register.filter
def compact(number: int | None) -> str:
    """1234 → 1.2K, as listener counts are shown in Spaces."""
    n = int(number or 0)
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        value, suffix = n / 1000, "K"
    else:
        value, suffix = n / 1_000_000, "M"
    text = f"{value:.1f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.0f}"
    return f"{text}{suffix}"


@register.filter
def duration(value: timedelta | None) -> str:
    """1 h 5 min, 12 min, under a minute."""
    if value is None:
        return ""
    minutes = int(value.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"
