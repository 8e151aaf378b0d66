"""The go-live alerts API, mounted at /api/v1/ (spaces_project/urls.py)."""

from django.urls import path

from alerts import apis

urlpatterns = [
    path("users/<str:username>/alerts", apis.UserAlertsApi.as_view(), name="api-user-alerts"),
    path("me/alerts", apis.MeAlertsApi.as_view(), name="api-me-alerts"),
]
