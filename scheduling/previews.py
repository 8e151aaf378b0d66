"""The link preview of a scheduled Space's page: the Space's own (spaces/previews.py), which
follows it through every state, for a Space that was scheduled (404 for one started on the
spot, as the page)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from accounts.models import User
from spaces.models import Space
from spaces.previews import space_for_preview, space_preview
from spaces.selectors import space_page_url
from spaces_project.errors import NotFound
from spaces_project.previews import Preview


def scheduled_for_preview(*, viewer: User | None, space_id: int) -> Space:
    """The scheduled Space with its host, or NotFound: unknown, never scheduled, or its host
    blocked `viewer`."""
    space = space_for_preview(viewer=viewer, space_id=space_id)
    if space.scheduled_for is None:
        raise NotFound(_("No such scheduled Space."), code="space_not_found")
    return space


def scheduled_page_preview(request: HttpRequest, space_id: int) -> Preview | HttpResponse:
    """For `signed_out_preview`: the schedule page's preview for a visitor not signed in; a
    Space that went live or ended is shown on its own page (as the page redirects)."""
    try:
        space = scheduled_for_preview(viewer=None, space_id=space_id)
    except NotFound as error:
        raise Http404(error.message) from error
    if space.state in (Space.State.LIVE, Space.State.ENDED):
        return redirect(space_page_url(space))
    return space_preview(request, space)
