"""The scheduling pages of the site (scheduling/views.py). Every action is a POST to its own URL.
Under /spaces/scheduled/, which the Spaces pages' `spaces/<id:space_id>/` never matches."""

from django.urls import path

import spaces_project.converters  # noqa: F401  (registers the `id` path converter)
from scheduling import views

S = "spaces/scheduled/<id:space_id>"

urlpatterns = [
    path("spaces/scheduled/", views.scheduled_list, name="scheduled_list"),
    path("spaces/scheduled/new/", views.scheduled_new, name="scheduled_new"),
    path(f"{S}/", views.scheduled_detail, name="scheduled_detail"),
    path(f"{S}/card.png", views.scheduled_card, name="scheduled_card"),
    path(f"{S}/edit/", views.scheduled_edit, name="scheduled_edit"),
    path(f"{S}/cancel/", views.scheduled_cancel, name="scheduled_cancel"),
    path(f"{S}/start/", views.scheduled_start, name="scheduled_start"),
    path(f"{S}/reminder/", views.scheduled_reminder, name="scheduled_reminder"),
]
