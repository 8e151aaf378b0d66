"""The ticketing pages of the site (ticketing/views.py)."""

from django.urls import path

import spaces_project.converters  # noqa: F401  (registers the `id` path converter)
from ticketing import views

urlpatterns = [
    path("tickets/", views.tickets_mine, name="tickets_mine"),
    path("spaces/<id:space_id>/tickets/", views.ticket_buy, name="ticket_buy"),
    path("spaces/<id:space_id>/tickets/report/", views.ticket_report, name="ticket_report"),
    path(
        "tickets/checkout/<id:order_id>/",
        views.ticket_checkout_offline,
        name="ticket_checkout_offline",
    ),
]
