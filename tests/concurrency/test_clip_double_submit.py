"""Two clicks on "Make clip" whose requests run at the same moment, against real PostgreSQL:
one clip, one file, and both clicks answered with it. Then the control: without the author's
row lock each click finds no clip committed yet and cuts its own."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from replays import services
from replays import timeline as replays_timeline
from replays.models import Clip
from spaces.models import Space
from spaces_project import storage
from tests.concurrency.test_stage_capacity import run_together
from tests.factories import SpaceFactory, UserFactory, make_replay

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CLICKS = 4


@pytest.fixture(autouse=True)
def _fresh_pool() -> None:
    close_pool = getattr(connection, "close_pool", None)
    if close_pool is not None:
        close_pool()


@pytest.fixture
def ended() -> Space:
    now = timezone.now().replace(microsecond=0)
    space = SpaceFactory(
        state=Space.State.ENDED, started_at=now - timedelta(minutes=5), ended_at=now
    )
    make_replay(space, seconds=6.0)
    return space


def hold_each_cut(monkeypatch: pytest.MonkeyPatch, pause: float) -> list[int]:
    """Count every request that cut a clip, and hold it (transaction open) for `pause` s."""
    cuts: list[int] = []
    cut = replays_timeline.cut

    def cut_then_pause(*args: Any, **kwargs: Any) -> bytes:
        data = cut(*args, **kwargs)
        cuts.append(1)
        time.sleep(pause)
        return data

    monkeypatch.setattr(replays_timeline, "cut", cut_then_pause)
    return cuts


def clip_files(space: Space) -> list[str]:
    return [n for n, _ in storage.walk(storage.recordings(), f"spaces/{space.pk}/clips")]


def test_concurrent_identical_clips_make_one_clip_and_all_get_it(ended, monkeypatch):
    author = UserFactory()
    cuts = hold_each_cut(monkeypatch, pause=0.3)

    results = run_together(
        [
            lambda: (
                services.clip_create(
                    actor=author, space_id=ended.pk, start_ms=1000, end_ms=4000
                ).slug
            )
            for _ in range(CLICKS)
        ]
    )

    assert Counter(kind for kind, _ in results) == {"ok": CLICKS}, results
    assert len({slug for _, slug in results}) == 1
    assert len(cuts) == 1
    assert Clip.objects.filter(space=ended).count() == 1
    assert len(clip_files(ended)) == 1


def test_control_without_the_authors_lock_concurrent_clips_are_cut_several_times(
    ended, monkeypatch
):
    author = UserFactory()
    monkeypatch.setattr(services, "lock_rows", lambda qs: qs)
    cuts = hold_each_cut(monkeypatch, pause=0.3)

    results = run_together(
        [
            lambda: (
                services.clip_create(
                    actor=author, space_id=ended.pk, start_ms=1000, end_ms=4000
                ).slug
            )
            for _ in range(CLICKS)
        ]
    )

    assert Counter(kind for kind, _ in results)["ok"] == CLICKS, results
    assert len(cuts) > 1
    assert Clip.objects.filter(space=ended).count() == len(cuts)
