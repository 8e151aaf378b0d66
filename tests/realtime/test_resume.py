"""Snapshot and resume: what a client misses while away is in the next `space.state`; events
only leave after commit; sockets of other Spaces hear nothing."""

from __future__ import annotations

import pytest
from django.db import transaction

from spaces import services
from spaces.models import Participant
from spaces_project import bus
from tests.factories import SpaceFactory, UserFactory, join, make_speaker, participant
from tests.realtime.conftest import space_path
from tests.realtime.helpers import db

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_reconnecting_after_a_gap_gives_a_snapshot_with_what_was_missed(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        first = await ws.next()
    # Closing the socket did not leave the Space.
    assert (await db(participant)(space, listener)).state == Participant.State.PRESENT

    await db(services.captions_toggle)(actor=space.host, space_id=space.pk, enabled=True)
    await db(services.pin_create)(user=space.host, space_id=space.pk, text="While you were away")

    async with open_socket(listener, space_path(space.pk)) as ws:
        again = await ws.next()
        await db(services.captions_toggle)(actor=space.host, space_id=space.pk, enabled=False)
        after = await ws.until_type("captions.toggled")

    assert again["type"] == "space.state"
    assert again["seq"] >= first["seq"] + 2
    assert again["space"]["captions_enabled"] is True
    assert [p["text"] for p in again["pins"]] == ["While you were away"]
    assert again["space"]["listener_count"] == first["space"]["listener_count"]
    assert after["seq"] == again["seq"] + 1


async def test_a_client_that_asks_gets_a_fresh_snapshot_then_an_ack(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        first = await ws.next()
        await db(services.captions_toggle)(actor=space.host, space_id=space.pk, enabled=True)
        await ws.until_type("captions.toggled")
        await ws.send({"action": "snapshot", "id": "s1"})
        state = await ws.until_type("space.state")
        ack = await ws.reply("s1")
    assert state["id"] == "s1"
    assert state["seq"] == first["seq"] + 1
    assert state["space"]["captions_enabled"] is True
    assert ack == {"type": "ack", "id": "s1", "action": "snapshot", "seq": state["seq"]}


async def test_the_snapshot_seq_is_read_before_the_database(open_socket, monkeypatch):
    """An event committed while the snapshot is being read is either in the snapshot (seq at
    or below it) or arrives after it: never lost, never before the snapshot."""
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    from spaces import selectors

    real_detail = selectors.space_detail

    def detail_with_a_commit_in_between(**kwargs):
        # Runs after current_seq() was read: this event is numbered above the snapshot.
        services.captions_toggle(actor=space.host, space_id=space.pk, enabled=True)
        return real_detail(**kwargs)

    monkeypatch.setattr(selectors, "space_detail", detail_with_a_commit_in_between)
    async with open_socket(listener, space_path(space.pk)) as ws:
        state = await ws.next()
        event = await ws.next()
    assert state["type"] == "space.state"
    assert event["type"] == "captions.toggled"
    assert event["seq"] == state["seq"] + 1


async def test_a_rolled_back_action_sends_nothing_and_takes_no_seq(open_socket, published):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()

    def toggle_then_fail() -> None:
        with transaction.atomic():
            services.captions_toggle(actor=space.host, space_id=space.pk, enabled=True)
            raise RuntimeError("something after the toggle failed")

    async with open_socket(listener, space_path(space.pk)) as ws:
        start = (await ws.next())["seq"]
        with pytest.raises(RuntimeError):
            await db(toggle_then_fail)()
        await db(services.pin_create)(user=space.host, space_id=space.pk, text="after")
        next_event = await ws.next()
    assert next_event["type"] == "pin.added"
    assert next_event["seq"] == start + 1
    assert "captions.toggled" not in [event["type"] for _, event in published]


async def test_sockets_of_other_spaces_and_outsiders_hear_nothing(open_socket):
    space_a, space_b = await db(SpaceFactory)(), await db(SpaceFactory)()
    outsider = await db(UserFactory)()
    async with open_socket(outsider, space_path(space_b.pk)) as ws:
        await ws.next()
        await db(services.captions_toggle)(actor=space_a.host, space_id=space_a.pk, enabled=True)
        await db(services.pin_create)(user=space_a.host, space_id=space_a.pk, text="A only")
        # A barrier: B's event reaches B's sockets after anything sent earlier would have.
        await db(services.captions_toggle)(actor=space_b.host, space_id=space_b.pk, enabled=True)
        barrier = await ws.next()
    assert barrier["type"] == "captions.toggled"
    assert barrier["space_id"] == space_b.pk
    assert [m["type"] for m in ws.seen] == ["space.state", "captions.toggled"]


async def test_my_own_role_change_is_followed_by_my_fresh_state(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    await db(join)(space, listener)
    async with open_socket(listener, space_path(space.pk)) as ws:
        first = await ws.next()
        assert first["can"]["unmute_self"] is False
        await db(make_speaker)(space, listener)
        # The role.changed event itself may be folded into that state if the state was read
        # after it (its seq is then not above the state's): either way nothing is lost.
        refreshed = await ws.until(
            lambda m: m["type"] == "space.state" and m["me"]["role"] == "speaker"
        )
    assert refreshed["can"]["unmute_self"] is True
    assert refreshed["stage"][-1]["user"]["id"] == listener.pk
    assert "id" not in refreshed
    numbered = [m["seq"] for m in ws.seen if m["type"] != "space.state"]
    assert all(seq > first["seq"] for seq in numbered)


async def test_a_removed_member_gets_the_event_then_4403(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        await db(services.participant_remove)(
            actor=space.host, space_id=space.pk, user_id=listener.pk
        )
        removed = await ws.until_type("participant.removed")
        error = await ws.next()
        closed = await ws.next()
    assert removed["user"]["id"] == listener.pk
    assert error["code"] == "removed"
    assert closed == {"type": "closed", "code": 4403}


async def test_when_the_space_ends_everyone_gets_the_event_then_4409(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with (
        open_socket(listener, space_path(space.pk)) as ws,
        open_socket(space.host, space_path(space.pk)) as host,
    ):
        await ws.next()
        await host.next()
        reply = await host.act("end", rid="bye")
        host_closed = await host.until_type("closed")
        ended = await ws.until_type("space.ended")
        closed = await ws.until_type("closed")
    assert reply["type"] == "ack"
    assert host_closed["code"] == 4409
    assert ended["counts"]["listeners"] == 0
    assert closed["code"] == 4409


async def test_leave_is_acknowledged_then_the_socket_closes_normally(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        reply = await ws.act("leave", rid="l")
        closed = await ws.until_type("closed")
    assert reply["type"] == "ack"
    assert closed["code"] == 1000
    assert (await db(participant)(space, listener)).state == Participant.State.LEFT


async def test_leaving_from_another_device_closes_this_socket_with_4410(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        await db(services.space_leave)(user=listener, space_id=space.pk)
        left = await ws.until_type("participant.left")
        error = await ws.next()
        closed = await ws.next()
    assert left["user"]["id"] == listener.pk
    assert error["code"] == "not_in_space"
    assert closed["code"] == 4410


async def test_seq_never_goes_backwards_when_the_counter_is_lost(settings):
    """A Redis restart or an eviction loses the counter: numbering resumes above the old one."""
    from django.core.cache import cache

    first = await db(bus.next_seq)(424242)
    await db(cache.delete)(bus._seq_key(424242))
    second = await db(bus.next_seq)(424242)
    assert second > first
    assert await db(bus.current_seq)(424242) == second
