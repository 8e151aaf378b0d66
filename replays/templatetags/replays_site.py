"""Template helpers of the replay pages, and the profile's "Replays" section
(`replays/_host_replays.html`, included by accounts/profile.html, whose view knows nothing of
replays: the section reads its own rows)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template
from django.urls import reverse

from accounts.models import User
from replays import selectors
from replays.models import PodcastFeed
from spaces.models import Recording
from spaces.templatetags.spaces_site import duration

register = template.Library()

PROFILE_LIMIT = 10


@register.simple_tag(takes_context=True)
def host_replays(
    context: template.Context, host: Any, limit: int = PROFILE_LIMIT
) -> list[Recording]:
    """`host`'s replays as the signed-in viewer may see them (none when the host blocked them)."""
    request = context.get("request")
    viewer = getattr(request, "user", None)
    if not isinstance(viewer, User) or not viewer.is_authenticated or not isinstance(host, User):
        return []
    return list(selectors.replays_of_host(viewer=viewer, host=host)[:limit])


@register.simple_tag
def podcast_url(host: Any) -> str:
    """The host's podcast feed when they publish one (the profile links it), else ""."""
    if (
        not isinstance(host, User)
        or not PodcastFeed.objects.filter(user=host, enabled=True).exists()
    ):
        return ""
    return reverse("podcast_feed", args=[host.username])


@register.filter
def clock(ms: int | float | None) -> str:
    """A position or a length as a player shows it: 0:07, 12:34, 1:02:03."""
    total = int((ms or 0) // 1000)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


@register.filter
def seconds(ms: int | float | None) -> str:
    """Milliseconds as seconds for a media element's currentTime: "12.345"."""
    return f"{(ms or 0) / 1000:.3f}"


@register.filter
def talk_time(seconds_spoken: float | None) -> str:
    """How long someone spoke: "under a minute", "1 min", "1 h 5 min"."""
    return duration(timedelta(seconds=seconds_spoken or 0))
