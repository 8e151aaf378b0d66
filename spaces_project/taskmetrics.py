"""Celery's tasks on /metrics, and the Celery worker's own `/metrics`, `/healthz`, `/readyz`.

Tasks are counted by Celery's signals in whichever process runs them: a prefork pool child, a
thread of a `--pool threads` worker, or the caller itself in the embedded shape (eager tasks,
which then show on the web process's /metrics).

A Celery worker serves its endpoint from its main process, on `CELERY_METRICS_PORT`, from a
thread started when the worker is ready (`worker_ready`). Prefork children are other processes:
their counters reach the main process only through prometheus_client's multiprocess mode, so a
prefork worker runs with `PROMETHEUS_MULTIPROC_DIR` set to an empty directory of its own (wiped
before each start: docs/operations.md); the endpoint then serves what every child wrote there,
and a child that exits is marked dead (its gauges dropped, its counters kept). Without it (a
`--pool threads` or `solo` worker, one process) the default registry is served. A per-child HTTP
port was the other way: one scrape target per child, renumbered whenever a child is replaced.

The deployment's gauges (live Spaces, listeners, backlogs) come with it (spaces_project/metrics.py).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from celery import signals
from django.conf import settings
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from spaces_project import health, metrics

logger = logging.getLogger(__name__)

TASKS = Counter(
    "spaces_celery_tasks",
    "Celery tasks that finished, by task name and outcome (success, failure, retry).",
    ["task", "outcome"],
)
TASK_SECONDS = Histogram(
    "spaces_celery_task_seconds",
    "Run time of a Celery task (prerun to postrun), by task name.",
    ["task"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)

_started: dict[str, float] = {}
_started_lock = threading.Lock()


def _name(sender: Any, task: Any = None) -> str:
    found = getattr(task or sender, "name", None) or getattr(sender, "name", None)
    return str(found or "unknown")


@signals.task_prerun.connect
def _task_prerun(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        with _started_lock:
            _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _task_postrun(
    sender: Any = None, task_id: str | None = None, task: Any = None, **kwargs: Any
) -> None:
    with _started_lock:
        started = _started.pop(task_id or "", None)
    if started is not None:
        TASK_SECONDS.labels(_name(sender, task)).observe(time.perf_counter() - started)
    state = str(kwargs.get("state") or "")
    outcome = {"SUCCESS": "success", "FAILURE": "failure", "RETRY": "retry"}.get(state)
    if outcome:
        TASKS.labels(_name(sender, task), outcome).inc()


# -- the worker's endpoint -----------------------------------------------------------------------


def served_registry() -> Any:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return metrics.registry()
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return metrics.registry(registry)


class _Handler(BaseHTTPRequestHandler):
    server_version = "spaces-celery"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if path == "/healthz":
                alive = {"status": "ok", "pid": os.getpid()}
                self._send(200, "application/json", json.dumps(alive).encode())
            elif path == "/readyz":
                ok, checks = health.run_checks_on_own_thread()
                self._send(200 if ok else 503, "application/json", json.dumps(checks).encode())
            elif path == "/metrics":
                try:
                    data = generate_latest(served_registry())
                finally:
                    from django.db import connections

                    connections.close_all()
                self._send(200, CONTENT_TYPE_LATEST, data)
            else:
                self._send(404, "text/plain", b"/metrics, /healthz or /readyz\n")
        except Exception:
            logger.exception("celery metrics endpoint failed on %s", path)
            self._send(500, "text/plain", b"error\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("celery metrics: " + format, *args)


def serve(host: str, port: int) -> ThreadingHTTPServer:
    """The endpoint on a daemon thread; returns the server (``server_address`` has the port)."""
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="celery-metrics", daemon=True)
    thread.start()
    return server


_server: ThreadingHTTPServer | None = None


@signals.worker_ready.connect
def _worker_ready(**kwargs: Any) -> None:
    global _server
    port = int(getattr(settings, "CELERY_METRICS_PORT", 0) or 0)
    if not port or _server is not None:
        return
    host = str(getattr(settings, "CELERY_METRICS_BIND", "127.0.0.1"))
    _server = serve(host, port)
    mode = "multiprocess" if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else "this process"
    logger.info("celery metrics on http://%s:%d/metrics (%s)", host, port, mode)


@signals.worker_process_shutdown.connect
def _child_gone(pid: int | None = None, **kwargs: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
