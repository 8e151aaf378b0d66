"""The ticketing pages of the site (ticketing/views.py)."""

from django.urls import path

from ticketing import views

urlpatterns = [
    path("tickets/", views.tickets_mine, name="tickets_mine"),
    path("spaces/<int:space_id>/tickets/", views.ticket_buy, name="ticket_buy"),
    path("spaces/<int:space_id>/tickets/report/", views.ticket_report, name="ticket_report"),
    path(
        "tickets/checkout/<int:order_id>/",
        views.ticket_checkout_offline,
        name="ticket_checkout_offline",
    ),
]
