"""The accounts API, mounted at /api/v1/ (spaces_project/urls.py)."""

from django.urls import path

from accounts import apis

urlpatterns = [
    path("me", apis.MeApi.as_view(), name="api-me"),
    path("users/<str:username>", apis.UserDetailApi.as_view(), name="api-user"),
    path("users/<str:username>/follow", apis.UserFollowApi.as_view(), name="api-user-follow"),
    path("users/<str:username>/block", apis.UserBlockApi.as_view(), name="api-user-block"),
    path(
        "users/<str:username>/followers",
        apis.UserFollowersApi.as_view(),
        name="api-user-followers",
    ),
    path(
        "users/<str:username>/following",
        apis.UserFollowingApi.as_view(),
        name="api-user-following",
    ),
    path("notifications", apis.NotificationListApi.as_view(), name="api-notifications"),
    path(
        "notifications/read",
        apis.NotificationReadApi.as_view(),
        name="api-notifications-read",
    ),
    path(
        "notifications/unread-count",
        apis.NotificationUnreadCountApi.as_view(),
        name="api-notifications-unread-count",
    ),
    path("messages", apis.ConversationListApi.as_view(), name="api-messages"),
    path("messages/<str:username>", apis.MessageThreadApi.as_view(), name="api-message-thread"),
]
