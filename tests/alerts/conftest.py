"""Fixtures for go-live alerts: the tasks run in the test's process (as in the embedded shape,
also when a broker is configured), and Web Push is recorded at its edge instead of sent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction

from accounts.models import User
from alerts import services
from spaces import services as spaces_services
from spaces.models import Space
from spaces_project.celery import app as celery_app


@pytest.fixture(autouse=True)
def eager_tasks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Queued tasks run at once in this process, unless the module starts real workers
    (`REAL_WORKERS = True`: test_celery_e2e.py)."""
    if getattr(request.module, "REAL_WORKERS", False):
        yield
        return
    before = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before


@dataclass
class FakePushResult:
    sent: int = 0
    dropped: int = 0
    failed: int = 0


@dataclass
class Pushes:
    calls: list[dict[str, Any]] = field(default_factory=list)

    def users(self) -> list[int]:
        return [uid for call in self.calls for uid in call["user_ids"]]


@pytest.fixture(autouse=True)
def pushes(monkeypatch: pytest.MonkeyPatch) -> Pushes:
    """Web Push at the edge of the world (webpush/ sends for real; tested there)."""
    seen = Pushes()

    def record(
        *, user_ids: Any, payload: dict[str, Any], ttl: int = 3600, topic: str = ""
    ) -> FakePushResult:
        seen.calls.append(
            {"user_ids": list(user_ids), "payload": payload, "ttl": ttl, "topic": topic}
        )
        return FakePushResult(sent=len(user_ids))

    monkeypatch.setattr(services, "push_send_to_users", record)
    return seen


@pytest.fixture
def go_live(
    committed: Callable[[], AbstractContextManager[Any]],
) -> Callable[..., Space]:
    """Start a Space now as its host would, with everything after commit run as a real commit
    would run it (the alert, its fan-out tasks, their sends)."""

    def start(host: User, title: str = "Morning show") -> Space:
        with committed():
            return spaces_services.space_start(host=host, title=title)

    return start


@pytest.fixture
def end() -> Callable[[Space], None]:
    def stop(space: Space) -> None:
        with transaction.atomic():
            spaces_services.space_end(actor=space.host, space_id=space.pk)

    return stop
