"""Celery beat's stand-in for the embedded shape: runs the periodic sweeps in-process.

With no broker (`make run`), tasks run eagerly and nothing else would fire the periodic ones
(presence sweep, reminders, host handover). This ticker runs every `CELERY_BEAT_SCHEDULE` entry
whose schedule is a number of seconds, on one daemon thread. Every sweep re-checks state in the
database when it runs, so a late or doubled tick is harmless, exactly as with beat.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

_started = threading.Event()


def _interval(schedule: Any) -> float | None:
    if isinstance(schedule, (int, float)):
        return float(schedule)
    if isinstance(schedule, timedelta):
        return schedule.total_seconds()
    run_every = getattr(schedule, "run_every", None)  # celery.schedules.schedule
    if isinstance(run_every, timedelta):
        return run_every.total_seconds()
    return None


def due_entries(schedule: dict[str, dict[str, Any]]) -> list[tuple[str, str, float]]:
    entries = []
    for name, entry in schedule.items():
        interval = _interval(entry.get("schedule"))
        if interval is None or interval <= 0:
            logger.warning("ticker: %s has no fixed interval; it runs only under celery beat", name)
            continue
        entries.append((name, entry["task"], interval))
    return entries


class QuietTicks(logging.Filter):
    """Drops Celery's INFO "Task ... succeeded" line for the ticker's own tasks: one every few
    seconds would drown the log of `make run`. Their failures are ERROR records and pass, as
    does every line of every other task."""

    def __init__(self, task_names: set[str]) -> None:
        super().__init__()
        self.task_names = frozenset(task_names)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        data = getattr(record, "data", None)  # celery.app.trace passes its context as `data`
        return not (isinstance(data, dict) and data.get("name") in self.task_names)


def run_task(task_name: str) -> None:
    from spaces_project.celery import app

    app.loader.import_default_modules()
    try:
        app.tasks[task_name].apply(throw=True)
    except Exception:
        logger.exception("ticker: %s failed", task_name)
    finally:
        close_old_connections()


def _loop(entries: list[tuple[str, str, float]], stop: threading.Event) -> None:
    next_run = {name: time.monotonic() + interval for name, _, interval in entries}
    while not stop.is_set():
        now = time.monotonic()
        for name, task_name, interval in entries:
            if now >= next_run[name]:
                next_run[name] = now + interval
                run_task(task_name)
        wait = min(next_run.values(), default=now + 1.0) - time.monotonic()
        stop.wait(max(0.05, wait))


def start(stop: threading.Event | None = None) -> threading.Thread | None:
    """Start the ticker once per process, only when there is no real Celery broker."""
    if not settings.SPACES_TICKER or not settings.CELERY_TASK_ALWAYS_EAGER or _started.is_set():
        return None
    entries = due_entries(settings.CELERY_BEAT_SCHEDULE)
    if not entries:
        return None
    _started.set()
    logging.getLogger("celery.app.trace").addFilter(QuietTicks({task for _, task, _ in entries}))
    thread = threading.Thread(
        target=_loop, args=(entries, stop or threading.Event()), name="spaces-ticker", daemon=True
    )
    thread.start()
    logger.info("ticker: running %d periodic task(s) in-process", len(entries))
    return thread
