"""The link preview of a profile (spaces_project/previews.py): the person's name, handle, bio
and follower count. Someone they blocked gets no card (404), as they get no follow lists."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from accounts.selectors import user_get_profile
from spaces_project.cards import Card, count_bucket, count_short
from spaces_project.errors import NotFound
from spaces_project.previews import Preview, card_language, preview_for


def profile_for_preview(*, username: str, viewer: User | None) -> User:
    """The active user with their counts, or NotFound: unknown, or they blocked `viewer`."""
    from django.http import Http404

    try:
        person = user_get_profile(username=username, viewer=viewer)
    except Http404 as error:
        raise NotFound(_("No such user."), code="user_not_found") from error
    if getattr(person, "blocks_you", False) and (viewer is None or viewer.pk != person.pk):
        raise NotFound(_("No such user."), code="user_not_found")
    return person


def _followers(person: User) -> str:
    n = count_bucket(getattr(person, "follower_count", 0))
    return ngettext("%(count)s follower", "%(count)s followers", n) % {"count": count_short(n)}


def profile_card(person: User) -> Card:
    """`person` as `profile_for_preview` returns them (with `follower_count`)."""
    with translation.override(card_language(person)):
        return Card(
            tone="profile",
            title=person.name,
            badge=_("Profile"),
            handle=person.username,
            initial_seed=person.pk,
            count=_followers(person),
            body=person.bio,
        )


def profile_preview(request: HttpRequest, person: User) -> Preview:
    parts = [f"@{person.username}", _followers(person)]
    if person.bio:
        parts.append(person.bio)
    return preview_for(
        request,
        card=profile_card(person),
        title=_("%(name)s on Spaces") % {"name": person.name},
        description=" · ".join(parts),
        path=reverse("profile", args=[person.username]),
        image_path=reverse("profile_card", args=[person.username]),
        image_alt=_("Profile card of %(name)s (@%(username)s)")
        % {"name": person.name, "username": person.username},
        type="profile",
        username=person.username,
    )
