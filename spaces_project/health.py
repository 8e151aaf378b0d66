"""`/healthz`, `/readyz` and `/metrics` of a web process, answered by the first middleware.

First, so that a probe needs nothing the site needs: no allowed Host (a load balancer probes by
address), no HTTPS redirect (it probes in plain HTTP on the private side), no session, no CSP,
and it is not counted among the site's requests.

- `/healthz`: 200 whenever the process answers. Under Daphne it is answered on the event loop
  itself, so a stalled loop fails it: restart the process.
- `/readyz`: every readiness check (`checks`): the database (`SELECT 1`), Redis (`PING`, in the
  distributed shape) and what the apps register (a live media worker when media runs out of
  process: `spaces/apps.py`). A JSON body lists each check; 503 when one fails: take the process
  out of the pool, do not restart it.
- `/metrics`: the Prometheus exposition (`spaces_project.metrics.registry()`), for the addresses
  in `METRICS_ALLOWED_IPS` or a bearer token (`METRICS_BEARER_TOKEN`); anyone else gets 403.

docs/operations.md describes them for a load balancer.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from spaces_project import metrics
from spaces_project.hooks import Hook

logger = logging.getLogger(__name__)

Check = Callable[[], None]
"""A readiness check: returns when ready, raises (any exception, its message shown) when not."""

CHECK_TIMEOUT_SECONDS = 2.0


def database_ready() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def redis_ready() -> None:
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=CHECK_TIMEOUT_SECONDS,
        socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    finally:
        client.close()


checks: Hook[Callable[[], dict[str, Check]]] = Hook("readiness checks")
"""What an app adds to readiness: a function naming its checks (called on each probe, so it
may depend on the shape: `spaces/apps.py` adds the media worker check only out of process)."""


def all_checks() -> dict[str, Check]:
    found: dict[str, Check] = {"database": database_ready}
    if settings.REDIS_URL:
        found["redis"] = redis_ready
    for more in checks:
        found.update(more())
    return found


def run_checks() -> tuple[bool, dict[str, Any]]:
    """(ready, the body): each check with its time, and the error of those that failed."""
    results: dict[str, Any] = {}
    for name, check in all_checks().items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        else:
            results[name] = {"ok": True}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 2)
    ok = all(r["ok"] for r in results.values())
    return ok, {"status": "ok" if ok else "fail", "checks": results}


def run_checks_on_own_thread() -> tuple[bool, dict[str, Any]]:
    """For a thread outside any request (the Celery worker's endpoint): the connection this
    thread opened goes back to the pool afterwards."""
    try:
        return run_checks()
    finally:
        connections.close_all()


def readiness_response(ok: bool, body: dict[str, Any]) -> HttpResponse:
    response = JsonResponse(body, status=200 if ok else 503)
    response["Cache-Control"] = "no-store"
    return response


def healthz_response() -> HttpResponse:
    response = JsonResponse({"status": "ok", "pid": os.getpid()})
    response["Cache-Control"] = "no-store"
    return response


def metrics_response(request: HttpRequest) -> HttpResponse:
    if not metrics.allowed(request.META.get("REMOTE_ADDR"), request.headers.get("Authorization")):
        return HttpResponse(
            "metrics: not from this address (METRICS_ALLOWED_IPS) or token\n",
            status=403,
            content_type="text/plain",
        )
    response = HttpResponse(generate_latest(metrics.registry()), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class HealthMiddleware:
    """Answers the three paths before any other middleware; everything else passes through."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        if request.path_info not in PATHS or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        if request.path_info == "/healthz":
            return healthz_response()
        if request.path_info == "/readyz":
            return readiness_response(*run_checks())
        return metrics_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        get_response: Callable[[HttpRequest], Awaitable[HttpResponse]] = self.get_response
        if request.path_info not in PATHS or request.method not in ("GET", "HEAD"):
            return await get_response(request)
        if request.path_info == "/healthz":
            return healthz_response()
        # On the thread the site's sync views run on (under Daphne, Channels' one shared thread):
        # ready then also means that thread serves, and the connection is handled as a view's
        # is (given back to the pool when the request finishes).
        if request.path_info == "/readyz":
            return readiness_response(*await sync_to_async(run_checks)())
        return await sync_to_async(metrics_response)(request)
