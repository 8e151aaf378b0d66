"""The scheduling API, mounted at /api/v1/ (spaces_project/urls.py). The paths sit next to the
Spaces API's own; none of them is shadowed by `spaces/<int:space_id>`."""

from django.urls import path

from scheduling import apis

urlpatterns = [
    path("spaces/scheduled", apis.ScheduledListApi.as_view(), name="api-scheduled"),
    path(
        "spaces/scheduled/<int:space_id>",
        apis.ScheduledDetailApi.as_view(),
        name="api-scheduled-detail",
    ),
    path(
        "spaces/scheduled/<int:space_id>/start",
        apis.ScheduledStartApi.as_view(),
        name="api-scheduled-start",
    ),
    path("spaces/<int:space_id>/reminder", apis.ReminderApi.as_view(), name="api-reminder"),
    path("spaces/upcoming", apis.UpcomingFollowingApi.as_view(), name="api-upcoming"),
    path(
        "users/<str:username>/upcoming",
        apis.UpcomingOfUserApi.as_view(),
        name="api-user-upcoming",
    ),
]
