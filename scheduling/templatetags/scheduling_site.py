"""Template tags that let pages owned elsewhere show scheduled Spaces without their views
knowing about scheduling: the home page includes `scheduling/_upcoming.html`, a profile
`scheduling/_host_upcoming.html` (with `person` in its context). One query each, and the
ticket badges of the rows in one read (spaces.hooks.ticket_badges_attach)."""

from __future__ import annotations

from typing import Any

from django import template

from accounts.models import User
from scheduling import selectors
from spaces import hooks as spaces_hooks
from spaces.models import Space

register = template.Library()

HOME_LIMIT = 5
PROFILE_LIMIT = 10


def _viewer(context: template.Context) -> User | None:
    request = context.get("request")
    user = getattr(request, "user", None)
    return user if isinstance(user, User) and user.is_authenticated else None


def _with_badges(spaces: list[Space], viewer: User) -> list[Space]:
    """The rows' ticket badges (ticketing/_price_badge.html) in one read for the list."""
    spaces_hooks.ticket_badges_attach(viewer=viewer, spaces=spaces)
    return spaces


@register.simple_tag(takes_context=True)
def upcoming_following(context: template.Context, limit: int = HOME_LIMIT) -> list[Space]:
    """Upcoming Spaces of people the signed-in viewer follows, soonest first."""
    viewer = _viewer(context)
    if viewer is None:
        return []
    return _with_badges(list(selectors.scheduled_list_following(viewer=viewer)[:limit]), viewer)


@register.simple_tag(takes_context=True)
def host_upcoming(context: template.Context, host: Any, limit: int = PROFILE_LIMIT) -> list[Space]:
    """`host`'s upcoming Spaces as the signed-in viewer may see them."""
    viewer = _viewer(context)
    if viewer is None or not isinstance(host, User):
        return []
    rows = list(selectors.scheduled_list_for_host(viewer=viewer, host=host)[:limit])
    return _with_badges(rows, viewer)
