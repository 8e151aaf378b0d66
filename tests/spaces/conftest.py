from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from accounts.models import User
from spaces.models import Space
from tests.factories import UserFactory
from tests.spaces.factories import SpaceFactory


@pytest.fixture
def space(db: None) -> Space:
    """A live Space hosted by `space_host` (who needs no followers: made by the factory)."""
    return SpaceFactory(host=UserFactory(username="roomhost", display_name="Room Host"))


@pytest.fixture
def space_host(space: Space) -> User:
    return space.host


@pytest.fixture
def committed(
    django_capture_on_commit_callbacks: Any, published: list[tuple[str, dict[str, Any]]]
) -> Callable[[], Any]:
    """`with committed():` runs the on-commit hooks of what happens inside, as a real commit
    would, so `published` sees the events. A rolled-back block's hooks never run."""

    @contextmanager
    def run() -> Iterator[None]:
        with django_capture_on_commit_callbacks(execute=True):
            yield

    return run
