"""Fixtures for scheduling: the sweep as the beat would run it, and a record of the "sweep now"
requests services queue after commit (never sent to a real broker here). The frozen `clock` is
the root conftest's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from accounts.models import User
from scheduling import services
from scheduling.services import schedule as scheduling_schedule
from spaces.models import Space
from tests.clock import Clock


@pytest.fixture(autouse=True)
def kicks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Services queue a sweep after commit; here that is recorded instead of reaching Redis."""
    seen: list[str] = []
    monkeypatch.setattr(scheduling_schedule, "_kick_sweep", lambda: seen.append("sweep"))
    return seen


@pytest.fixture
def sweep(django_capture_on_commit_callbacks: Any) -> Callable[[], dict[str, int]]:
    """One run of the periodic task's work, with its after-commit e-mails sent as a real
    commit would send them."""

    def run() -> dict[str, int]:
        with django_capture_on_commit_callbacks(execute=True):
            return services.scheduling_sweep()

    return run


@pytest.fixture
def schedule(host: User, clock: Clock) -> Callable[..., Space]:
    """Schedule a Space for the `host` fixture, `minutes` from the clock's now."""

    def make(minutes: float = 60, title: str = "Morning show", **kwargs: Any) -> Space:
        return services.scheduled_space_create(
            host=host,
            title=title,
            scheduled_for=clock.now + timedelta(minutes=minutes),
            **kwargs,
        )

    return make
