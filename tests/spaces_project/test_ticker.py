import logging
import threading
from datetime import timedelta
from unittest import mock

import pytest
from celery import shared_task
from celery.schedules import schedule

from spaces_project import ticker

calls: list[str] = []


@shared_task(name="tests.ticker_probe")
def ticker_probe() -> None:
    calls.append("ran")


def test_due_entries_keep_fixed_intervals_and_skip_crontabs():
    from celery.schedules import crontab

    entries = ticker.due_entries(
        {
            "seconds": {"task": "a", "schedule": 5},
            "delta": {"task": "b", "schedule": timedelta(minutes=1)},
            "celery": {"task": "c", "schedule": schedule(timedelta(seconds=30))},
            "cron": {"task": "d", "schedule": crontab(minute="*/5")},
        }
    )
    assert entries == [("seconds", "a", 5.0), ("delta", "b", 60.0), ("celery", "c", 30.0)]


def test_the_loop_runs_each_task_repeatedly_until_stopped():
    calls.clear()
    stop = threading.Event()
    thread = threading.Thread(
        target=ticker._loop, args=([("probe", "tests.ticker_probe", 0.05)], stop), daemon=True
    )
    thread.start()
    # Counting runs, not timing them: wait (bounded) until the task ran three times.
    for _ in range(200):
        if len(calls) >= 3:
            break
        stop.wait(0.05)
    stop.set()
    thread.join(timeout=5)
    assert len(calls) >= 3
    assert not thread.is_alive()


@pytest.mark.django_db
def test_a_failing_task_is_logged_and_does_not_stop_the_ticker():
    calls.clear()
    with mock.patch.object(ticker.logger, "exception") as logged:
        ticker.run_task("tests.no_such_task")
        ticker.run_task("tests.ticker_probe")
    logged.assert_called_once_with("ticker: %s failed", "tests.no_such_task")
    assert calls == ["ran"]


def test_ticker_stays_off_when_a_real_broker_is_configured(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert ticker.start() is None


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def trace_lines(quiet_tasks: set[str], *task_names: str) -> list[str]:
    """What celery.app.trace logs while the ticker runs `task_names`, quieted for
    `quiet_tasks` (its handlers are its own: caplog, on the root logger, would not see it)."""
    trace = logging.getLogger("celery.app.trace")
    quiet, lines, level = ticker.QuietTicks(quiet_tasks), Lines(), trace.level
    trace.addFilter(quiet)
    trace.addHandler(lines)
    trace.setLevel(logging.INFO)
    try:
        for name in task_names:
            ticker.run_task(name)
    finally:
        trace.removeFilter(quiet)
        trace.removeHandler(lines)
        trace.setLevel(level)
    return [r.getMessage() for r in lines.records]


@pytest.mark.django_db
def test_the_ticker_quiets_the_success_line_of_its_own_tasks_only():
    assert trace_lines({"tests.ticker_probe"}, "tests.ticker_probe") == []
    assert any(
        "tests.ticker_probe" in m and "succeeded" in m
        for m in trace_lines(set(), "tests.ticker_probe")
    )


def test_the_quieting_lets_warnings_and_errors_of_the_same_task_through():
    quiet = ticker.QuietTicks({"tests.ticker_probe"})
    for level, passes in ((logging.INFO, False), (logging.WARNING, True), (logging.ERROR, True)):
        record = logging.LogRecord(
            "celery.app.trace", level, __file__, 1, "Task %(name)s", None, None
        )
        record.data = {"name": "tests.ticker_probe"}
        assert quiet.filter(record) is passes
