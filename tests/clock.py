"""Time travel without sleeping: `django.utils.timezone.now` answers a clock the test moves.

Every service, selector and `auto_now_add` field reads the time through `timezone.now()` at
call time, so patching the module attribute moves all of them (and nothing else: the real
time, DRF throttles and the database's own clock are untouched)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from unittest import mock

from django.utils import timezone


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def travel(self, to: datetime) -> datetime:
        self.now = to
        return to

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@contextmanager
def frozen(start: datetime | None = None) -> Iterator[Clock]:
    clock = Clock(start or timezone.now().replace(second=0, microsecond=0))
    with mock.patch.object(timezone, "now", clock):
        yield clock
