from django.urls import URLPattern

# The Spaces pages of the site (spaces/views.py).
urlpatterns: list[URLPattern] = []
