"""The ticketing API, mounted at /api/v1/ (spaces_project/urls.py)."""

from django.urls import path

import spaces_project.converters  # noqa: F401  (registers the `id` path converter)
from ticketing import apis

urlpatterns = [
    path("spaces/ticketed", apis.TicketedSpaceCreateApi.as_view(), name="api-ticketed-create"),
    path("spaces/<id:space_id>/tickets", apis.OfferApi.as_view(), name="api-ticket-offer"),
    path(
        "spaces/<id:space_id>/tickets/checkout",
        apis.CheckoutApi.as_view(),
        name="api-ticket-checkout",
    ),
    path("spaces/<id:space_id>/tickets/report", apis.ReportApi.as_view(), name="api-ticket-report"),
    path(
        "spaces/<id:space_id>/tickets/guests/<id:user_id>",
        apis.GuestApi.as_view(),
        name="api-ticket-guest",
    ),
    path("orders/<id:order_id>", apis.OrderApi.as_view(), name="api-order"),
    path("orders/<id:order_id>/offline", apis.OfflineSettleApi.as_view(), name="api-order-offline"),
    path("tickets/mine", apis.MyTicketsApi.as_view(), name="api-tickets-mine"),
    path("payments/stripe/webhook", apis.stripe_webhook, name="api-stripe-webhook"),
]
