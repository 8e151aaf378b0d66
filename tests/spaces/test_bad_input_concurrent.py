"""The double click on Leave, for real: two host leaves at once, against PostgreSQL.

Whichever takes the Space row lock first hands the Space over; the other then finds the old
host gone and answers the idempotent "done" (204 in the API), so there is exactly one handover
and one host, whatever successor each click named.
"""

from __future__ import annotations

from typing import Any

import pytest

from spaces import events, services
from spaces.models import Participant, Space
from spaces_project import bus
from tests.concurrency.test_stage_capacity import run_together
from tests.factories import SpaceFactory, make_cohost

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Role = Participant.Role
ROUNDS = 5


def test_two_host_leaves_at_once_hand_over_exactly_once():
    for _ in range(ROUNDS):
        space = SpaceFactory()
        host = space.host
        first, second = make_cohost(space), make_cohost(space)
        seen: list[dict[str, Any]] = []
        with bus.subscribe(lambda group, event, seen=seen: seen.append(event)):
            results = run_together(
                [
                    lambda s=space.pk, h=host, c=first: services.space_leave(
                        user=h, space_id=s, successor_id=c.pk
                    ),
                    lambda s=space.pk, h=host, c=second: services.space_leave(
                        user=h, space_id=s, successor_id=c.pk
                    ),
                ]
            )
        assert [kind for kind, _ in results] == ["ok", "ok"], results
        space = Space.objects.get(pk=space.pk)
        hosts = list(Participant.objects.filter(space=space, role=Role.HOST))
        assert [row.user_id for row in hosts] == [space.host_id]
        assert space.host_id in (first.pk, second.pk)
        changes = [e for e in seen if e.get("type") == events.HOST_CHANGED]
        assert len(changes) == 1, changes
        assert changes[0]["new_host"]["id"] == space.host_id
        old = Participant.objects.get(space=space, user=host)
        assert old.state == Participant.State.LEFT
