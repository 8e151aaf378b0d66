"""The service worker script (webpush/sw.js), served from the site root: a worker's scope can
be no wider than the folder it is served from, and /static/js/ would cover only that."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

WORKER = Path(__file__).with_name("sw.js")


@cache
def _worker_source() -> bytes:
    return WORKER.read_bytes()


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(_worker_source(), content_type="application/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    # The browser checks for a new worker on navigations anyway; no-cache makes every check
    # revalidate, so a deploy reaches every device at its next visit.
    response["Cache-Control"] = "no-cache"
    return response
