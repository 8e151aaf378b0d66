"""WebSocket routes: the Space socket, the home feed socket, and 4404 for anything else."""

from django.urls import URLPattern, path, re_path

from spaces.realtime.consumers import NotFoundConsumer, SpaceConsumer
from spaces.realtime.feed import FeedConsumer

websocket_urlpatterns: list[URLPattern] = [
    # At most 18 digits: a larger id cannot be a row, and would overflow SQLite's integers.
    re_path(r"^ws/spaces/(?P<space_id>[0-9]{1,18})/$", SpaceConsumer.as_asgi()),
    path("ws/feed/", FeedConsumer.as_asgi()),
    re_path(r"", NotFoundConsumer.as_asgi()),
]
