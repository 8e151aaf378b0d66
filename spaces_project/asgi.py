"""ASGI entry point: HTTP to Django, WebSockets through origin checks and authentication."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")
# Django must be set up before anything imports models (consumers, auth middleware).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from spaces.realtime.wsframes import FrameOutlet  # noqa: E402
from spaces_project import ticker  # noqa: E402
from spaces_project.routing import websocket_urlpatterns  # noqa: E402
from spaces_project.ws_auth import websocket_stack  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Outermost on the socket path: it must see the server's own `send`.
        "websocket": FrameOutlet(websocket_stack(URLRouter(websocket_urlpatterns))),
    }
)

# Embedded shape only: no Celery beat, so the periodic sweeps tick inside this process.
ticker.start()
