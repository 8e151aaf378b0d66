"""The server-rendered site for accounts (the API lives in accounts/urls.py)."""

from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon),
    path("u/<str:username>/", views.profile, name="profile"),
    path("u/<str:username>/card.png", views.profile_card_image, name="profile_card"),
    path("u/<str:username>/followers/", views.profile_followers, name="profile_followers"),
    path("u/<str:username>/following/", views.profile_following, name="profile_following"),
    path("u/<str:username>/follow/", views.profile_follow, name="profile_follow"),
    path("u/<str:username>/unfollow/", views.profile_unfollow, name="profile_unfollow"),
    path("u/<str:username>/block/", views.profile_block, name="profile_block"),
    path("u/<str:username>/unblock/", views.profile_unblock, name="profile_unblock"),
    path("settings/profile/", views.settings_profile, name="settings_profile"),
    path("settings/time-zone/guess/", views.time_zone_guess, name="time_zone_guess"),
    path("messages/", views.messages_inbox, name="messages"),
    path("messages/<str:username>/", views.message_thread, name="message_thread"),
    path("notifications/", views.notifications, name="notifications"),
    path(
        "notifications/read/",
        views.notifications_mark_all_read,
        name="notifications_mark_all_read",
    ),
]
