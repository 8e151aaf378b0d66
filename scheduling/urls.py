from django.urls import URLPattern

# The scheduling API under /api/v1/ (scheduling/apis.py).
urlpatterns: list[URLPattern] = []
