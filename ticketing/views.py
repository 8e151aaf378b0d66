"""The ticketing pages of the site: buy a ticket, my tickets, the offline checkout page, the
host's sales. Thin: reads through ticketing.selectors, writes through ticketing.services; a
refusal becomes a message on the page. Someone else's order or sales page is a 404, as a
Space that sells no tickets."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext

from spaces_project.errors import ApplicationError, Forbidden, NotFound
from spaces_project.site import signed_in
from ticketing import selectors, services
from ticketing.models import Order
from ticketing.providers import providers_enabled


@login_required
def tickets_mine(request: HttpRequest) -> HttpResponse:
    orders = list(selectors.tickets_of(user=signed_in(request), include_failed=True)[:100])
    return render(request, "ticketing/mine.html", {"orders": orders})


@login_required
def ticket_buy(request: HttpRequest, space_id: int) -> HttpResponse:
    me = signed_in(request)
    try:
        view = selectors.offer_detail(viewer=me, space_id=space_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    if request.method == "POST":
        try:
            order, _ = services.ticket_checkout_start(
                buyer=me,
                space_id=space_id,
                provider=request.POST.get("provider", ""),
                return_url=request.build_absolute_uri("/tickets/"),
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("ticket_buy", space_id=space_id)
        # The offline page of this site, or the provider's own (Stripe Checkout).
        return redirect(order.checkout_url)
    return render(
        request,
        "ticketing/buy.html",
        {"view": view, "providers": providers_enabled(), "is_host": view.space.host_id == me.pk},
    )


@login_required
def ticket_checkout_offline(request: HttpRequest, order_id: int) -> HttpResponse:
    me = signed_in(request)
    try:
        order = selectors.order_get_for(buyer=me, order_id=order_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    if request.method == "POST":
        try:
            order = services.order_offline_settle(
                buyer=me, order_id=order_id, outcome=request.POST.get("outcome", "")
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("ticket_checkout_offline", order_id=order_id)
        if order.state == Order.State.PAID:
            messages.success(request, gettext("Payment confirmed: you have a ticket."))
            return redirect("tickets_mine")
        messages.error(request, gettext("The payment did not go through."))
        return redirect("ticket_checkout_offline", order_id=order_id)
    return render(
        request,
        "ticketing/checkout_offline.html",
        # The service refuses "fail" without DEBUG too; the button only shows where it works.
        {"order": order, "debug_tools": settings.DEBUG},
    )


@login_required
def ticket_report(request: HttpRequest, space_id: int) -> HttpResponse:
    me = signed_in(request)
    try:
        report = selectors.sales_report(actor=me, space_id=space_id)
    except (NotFound, Forbidden) as exc:
        # Someone else's sales: as if there were none.
        raise Http404(exc.message) from exc
    view = selectors.offer_detail(viewer=me, space_id=space_id)
    buyers = list(selectors.sales_orders(offer=view.offer)[:500])
    return render(
        request, "ticketing/report.html", {"report": report, "view": view, "buyers": buyers}
    )
