"""The sweep as a Celery task in both shapes: on the beat schedule (and so on the embedded
ticker), and queued right after a change that tells holders "at once"."""

from __future__ import annotations

import pytest
from django.conf import settings

from accounts.models import Notification
from scheduling import services, tasks
from spaces_project import ticker
from spaces_project.celery import app
from tests.scheduling.helpers import holders, kinds_for

pytestmark = pytest.mark.django_db


def test_the_sweep_is_on_the_beat_schedule_and_so_on_the_embedded_ticker():
    entries = ticker.due_entries(settings.CELERY_BEAT_SCHEDULE)
    assert (
        "scheduling-sweep",
        "scheduling.tasks.scheduling_sweep",
        float(settings.SPACES_SCHEDULING_SWEEP_SECONDS),
    ) in entries
    app.loader.import_default_modules()
    assert app.tasks["scheduling.tasks.scheduling_sweep"].name == tasks.scheduling_sweep.name


def test_the_ticker_runs_the_sweep_task(schedule, clock, host, monkeypatch):
    # The ticker hands its connection back after each task; inside this test's transaction
    # that would close the connection the test still uses.
    monkeypatch.setattr(ticker, "close_old_connections", lambda: None)
    space = schedule(minutes=60)
    [alice] = holders(space, 1)
    services.scheduled_space_start(actor=host, space_id=space.pk)

    ticker.run_task("scheduling.tasks.scheduling_sweep")

    assert kinds_for(alice) == [Notification.Kind.SPACE_LIVE]


def test_in_the_embedded_shape_starting_tells_holders_before_the_request_returns(
    schedule, host, committed, monkeypatch
):
    """With no broker, tasks run eagerly: the sweep queued after commit runs at once."""
    monkeypatch.undo()  # the real `_kick_sweep`, not the recorder of the autouse fixture
    space = schedule(minutes=60)
    people = holders(space, 3)

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        with committed():
            services.scheduled_space_start(actor=host, space_id=space.pk)
    finally:
        app.conf.task_always_eager = eager

    for person in people:
        assert kinds_for(person) == [Notification.Kind.SPACE_LIVE]


def test_a_broker_that_is_away_does_not_fail_the_action(schedule, host, committed, monkeypatch):
    monkeypatch.undo()

    def unreachable(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.scheduling_sweep, "apply_async", unreachable)
    space = schedule(minutes=60)
    [alice] = holders(space, 1)

    with committed():
        services.scheduled_space_start(actor=host, space_id=space.pk)

    assert kinds_for(alice) == []  # the periodic sweep will send it
    services.deliveries_send_due()
    assert kinds_for(alice) == [Notification.Kind.SPACE_LIVE]
