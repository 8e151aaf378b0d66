"""Admin for ticketing: offers (with the sales report), orders, tickets, refunds, webhook
events. Read-mostly: money moves only through ticketing.services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext_lazy

from spaces_project.errors import ApplicationError
from ticketing import selectors, services
from ticketing.models import Guest, Order, Refund, Ticket, TicketOffer, WebhookEvent


@admin.register(Guest)
class GuestAdmin(admin.ModelAdmin):
    list_display = ("offer", "user", "created_at")
    raw_id_fields = ("user",)


@admin.register(TicketOffer)
class TicketOfferAdmin(admin.ModelAdmin):
    list_display = ("space", "price", "currency", "capacity", "sold", "gross", "fee", "net")
    readonly_fields = ("space", "currency", "sold", "report")
    search_fields = ("space__title", "space__host__username")

    def has_add_permission(self, request: HttpRequest) -> bool:
        """A host puts a scheduled Space on sale (ticketing.services.ticket_offer_open: the
        followers rule, the Space marked ticketed, its guests); a bare row added here would skip
        all of it."""
        return False

    def save_model(self, request: HttpRequest, obj: TicketOffer, form: Any, change: bool) -> None:
        """Through the host's own use case, so its rules hold here too (no price below what
        buyers paid, no fewer tickets than are taken, sales close before the start)."""
        changed = {
            name: getattr(obj, name)
            for name in ("price", "capacity", "sales_close_at")
            if name in form.changed_data
        }
        if changed:
            services.ticket_offer_update(actor=obj.space.host, space_id=obj.pk, **changed)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as error:
            # Refused by the service: nothing saved (the admin's transaction rolled back).
            self.message_user(request, error.message, level=messages.ERROR)
            return HttpResponseRedirect(request.path)

    def _report(self, obj: TicketOffer) -> selectors.SalesReport:
        return selectors.sales_report_of(obj)

    @admin.display(description=gettext_lazy("Gross (minor units)"))
    def gross(self, obj: TicketOffer) -> int:
        return self._report(obj).gross

    @admin.display(description=gettext_lazy("Platform fee"))
    def fee(self, obj: TicketOffer) -> int:
        return self._report(obj).platform_fee

    @admin.display(description=gettext_lazy("Net"))
    def net(self, obj: TicketOffer) -> int:
        return self._report(obj).net

    @admin.display(description=gettext_lazy("Sales report"))
    def report(self, obj: TicketOffer) -> str:
        r = self._report(obj)
        return (
            f"{r.sold} sold, {r.refunded} refunded; gross {r.gross}, fee {r.platform_fee} "
            f"({r.fee_bps} bps), net {r.net} {r.currency.upper()}"
        )


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(_ReadOnly):
    list_display = ("pk", "offer", "buyer", "state", "amount", "currency", "provider", "created_at")
    list_filter = ("state", "provider")
    search_fields = ("buyer__username", "checkout_ref", "payment_ref")


@admin.register(Ticket)
class TicketAdmin(_ReadOnly):
    list_display = ("pk", "offer", "buyer", "amount", "currency", "provider", "paid_at")
    search_fields = ("buyer__username",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Ticket]:
        return super().get_queryset(request).filter(state=Order.State.PAID)


@admin.register(Refund)
class RefundAdmin(_ReadOnly):
    list_display = ("pk", "order", "amount", "currency", "provider", "reason", "state", "attempts")
    list_filter = ("state", "reason", "provider")
    actions = ["retry"]

    @admin.action(description=gettext_lazy("Retry the selected pending refunds"))
    def retry(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        done = 0
        for refund in queryset.filter(state=Refund.State.PENDING):
            result = services.refund_execute(refund_id=refund.pk)
            done += int(result is not None and result.state == Refund.State.DONE)
        self.message_user(request, f"{done} refund(s) done.")


@admin.register(WebhookEvent)
class WebhookEventAdmin(_ReadOnly):
    list_display = ("event_id", "provider", "type", "result", "received_at")
    list_filter = ("provider", "type", "result")
    search_fields = ("event_id",)
