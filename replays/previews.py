"""The link previews of a replay and of a clip (spaces_project/previews.py).

Who may see a preview: whoever may hear the replay (replays/access.py `replay_access`), and
without an account, the replay or clip of a public Space, never a ticketed one: its title and
host are public already (the Space's own preview), and a ticketed Space's replay is for its
ticket holders. Anything else (no replay, one being made or deleted, a deleted clip, the host's
block) has no card: 404, as if it did not exist. A card only some signed-in people may see (a
ticketed Space's, for its ticket holders) is sent `private`, so no shared cache keeps it.
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from replays.access import replay_access
from replays.models import Clip
from spaces.models import Recording, Space
from spaces_project.cards import Card, count_bucket, count_short
from spaces_project.errors import ApplicationError, NotFound
from spaces_project.previews import Preview, card_language, clock, preview_for


def _not_found() -> NotFound:
    return NotFound(_("No such replay."), code="replay_not_found")


def _allowed(viewer: User | None, space: Space) -> None:
    if viewer is None or not viewer.is_authenticated:
        if space.is_ticketed:
            raise _not_found()
        return
    try:
        replay_access(viewer=viewer, space=space)
    except ApplicationError as error:
        raise _not_found() from error


def replay_for_preview(*, viewer: User | None, space_id: int) -> Recording:
    """The ready recording with its Space and host, or NotFound."""
    recording = (
        Recording.objects.filter(space_id=space_id).select_related("space", "space__host").first()
    )
    if recording is None or recording.status != Recording.Status.READY:
        raise _not_found()
    _allowed(viewer, recording.space)
    return recording


def clip_for_preview(*, viewer: User | None, slug: str) -> Clip:
    """The clip with its Space, host and author, or NotFound (deleted clips too)."""
    clip = Clip.objects.filter(slug=slug).select_related("space", "space__host", "author").first()
    if clip is None or clip.is_deleted:
        raise NotFound(_("No such clip."), code="clip_not_found")
    try:
        _allowed(viewer, clip.space)
    except NotFound as error:
        raise NotFound(_("No such clip."), code="clip_not_found") from error
    return clip


def _listened(space: Space) -> str:
    if space.is_ticketed:
        return _("Ticketed")
    if not space.total_joined_count:
        return ""
    n = count_bucket(space.total_joined_count)
    return ngettext("%(count)s listened", "%(count)s listened", n) % {"count": count_short(n)}


def replay_card(recording: Recording) -> Card:
    space = recording.space
    host = space.host
    with translation.override(card_language(host)):
        return Card(
            tone="replay",
            title=space.title,
            badge=_("Replay · %(length)s") % {"length": clock(recording.duration_ms)},
            name=host.name,
            handle=host.username,
            initial_seed=host.pk,
            count=_listened(space),
        )


def clip_card(clip: Clip) -> Card:
    space = clip.space
    host = space.host
    with translation.override(card_language(host)):
        by = _("clipped by @%(username)s") % {"username": clip.author.username}
        if clip.title:
            body = _("From “%(title)s”") % {"title": space.title} + f" · {by}"
        else:
            body = by[:1].upper() + by[1:]
        return Card(
            tone="clip",
            title=clip.title or space.title,
            badge=_("Clip · %(length)s") % {"length": clock(clip.duration_ms)},
            name=host.name,
            handle=host.username,
            initial_seed=host.pk,
            body=body,
        )


def card_is_public(space: Space) -> bool:
    """Whether shared caches may keep the card: not for a ticketed Space's."""
    return not space.is_ticketed


def replay_preview(request: HttpRequest, recording: Recording) -> Preview:
    space = recording.space
    host = space.host
    parts = [
        _("Replay · %(length)s") % {"length": clock(recording.duration_ms)},
        _("Hosted by %(name)s (@%(username)s)") % {"name": host.name, "username": host.username},
    ]
    if listened := _listened(space):
        parts.append(listened)
    return preview_for(
        request,
        card=replay_card(recording),
        title=space.title,
        description=" · ".join(parts),
        path=reverse("replay_detail", args=[space.pk]),
        image_path=reverse("replay_card", args=[space.pk]),
        image_alt=_("Replay of “%(title)s”, a Space hosted by %(name)s")
        % {"title": space.title, "name": host.name},
    )


def clip_preview(request: HttpRequest, clip: Clip) -> Preview:
    space = clip.space
    host = space.host
    title = clip.title or space.title
    parts = [
        _("Clip · %(length)s") % {"length": clock(clip.duration_ms)},
        _("From “%(title)s”, hosted by %(name)s") % {"title": space.title, "name": host.name},
        _("clipped by @%(username)s") % {"username": clip.author.username},
    ]
    return preview_for(
        request,
        card=clip_card(clip),
        title=title,
        description=" · ".join(parts),
        path=reverse("clip_detail", args=[clip.slug]),
        image_path=reverse("clip_card", args=[clip.slug]),
        image_alt=_("Clip “%(title)s” from a Space hosted by %(name)s")
        % {"title": title, "name": host.name},
    )


# For `signed_out_preview`: the preview, or the sign-in page as before for what a visitor
# without an account may not see (a ticket holder may still sign in and hear it).


def replay_page_preview(request: HttpRequest, space_id: int) -> Preview | HttpResponse:
    try:
        return replay_preview(request, replay_for_preview(viewer=None, space_id=space_id))
    except NotFound:
        return redirect_to_login(request.get_full_path())


def clip_page_preview(request: HttpRequest, slug: str) -> Preview | HttpResponse:
    try:
        return clip_preview(request, clip_for_preview(viewer=None, slug=slug))
    except NotFound:
        return redirect_to_login(request.get_full_path())
