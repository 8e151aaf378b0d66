"""The stage under concurrency, against real PostgreSQL (pretix-style: prove the race, then the
lock that stops it).

Twenty threads each approve a different raised hand when one stage slot is free. Each thread has
its own database connection and transaction; a barrier releases them together.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, connection

from spaces import access, services
from spaces.models import Participant, Space, SpeakerRequest
from spaces.services import stage
from spaces_project.errors import Conflict
from tests.factories import SpaceFactory, UserFactory, join, make_speaker

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 20


def run_together(calls: list[Callable[[], Any]]) -> list[tuple[str, Any]]:
    """Run each call in its own thread, all released at once; (kind, detail) per call."""
    # Every thread needs its own connection at the same moment: hand ours back to the pool.
    connection.close()
    barrier = threading.Barrier(len(calls), timeout=30)
    results: list[tuple[str, Any]] = [("missing", None)] * len(calls)

    def work(index: int, call: Callable[[], Any]) -> None:
        try:
            connection.ensure_connection()
            barrier.wait()
            results[index] = ("ok", call())
        except Conflict as exc:
            results[index] = ("conflict", exc.code)
        except IntegrityError as exc:
            results[index] = ("integrity", str(exc).splitlines()[0])
        except Exception as exc:  # reported by the assertions on the results
            results[index] = ("error", repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results


def one_slot_left_and_twenty_hands() -> tuple[Space, list[SpeakerRequest]]:
    space = SpaceFactory(max_speakers=10)
    for _ in range(9):
        make_speaker(space)
    requests = []
    for _ in range(THREADS):
        who = join(space)
        request, _ = services.speaker_request_create(user=who, space_id=space.pk)
        requests.append(request)
    return space, requests


def approvals(space: Space, requests: list[SpeakerRequest]) -> list[Callable[[], Any]]:
    return [
        lambda r=r: services.speaker_request_approve(
            actor=space.host, space_id=space.pk, request_id=r.pk
        )
        for r in requests
    ]


def watch_the_check(monkeypatch: pytest.MonkeyPatch, pause: float) -> list[int]:
    """Record every approval that found a free slot, and hold it there for `pause` seconds
    before it writes: the window in which a race would happen."""
    passed: list[int] = []
    check = stage._ensure_stage_room

    def checked_then_paused(space: Space) -> None:
        check(space)
        passed.append(threading.get_ident())
        time.sleep(pause)

    monkeypatch.setattr(stage, "_ensure_stage_room", checked_then_paused)
    return passed


def test_twenty_concurrent_approvals_for_the_last_slot_give_exactly_one_speaker(monkeypatch):
    space, requests = one_slot_left_and_twenty_hands()
    passed = watch_the_check(monkeypatch, pause=0.05)

    results = run_together(approvals(space, requests))

    assert Counter(kind for kind, _ in results) == {"ok": 1, "conflict": THREADS - 1}, results
    assert {detail for kind, detail in results if kind == "conflict"} == {"stage_full"}
    assert len(passed) == 1
    space.refresh_from_db()
    assert space.speaker_count == 10
    assert Participant.objects.filter(space=space, role="speaker").count() == 10
    assert SpeakerRequest.objects.filter(space=space, state="approved").count() == 10
    assert SpeakerRequest.objects.filter(space=space, state="pending").count() == THREADS - 1


def test_control_without_the_lock_the_check_lets_several_through_and_only_the_constraint_holds(
    monkeypatch,
):
    """The same approvals with the Space row lock switched off. Every approval reads the old
    count and passes the check: the race is real. What still keeps the stage at ten is the
    CheckConstraint on the counter, which turns the extra approvals into IntegrityErrors (500s)
    instead of clean 409s."""
    space, requests = one_slot_left_and_twenty_hands()
    monkeypatch.setattr(access, "lock_rows", lambda qs: qs)
    passed = watch_the_check(monkeypatch, pause=0.3)

    results = run_together(approvals(space, requests))

    kinds = Counter(kind for kind, _ in results)
    assert len(passed) > 1, results
    assert kinds["integrity"] >= 1, results
    assert "space_stage_capacity" in next(d for k, d in results if k == "integrity")
    assert kinds["ok"] == 1
    assert kinds["error"] == 0, results
    space.refresh_from_db()
    assert space.speaker_count == 10
    assert Participant.objects.filter(space=space, role="speaker").count() == 10


def test_twenty_concurrent_starts_by_one_host_give_one_live_space(settings):
    settings.SPACES_HOST_MIN_FOLLOWERS = 0
    host = UserFactory()

    results = run_together(
        [lambda i=i: services.space_start(host=host, title=f"Try {i}") for i in range(THREADS)]
    )

    assert Counter(kind for kind, _ in results) == {"ok": 1, "conflict": THREADS - 1}, results
    assert {d for k, d in results if k == "conflict"} == {"already_live"}
    assert Space.objects.filter(host=host, state="live").count() == 1


def test_concurrent_joins_keep_the_counters_exact():
    space = SpaceFactory()
    people = [UserFactory() for _ in range(THREADS)]

    results = run_together(
        [lambda u=u: services.space_join(user=u, space_id=space.pk) for u in people]
    )

    assert Counter(kind for kind, _ in results) == {"ok": THREADS}, results
    space.refresh_from_db()
    assert (space.listener_count, space.peak_listener_count) == (THREADS, THREADS)
    assert space.total_joined_count == THREADS + 1


def test_joins_racing_the_end_leave_nobody_present_in_an_ended_space():
    space = SpaceFactory()
    people = [UserFactory() for _ in range(THREADS - 1)]
    calls: list[Callable[[], Any]] = [
        lambda u=u: services.space_join(user=u, space_id=space.pk) for u in people
    ]
    calls.insert(THREADS // 2, lambda: services.space_end(actor=space.host, space_id=space.pk))

    results = run_together(calls)

    assert {k for k, _ in results} <= {"ok", "conflict"}, results
    space.refresh_from_db()
    assert space.state == "ended"
    assert space.listener_count == 0
    assert not Participant.objects.filter(space=space, state="present").exists()


def test_concurrent_pins_never_exceed_three():
    space = SpaceFactory()
    stage = [make_speaker(space) for _ in range(8)]

    results = run_together(
        [lambda u=u: services.pin_create(user=u, space_id=space.pk, text="mine") for u in stage]
    )

    assert Counter(kind for kind, _ in results) == {"ok": 3, "conflict": 5}, results
    space.refresh_from_db()
    assert space.pin_count == 3
