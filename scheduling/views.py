"""The scheduling pages of the site. Thin: reads through scheduling.selectors, writes through
scheduling.services; a service's refusal becomes a message (or form errors) on the page the
user came from. Every action is a plain POST form: no JavaScript needed.

Partials for pages owned elsewhere (see templatetags/scheduling_site.py):
`scheduling/_upcoming.html` on the home page, `scheduling/_host_upcoming.html` on a profile.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_POST, require_safe

from accounts.models import User
from scheduling import selectors, services
from scheduling.forms import ScheduleForm, TicketedScheduleForm, initial_for
from scheduling.previews import scheduled_for_preview, scheduled_page_preview
from spaces import hooks as spaces_hooks
from spaces.forms import SPEAKING_HELP
from spaces.models import Space
from spaces.previews import space_card, space_card_max_age, space_preview
from spaces_project.errors import ApplicationError, NotFound
from spaces_project.previews import card_response, signed_out_preview
from spaces_project.site import back, form_add_refusal, signed_in
from spaces_project.timezones import format_when


def _detail(space_id: int) -> str:
    return reverse("scheduled_detail", args=[space_id])


def _live_url(space_id: int) -> str:
    """The live room's page (the Spaces site), or ours if it is not routed."""
    try:
        return reverse("space_detail", args=[space_id])
    except NoReverseMatch:
        return _detail(space_id)


@login_required
def scheduled_list(request: HttpRequest) -> HttpResponse:
    me = signed_in(request)
    following = list(selectors.scheduled_list_following(viewer=me)[:50])
    mine = list(selectors.scheduled_list_for_host(viewer=me, host=me)[:50])
    # The rows' ticket badges (ticketing/_price_badge.html) in one read for both lists.
    spaces_hooks.ticket_badges_attach(viewer=me, spaces=[*following, *mine])
    return render(
        request,
        "scheduling/list.html",
        {"following": following, "mine": mine, "can_host": me.can_host},
    )


@login_required
def scheduled_new(request: HttpRequest) -> HttpResponse:
    me = signed_in(request)
    # Times are typed in the host's zone (accounts/middleware.py activated it).
    zone = timezone.get_current_timezone()
    may_sell = selectors.host_may_sell_tickets(me)
    form: ScheduleForm
    if may_sell:
        form = TicketedScheduleForm(request.POST or None, zone=zone)
    else:
        form = ScheduleForm(request.POST or None, zone=zone)
    if request.method == "POST" and form.is_valid():
        tickets = form.ticket_kwargs() if isinstance(form, TicketedScheduleForm) else None
        try:
            if tickets is not None:
                space = services.scheduled_space_create_for_sale(
                    host=me, **form.service_kwargs(), **tickets
                )
            else:
                space = services.scheduled_space_create(host=me, **form.service_kwargs())
        except ApplicationError as error:
            form_add_refusal(form, error)
        else:
            assert space.scheduled_for is not None
            when = format_when(space.scheduled_for, zone)
            then = (
                gettext("Tickets are on sale.")
                if tickets
                else gettext("Your followers can set a reminder.")
            )
            messages.success(
                request,
                gettext("Your Space is scheduled for %(when)s. %(then)s")
                % {"when": when, "then": then},
            )
            return redirect("scheduled_detail", space_id=space.pk)
    return render(
        request,
        "scheduling/form.html",
        {
            "form": form,
            "space": None,
            "can_host": me.can_host,
            "host_min_followers": settings.SPACES_HOST_MIN_FOLLOWERS,
            "speaking_help": SPEAKING_HELP,
        },
    )


def _load(request: HttpRequest, space_id: int) -> Space | HttpResponse:
    try:
        return selectors.scheduled_detail(viewer=signed_in(request), space_id=space_id)
    except NotFound as error:
        raise Http404(error.message) from error
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("scheduled_list")


# Signed out: the link preview and a sign-in button (spaces_project/previews.py).
@signed_out_preview(scheduled_page_preview)
def scheduled_detail(request: HttpRequest, space_id: int) -> HttpResponse:
    space = _load(request, space_id)
    if isinstance(space, HttpResponse):
        return space
    if space.state in (Space.State.LIVE, Space.State.ENDED):
        return redirect(_live_url(space.pk))
    return render(
        request,
        "scheduling/detail.html",
        {
            "space": space,
            "is_host": space.host_id == request.user.pk,
            "cancel_reason": selectors.cancel_reason_of(space),
            "preview": space_preview(request, space),
        },
    )


@login_required
def scheduled_edit(request: HttpRequest, space_id: int) -> HttpResponse:
    space = _load(request, space_id)
    if isinstance(space, HttpResponse):
        return space
    me = signed_in(request)
    if space.host_id != me.pk or space.state != Space.State.SCHEDULED:
        messages.error(request, gettext("Only the host can edit a Space that has not started."))
        return redirect("scheduled_detail", space_id=space.pk)
    zone = timezone.get_current_timezone()
    form = ScheduleForm(request.POST or None, initial=initial_for(space, zone), zone=zone)
    if request.method == "POST" and form.is_valid():
        kwargs = form.service_kwargs()
        if kwargs["scheduled_for"] == space.scheduled_for:
            kwargs.pop("scheduled_for")
        try:
            services.scheduled_space_update(actor=me, space_id=space.pk, **kwargs)
        except ApplicationError as error:
            form_add_refusal(form, error)
        else:
            messages.success(request, gettext("Your Space is updated."))
            return redirect("scheduled_detail", space_id=space.pk)
    return render(
        request,
        "scheduling/form.html",
        {"form": form, "space": space, "can_host": True, "speaking_help": SPEAKING_HELP},
    )


def _act(
    request: HttpRequest, space_id: int, run: Callable[[User], str | None], fallback: str
) -> HttpResponse:
    try:
        text = run(signed_in(request))
    except ApplicationError as error:
        messages.error(request, error.message)
        return back(request, _detail(space_id))
    if text:
        messages.success(request, text)
    return back(request, fallback)


@require_POST
@login_required
def scheduled_cancel(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.scheduled_space_cancel(actor=user, space_id=space_id)
        return gettext("Your Space is cancelled. Everyone with a reminder is told.")

    return _act(request, space_id, run, _detail(space_id))


@require_POST
@login_required
def scheduled_start(request: HttpRequest, space_id: int) -> HttpResponse:
    try:
        services.scheduled_space_start(actor=signed_in(request), space_id=space_id)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("scheduled_detail", space_id=space_id)
    messages.success(request, gettext("You are live. Everyone with a reminder is told."))
    return redirect(_live_url(space_id))


@require_POST
@login_required
def scheduled_reminder(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str | None:
        if request.POST.get("action") == "unset":
            removed = services.reminder_unset(user=user, space_id=space_id)
            return gettext("Reminder removed.") if removed else None
        _, created = services.reminder_set(user=user, space_id=space_id)
        if not created:
            return None
        return gettext("Reminder set: we will tell you 15 minutes before and when it starts.")

    return _act(request, space_id, run, _detail(space_id))


@require_safe
def scheduled_card(request: HttpRequest, space_id: int) -> HttpResponse:
    """The link preview's image (scheduling/previews.py): public, 404 for someone the host
    blocked."""
    viewer = request.user if request.user.is_authenticated else None
    try:
        space = scheduled_for_preview(viewer=viewer, space_id=space_id)
    except NotFound as error:
        raise Http404(error.message) from error
    return card_response(request, space_card(space), max_age=space_card_max_age(space))
