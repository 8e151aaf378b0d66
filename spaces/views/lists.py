"""Site pages listing Spaces (live, ended, the home page's live region) and Start a Space."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.selectors import user_get_active, user_me
from accounts.views import hosting_progress
from spaces import hooks, selectors, services
from spaces.forms import SPEAKING_HELP, SpaceStartForm
from spaces.models import Space
from spaces_project.errors import ApplicationError
from spaces_project.site import form_add_refusal, signed_in

PAGE_SIZE = 20


# --- Home: the live region (spaces/templatetags/spaces_site.py renders it) --------------------


def live_now(*, viewer: User, limit: int = PAGE_SIZE) -> dict[str, Any]:
    """The bubbles of followed people, then all live Spaces: two queries, three with bubbles,
    and the cards' ticket badges in one read for all of them (none when nothing is ticketed)."""
    bubbles = list(selectors.space_list_following(viewer=viewer)[:limit])
    live = list(selectors.space_list_live(viewer=viewer)[: limit + 1])
    hooks.ticket_badges_attach(viewer=viewer, spaces=live[:limit])
    return {
        "bubbles": [_bubble(space) for space in bubbles],
        "live_spaces": live[:limit],
        "more_live": len(live) > limit,
    }


@dataclass
class Bubble:
    space: Space
    face: User  # the followed person the bubble shows: the host when followed, else the first
    others: int  # more followed people on stage


def _bubble(space: Space) -> Bubble:
    on_stage = getattr(space, "followed_on_stage", [])
    face = on_stage[0].user if on_stage else space.host
    return Bubble(space=space, face=face, others=max(0, len(on_stage) - 1))


@login_required
def space_list(request: HttpRequest) -> HttpResponse:
    viewer = signed_in(request)
    query = (request.GET.get("q") or "").strip()[:100]
    spaces = selectors.space_list_live(viewer=viewer, query=query or None)
    page = Paginator(spaces, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    hooks.ticket_badges_attach(viewer=viewer, spaces=rows)
    return render(
        request,
        "spaces/list.html",
        {"page_obj": page, "spaces": rows, "query": query},
    )


@login_required
def space_ended_list(request: HttpRequest) -> HttpResponse:
    viewer = signed_in(request)
    host = None
    if request.GET.get("host"):
        host = user_get_active(username=request.GET["host"])
    spaces = selectors.space_list_ended(viewer=viewer, host_id=host.pk if host else None)
    page = Paginator(spaces, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "spaces/ended_list.html",
        {"page_obj": page, "spaces": page.object_list, "host": host},
    )


@login_required
def space_new(request: HttpRequest) -> HttpResponse:
    me = user_me(user=signed_in(request))
    live = Space.objects.filter(host=me, state=Space.State.LIVE).only("pk", "title").first()
    form = SpaceStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            space = services.space_start(host=me, **form.cleaned_data)
        except ApplicationError as error:
            form_add_refusal(form, error)
        else:
            messages.success(request, _("Your Space is live. Invite people to listen!"))
            return redirect("space_detail", space_id=space.pk)
    return render(
        request,
        "spaces/new.html",
        {
            "form": form,
            "me": me,
            "can_host": me.can_host,
            **hosting_progress(me),
            "live_space": live,
            "max_speakers": settings.SPACES_MAX_SPEAKERS,
            "speaking_help": SPEAKING_HELP,
        },
    )
