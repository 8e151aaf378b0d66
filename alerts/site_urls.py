"""The site's pages for go-live alerts: the bell on a profile, the switches in Settings."""

from django.urls import path

from alerts import views

urlpatterns = [
    path("u/<str:username>/alerts/", views.profile_alerts, name="profile_alerts"),
    path("settings/alerts/", views.settings_alerts, name="settings_alerts"),
]
