from django.urls import URLPattern

# The accounts API (me, users, follow, block, notifications) is filled in by accounts/apis.py.
urlpatterns: list[URLPattern] = []
