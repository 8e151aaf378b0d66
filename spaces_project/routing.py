"""WebSocket routes. The Space and feed sockets come with the realtime issue."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
