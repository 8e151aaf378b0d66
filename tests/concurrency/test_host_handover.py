"""The host handover under concurrency, against real PostgreSQL (prove the race, then the lock).

The race the issue names: the host's socket comes back (a rejoin) exactly as the grace expires
and the sweep hands the Space over. Whichever transaction wins the Space row lock, the other
re-checks under it, so the Space ends with exactly one host, and it is the returning host.
Threads have their own connections and start together on a barrier (tests/concurrency).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from spaces import access, events, services
from spaces.models import Participant, Space
from spaces.services import handover
from spaces_project import bus
from tests.concurrency.test_stage_capacity import run_together
from tests.factories import SpaceFactory, make_cohost

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Role = Participant.Role
ROUNDS = 5


def host_gone_past_grace(space: Space) -> None:
    seconds = (
        django_settings.SPACES_HOST_GRACE_SECONDS
        + django_settings.SPACES_PRESENCE_TOUCH_SECONDS
        + 5
    )
    Participant.objects.filter(space=space, user_id=space.host_id).update(
        last_seen_at=timezone.now() - timedelta(seconds=seconds)
    )


def hosts(space: Space) -> list[tuple[int, str]]:
    return list(
        Participant.objects.filter(space=space, role=Role.HOST).values_list("user_id", "state")
    )


def test_a_host_rejoining_as_the_grace_expires_ends_with_exactly_one_host():
    for _ in range(ROUNDS):
        space = SpaceFactory()
        host = space.host
        interim = make_cohost(space)
        host_gone_past_grace(space)

        results = run_together(
            [
                lambda s=space.pk: services.host_timeout_handover(space_id=s),
                lambda s=space.pk, h=host: services.space_join(user=h, space_id=s),
            ]
        )

        assert [kind for kind, _ in results] == ["ok", "ok"], results
        space.refresh_from_db()
        assert hosts(space) == [(host.pk, Participant.State.PRESENT)]
        assert space.host_id == host.pk
        assert Space.objects.filter(host=host, state=Space.State.LIVE).count() == 1
        # Sweep first: handed over, then taken back; join first: nothing to do. Never both.
        interim_row = Participant.objects.get(space=space, user=interim)
        assert interim_row.role == Role.COHOST
        assert space.cohost_count == 1


def test_two_sweeps_at_once_hand_over_once():
    space = SpaceFactory()
    first = make_cohost(space)
    make_cohost(space)
    host_gone_past_grace(space)
    seen: list[dict[str, Any]] = []

    with bus.subscribe(lambda group, event: seen.append(event)):
        results = run_together(
            [lambda: services.host_timeout_handover(space_id=space.pk) for _ in range(4)]
        )

    assert Counter(detail for _, detail in results) == {"handed_over": 1, None: 3}, results
    space.refresh_from_db()
    assert hosts(space) == [(first.pk, Participant.State.PRESENT)]
    assert [e["type"] for e in seen].count(events.HOST_CHANGED) == 1


def test_control_without_the_lock_a_rejoining_host_is_swept_out_while_connected(monkeypatch):
    """The same race with the Space row lock switched off and a pause where the sweep has
    decided the host is gone. The rejoin lands in the pause, refreshes the host's heartbeat
    and returns "you are the host"; the sweep then hands the Space over anyway, so a host
    who just reconnected is marked gone. With the lock, the rejoin waits and takes it back."""
    check = handover._successor_ids

    def decided_then_paused(*args: Any, **kwargs: Any) -> list[int]:
        found = check(*args, **kwargs)
        time.sleep(0.5)
        return found

    def run(space: Space) -> list[tuple[str, Any]]:
        def rejoin_during_the_pause() -> Participant:
            time.sleep(0.1)
            return services.space_join(user=space.host, space_id=space.pk)

        return run_together(
            [lambda: services.host_timeout_handover(space_id=space.pk), rejoin_during_the_pause]
        )

    monkeypatch.setattr(handover, "_successor_ids", decided_then_paused)

    locked = SpaceFactory()
    make_cohost(locked)
    host_gone_past_grace(locked)
    results = run(locked)
    assert results[1][0] == "ok"
    locked.refresh_from_db()
    assert hosts(locked) == [(locked.host_id, Participant.State.PRESENT)]

    unlocked = SpaceFactory()
    host = unlocked.host
    interim = make_cohost(unlocked)
    host_gone_past_grace(unlocked)
    monkeypatch.setattr(access, "lock_rows", lambda qs: qs)
    results = run(unlocked)

    assert results[0] == ("ok", "handed_over"), results
    joined = results[1]
    assert joined[0] == "ok", results
    assert joined[1].role == Role.HOST  # what the rejoining host was told
    unlocked.refresh_from_db()
    assert unlocked.host_id == interim.pk
    assert Participant.objects.get(space=unlocked, user=host).state == Participant.State.LEFT
