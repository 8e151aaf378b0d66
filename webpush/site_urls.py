"""The service worker, at the site's root so that its scope is the whole site."""

from django.urls import path

from webpush import views

urlpatterns = [
    path("sw.js", views.service_worker, name="service_worker"),
]
