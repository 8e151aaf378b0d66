"""Whoever learns of a handover only from `space.state` (the new host whose own refresh overtook
`host.changed`, anyone who reconnects) still learns why the host changed (issue #16, item 11)."""

from __future__ import annotations

import pytest

from spaces.realtime import presence
from tests.factories import age, past_grace
from tests.realtime.conftest import space_path
from tests.realtime.helpers import db
from tests.realtime.test_handover import make_cast

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_a_promoted_cohost_reads_the_reason_and_previous_host_from_the_snapshot(
    open_socket,
):
    space, first, _second, a, _b = await db(make_cast)()
    host = space.host
    async with open_socket(first, space_path(space.pk)) as ws:
        assert (await ws.next())["last_host_change"] is None  # never changed yet
    await db(age)(space, host, past_grace())
    assert await db(presence.host_sweep)() == 1

    # Her socket was closed through the handover: the snapshot is all she gets.
    for who in (first, a):
        async with open_socket(who, space_path(space.pk)) as ws:
            state = await ws.next()
        assert state["type"] == "space.state"
        assert state["space"]["host"]["id"] == first.pk
        change = state["last_host_change"]
        assert (change["reason"], change["previous_host_id"], change["new_host_id"]) == (
            "timeout",
            host.pk,
            first.pk,
        )
        assert change["at"]
