"""The scheduling API, mounted at /api/v1/ (spaces_project/urls.py). The paths sit next to the
Spaces API's own; none of them is shadowed by `spaces/<id:space_id>`."""

from django.urls import path

import spaces_project.converters  # noqa: F401  (registers the `id` path converter)
from scheduling import apis

urlpatterns = [
    path("spaces/scheduled", apis.ScheduledListApi.as_view(), name="api-scheduled"),
    path(
        "spaces/scheduled/<id:space_id>",
        apis.ScheduledDetailApi.as_view(),
        name="api-scheduled-detail",
    ),
    path(
        "spaces/scheduled/<id:space_id>/start",
        apis.ScheduledStartApi.as_view(),
        name="api-scheduled-start",
    ),
    path("spaces/<id:space_id>/reminder", apis.ReminderApi.as_view(), name="api-reminder"),
    path("spaces/upcoming", apis.UpcomingFollowingApi.as_view(), name="api-upcoming"),
    path(
        "users/<str:username>/upcoming",
        apis.UpcomingOfUserApi.as_view(),
        name="api-user-upcoming",
    ),
]
