"""Live HLS files, served by Django itself in the embedded shape (`SPACES_HLS_URL=/live/`).

In production a static server or CDN serves the `live/` folder of the recordings storage
(deploy/nginx/live-hls.conf) and requests never reach Django. Like it, this view needs no
sign-in: the folder name is the capability (spaces.models.live_prefix). It serves only the names
the live writer makes (media/live.py), never its state file or anything outside the folder.
"""

from __future__ import annotations

import re

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from media.live import INIT, PLAYLIST
from spaces_project import storage

_FOLDER = re.compile(r"^\d{1,18}-[0-9a-f]{24}$")
_SEGMENT = re.compile(r"^[0-9a-f]{8}-\d{6}\.m4s$")


@require_safe
def live_file(request: HttpRequest, folder: str, name: str) -> HttpResponse:
    if not _FOLDER.match(folder) or not (name in (INIT, PLAYLIST) or _SEGMENT.match(name)):
        raise Http404("No such file.")
    stored = f"live/{folder}/{name}"
    headers = storage.live_file_headers(stored)
    assert headers is not None  # every name allowed above has its headers
    try:
        data = storage.get(storage.live(), stored)
    except OSError as exc:
        raise Http404("No such file.") from exc
    content_type, cache_control = headers
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = cache_control
    return response
