"""The bell on a profile you follow: `{% load alerts_site %}{% live_bell person %}`."""

from __future__ import annotations

from typing import Any

from django import template

from accounts.models import Follow
from alerts.selectors import follow_alerts_get

register = template.Library()


@register.inclusion_tag("alerts/_bell.html", takes_context=True)
def live_bell(context: dict[str, Any], person: Any) -> dict[str, Any]:
    """The viewer's bell on `person` (one query), or nothing when they do not follow them."""
    request = context.get("request")
    viewer = getattr(request, "user", None)
    alerts = None
    if viewer is not None and viewer.is_authenticated and viewer.pk != person.pk:
        alerts = follow_alerts_get(follower=viewer, followee=person)
    return {
        "person": person,
        "alerts": alerts,
        "on": alerts == Follow.Alerts.ALL,
        "request": request,
        "csrf_token": context.get("csrf_token"),
    }
