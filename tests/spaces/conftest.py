from __future__ import annotations

import pytest

from accounts.models import User
from spaces.models import Space
from tests.factories import SpaceFactory, UserFactory


@pytest.fixture
def space(db: None) -> Space:
    """A live Space hosted by `space_host` (who needs no followers: made by the factory)."""
    return SpaceFactory(host=UserFactory(username="roomhost", display_name="Room Host"))


@pytest.fixture
def space_host(space: Space) -> User:
    return space.host
