"""Replays made the way the media worker makes them (tests.factories.make_replay: a tone encoded
with Opus, stored by the worker's own recorder into the test's temporary recordings storage)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from replays import services as replays_services
from spaces.models import Recording, Space
from spaces_project import storage
from tests.factories import SpaceFactory, UserFactory, make_replay

REPLAY_SECONDS = 10.0


@pytest.fixture(autouse=True)
def _empty_recordings() -> None:
    """The recordings folder lives for the whole session, and a rolled-back test gives its
    Space ids out again (SQLite): a new Space must not find an earlier test's parts."""
    storage.delete_tree(storage.recordings(), "spaces")


@pytest.fixture(autouse=True)
def audio_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Finalizing a published replay queues its podcast audio after commit; here the Space ids
    are recorded instead of reaching a broker (Redis in the distributed run). A test that wants
    the real queueing calls `monkeypatch.undo()`."""
    queued: list[int] = []
    monkeypatch.setattr(replays_services, "_queue_audio_build", queued.append)
    return queued


@pytest.fixture
def listener(db: None) -> User:
    return UserFactory(username="lis", display_name="Lis")


@pytest.fixture
def ended(host: User) -> Space:
    """An ended Space whose 10 s recording is a ready replay. It starts on a whole second: the
    playlist keeps wall times to the millisecond, so positions computed from it are exact."""
    now = timezone.now().replace(microsecond=0)
    space = SpaceFactory(
        host=host,
        state=Space.State.ENDED,
        started_at=now - timedelta(minutes=5),
        ended_at=now,
    )
    recording = make_replay(space, seconds=REPLAY_SECONDS)
    assert recording.status == Recording.Status.READY
    return space


@pytest.fixture
def live(host: User) -> Space:
    """A live Space being recorded: 6 s stored so far, its row still `recording`."""
    now = timezone.now().replace(microsecond=0)
    space = SpaceFactory(host=host, started_at=now - timedelta(seconds=30))
    make_replay(space, seconds=6.0)
    return space


def stored_files(space: Space) -> list[str]:
    return sorted(name for name, _ in storage.walk(storage.recordings(), f"spaces/{space.pk}"))
