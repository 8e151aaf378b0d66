"""The link preview of a Space (spaces_project/previews.py): its card and its page's tags, for
every state: live and ended (the Space page), scheduled and cancelled (scheduling's page, which
builds its preview here too: a Space is one row whatever its state).

What a preview shows is what anyone may know of a Space without an account: its title, its
host, its state or time, and while live its listener count (bucketed). A ticketed Space shows
"Ticketed" in place of the count, and nothing about who bought in. A host's block hides the
Space from the person they blocked: their card is a 404, as the Space is missing from their
lists (`spaces_visible_to`).
"""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from accounts.selectors import is_blocked
from spaces.models import Space
from spaces.selectors import space_page_url
from spaces_project.cards import Card, Tone, count_bucket, count_short
from spaces_project.errors import NotFound
from spaces_project.previews import (
    MAX_AGE_LIVE,
    MAX_AGE_SETTLED,
    Preview,
    card_language,
    preview_for,
)
from spaces_project.timezones import format_when, zone_named

State = Space.State


def space_for_preview(*, viewer: User | None, space_id: int) -> Space:
    """The Space with its host, or NotFound: unknown, or its host blocked `viewer`."""
    space = Space.objects.select_related("host").filter(pk=space_id).first()
    if space is None:
        raise NotFound(_("No such Space."), code="space_not_found")
    if (
        viewer is not None
        and viewer.is_authenticated
        and is_blocked(blocker_id=space.host_id, blocked_id=viewer.pk)
    ):
        raise NotFound(_("No such Space."), code="space_not_found")
    return space


def _when(space: Space) -> str:
    """The scheduled time in the host's zone, named ("Tue 8 Dec, 18:00 CET"): a card is the
    same for everyone, so it speaks in the host's time and says which."""
    assert space.scheduled_for is not None
    return format_when(space.scheduled_for, zone_named(space.host.time_zone))


def _state_words(space: Space) -> str:
    if space.state == State.LIVE:
        return _("Live now")
    if space.state == State.SCHEDULED and space.scheduled_for is not None:
        return _("Scheduled for %(when)s") % {"when": _when(space)}
    if space.state == State.CANCELLED:
        return _("Cancelled")
    return _("Ended")


def _count(space: Space) -> str:
    if space.is_ticketed:
        return _("Ticketed")
    if space.state == State.LIVE:
        n = count_bucket(space.listener_count)
        return ngettext("%(count)s listening", "%(count)s listening", n) % {"count": count_short(n)}
    if space.state == State.ENDED and space.total_joined_count:
        n = count_bucket(space.total_joined_count)
        return ngettext("%(count)s listened", "%(count)s listened", n) % {"count": count_short(n)}
    return ""


def space_card(space: Space) -> Card:
    """The card, in the host's language."""
    host = space.host
    tone: Tone
    with translation.override(card_language(host)):
        if space.state == State.LIVE:
            tone, badge = "live", _("LIVE")
        elif space.state == State.SCHEDULED and space.scheduled_for is not None:
            tone, badge = "scheduled", _("Scheduled · %(when)s") % {"when": _when(space)}
        elif space.state == State.CANCELLED:
            tone, badge = "cancelled", _("Cancelled")
        else:
            tone, badge = "ended", _("Ended")
        return Card(
            tone=tone,
            title=space.title,
            badge=badge,
            name=host.name,
            handle=host.username,
            initial_seed=host.pk,
            count=_count(space),
        )


def space_card_max_age(space: Space) -> int:
    return MAX_AGE_LIVE if space.state in (State.LIVE, State.SCHEDULED) else MAX_AGE_SETTLED


def space_card_path(space: Space) -> str:
    """The card beside the page the Space is shown on (`space_page_url`)."""
    if space_page_url(space) != reverse("space_detail", args=[space.pk]):
        try:
            return reverse("scheduled_card", args=[space.pk])
        except NoReverseMatch:
            pass
    return reverse("space_card", args=[space.pk])


def space_preview(request: HttpRequest, space: Space) -> Preview:
    """The tags of the Space's page, in the viewer's language; `space` with its host, already
    allowed to this viewer."""
    host = space.host
    parts = [
        _state_words(space),
        _("Hosted by %(name)s (@%(username)s)") % {"name": host.name, "username": host.username},
    ]
    if count := _count(space):
        parts.append(count)
    return preview_for(
        request,
        card=space_card(space),
        title=space.title,
        description=" · ".join(parts),
        path=space_page_url(space),
        image_path=space_card_path(space),
        image_alt=_("“%(title)s”, a Space hosted by %(name)s: %(state)s")
        % {"title": space.title, "name": host.name, "state": _state_words(space)},
        cta=_("Log in to set a reminder") if space.state == State.SCHEDULED else "",
    )


def space_page_preview(request: HttpRequest, space_id: int) -> Preview:
    """For `signed_out_preview`: the Space page's preview for a visitor who is not signed in."""
    from django.http import Http404

    try:
        space = space_for_preview(viewer=None, space_id=space_id)
    except NotFound as error:
        raise Http404(error.message) from error
    return space_preview(request, space)
