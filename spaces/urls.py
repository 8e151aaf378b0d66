from django.urls import URLPattern

# The Spaces API under /api/v1/spaces/ (spaces/apis.py).
urlpatterns: list[URLPattern] = []
