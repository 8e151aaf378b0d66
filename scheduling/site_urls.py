from django.urls import URLPattern

# The scheduling pages of the site (scheduling/views.py).
urlpatterns: list[URLPattern] = []
