"""The Web Push API, mounted at /api/v1/ (spaces_project/urls.py)."""

from django.urls import path

from webpush import apis

urlpatterns = [
    path("push/key", apis.PushKeyApi.as_view(), name="api-push-key"),
    path("push/subscriptions", apis.PushSubscriptionApi.as_view(), name="api-push-subscriptions"),
]
