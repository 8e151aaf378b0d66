"""The Space socket follows the same entry rule: without a ticket it closes with 4403."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from scheduling import services as scheduling_services
from spaces.models import Participant, Space
from tests.factories import UserFactory, make_followers
from tests.realtime.conftest import (  # noqa: F401 (fixtures)
    _close_database_pools_last,
    open_socket,
    space_path,
)
from tests.realtime.helpers import db
from tests.ticketing.conftest import buy
from ticketing import services

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _drop_pool_after() -> Iterator[None]:
    """The socket's database work runs on asgiref's threads, which keep their pooled
    connections checked out; a fresh pool afterwards leaves later tests (the concurrency
    ones need 20 connections at once) the whole pool."""
    yield
    close_pool = getattr(connection, "close_pool", None)
    if close_pool is not None:
        close_pool()


def live_ticketed_space() -> Space:
    host = UserFactory()
    make_followers(host, 5)
    space = services.ticketed_space_create(
        host=host,
        title="Paid talk",
        scheduled_for=timezone.now() + timedelta(hours=1),
        price=500,
        capacity=5,
    )
    return space


def start(space: Space) -> None:
    scheduling_services.scheduled_space_start(actor=space.host, space_id=space.pk)


async def test_the_socket_closes_with_4403_without_a_ticket(open_socket):  # noqa: F811
    space = await db(live_ticketed_space)()
    await db(start)(space)
    stranger = await db(UserFactory)()

    async with open_socket(stranger, space_path(space.pk)) as ws:
        error = await ws.next()
        closed = await ws.next()

    assert error["type"] == "error"
    assert error["code"] == "ticket_required"
    assert closed == {"type": "closed", "code": 4403}
    assert not await db(Participant.objects.filter(space=space, user=stranger).exists)()


async def test_the_socket_admits_a_ticket_holder(open_socket):  # noqa: F811
    space = await db(live_ticketed_space)()
    holder = await db(UserFactory)()
    await db(buy)(space, holder)
    await db(start)(space)

    async with open_socket(holder, space_path(space.pk)) as ws:
        state = await ws.next()

    assert state["type"] == "space.state"
    assert state["me"]["role"] == "listener"
