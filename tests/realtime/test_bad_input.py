"""Bad input on the Space socket: replays, `leave` with a bad successor, oversize and unknown
`signal`s, a signal from someone who is not in the Space. Every message gets one clear answer,
the socket keeps working, and the room does not change."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.utils import timezone

from spaces.audio.bridge import participant_media_standing
from spaces.models import Participant, Space
from spaces.realtime import protocol
from spaces_project.errors import Conflict, Forbidden
from tests.factories import SpaceFactory, UserFactory, fresh, join, make_cohost, raise_hand
from tests.realtime.conftest import space_path
from tests.realtime.helpers import db

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

Role = Participant.Role


@pytest.fixture
def handler():
    """A media handler that records what reaches it (nothing should, for bad input)."""
    calls: list[dict[str, Any]] = []

    async def handle(context: protocol.SignalContext, message: dict[str, Any]) -> dict[str, Any]:
        calls.append(message)
        return {}

    protocol.set_signal_handler(handle)
    yield calls
    protocol.set_signal_handler(None)


async def test_a_replayed_approve_is_answered_once_with_an_ack_then_with_a_code(open_socket):
    space = await db(SpaceFactory)()
    hand = await db(UserFactory)()
    await db(join)(space, hand)
    request_id = await db(raise_hand)(space, hand)
    async with open_socket(space.host, space_path(space.pk)) as ws:
        await ws.next()
        first = await ws.act("approve", rid="a1", request_id=request_id)
        replay = await ws.act("approve", rid="a1", request_id=request_id)
        still = await ws.act("heartbeat", rid="h")
    assert first["type"] == "ack"
    assert replay["type"] == "error"
    assert replay["code"] == "request_not_pending"
    assert still["type"] == "ack"
    room = await db(fresh)(space)
    assert room.speaker_count == 1


@pytest.mark.parametrize(
    "value", ["7", 1.5, True, [7], {"id": 7}, -1, 0, 2**53, 2**63, 2**70], ids=repr
)
async def test_a_socket_leave_with_a_bad_successor_is_invalid_and_the_host_stays(
    open_socket, value
):
    space = await db(SpaceFactory)()
    heir = await db(UserFactory)()
    await db(join)(space, heir)
    await db(make_cohost)(space, heir)
    async with open_socket(space.host, space_path(space.pk)) as ws:
        await ws.next()
        reply = await ws.act("leave", rid="l1", successor_id=value)
        still = await ws.act("heartbeat", rid="h")
    assert reply["type"] == "error"
    assert reply["code"] == "invalid"
    assert list(reply["fields"]) == ["successor_id"]
    assert still["type"] == "ack"
    room = await db(fresh)(space)
    assert room.host_id == space.host_id
    row = await db(lambda: Participant.objects.get(space=space, user_id=space.host_id))()
    assert (row.role, row.state) == (Role.HOST, Participant.State.PRESENT)


async def test_a_socket_leave_naming_another_spaces_cohost_is_refused(open_socket):
    space = await db(SpaceFactory)()
    other = await db(SpaceFactory)()
    mine = await db(UserFactory)()
    theirs = await db(UserFactory)()
    await db(join)(space, mine)
    await db(make_cohost)(space, mine)
    await db(join)(other, theirs)
    await db(make_cohost)(other, theirs)
    async with open_socket(space.host, space_path(space.pk)) as ws:
        await ws.next()
        reply = await ws.act("leave", rid="l1", successor_id=theirs.pk)
    assert reply["code"] == "successor_not_cohost"
    assert (await db(fresh)(space)).host_id == space.host_id


async def test_an_oversize_or_unknown_signal_never_reaches_the_media_worker(open_socket, handler):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        long_sdp = await ws.act(
            "signal", rid="s1", kind="offer", sdp="v=0\r\n" + "a" * protocol.MAX_SDP_LENGTH
        )
        # Past the 16 KiB frame limit: refused before it is parsed; the id is not read.
        await ws.send_text(
            json.dumps({"action": "signal", "id": "s2", "kind": "offer", "sdp": "a" * 20_000})
        )
        too_large = await ws.until_type("error")
        unknown = await ws.act("signal", rid="s3", kind="renegotiate", sdp="v=0")
        no_kind = await ws.act("signal", rid="s4", sdp="v=0")
        extra = await ws.act("signal", rid="s5", kind="bye", role="host")
        big_candidate = await ws.act(
            "signal", rid="s6", kind="ice", candidate={"candidate": "x" * 3000}
        )
        sdp_object = await ws.act("signal", rid="s7", kind="offer", sdp={"type": "offer"})
        still = await ws.act("heartbeat", rid="h")
    assert long_sdp["code"] == "invalid"
    assert list(long_sdp["fields"]) == ["sdp"]
    assert too_large["code"] == "too_large"
    assert unknown["code"] == "invalid"
    assert list(unknown["fields"]) == ["kind"]
    assert no_kind["code"] == "invalid"
    assert list(no_kind["fields"]) == ["kind"]
    assert extra["code"] == "invalid"
    assert list(extra["fields"]) == ["role"]
    assert big_candidate["code"] == "invalid"
    assert list(big_candidate["fields"]) == ["candidate"]
    assert sdp_object["code"] == "invalid"
    assert list(sdp_object["fields"]) == ["sdp"]
    assert still["type"] == "ack"
    assert handler == []


async def test_an_offer_from_someone_not_in_the_space_is_refused_by_the_media_check():
    """The media handler asks `participant_media_standing` before it answers any offer: a
    stranger, someone who left, and someone removed all get 403 `not_in_space`."""
    space: Space = await db(SpaceFactory)()
    stranger = await db(UserFactory)()
    gone = await db(UserFactory)()
    await db(join)(space, gone)

    def leave() -> None:
        from spaces import services

        services.space_leave(user=gone, space_id=space.pk)

    await db(leave)()
    for who in (stranger, gone):
        with pytest.raises(Forbidden) as refused:
            await db(participant_media_standing)(user_id=who.pk, space_id=space.pk)
        assert refused.value.code == "not_in_space"


@pytest.mark.parametrize(
    ("state", "code"),
    [
        (Space.State.ENDED, "space_ended"),
        (Space.State.CANCELLED, "space_cancelled"),
        (Space.State.SCHEDULED, "space_not_started"),
    ],
)
async def test_an_offer_to_a_space_that_is_not_live_gets_the_code_every_action_gets(state, code):
    """The media check asks spaces.permissions.check_live, as joining and every action do: a
    cancelled Space is `space_cancelled` to the audio too, not `space_ended`."""
    space: Space = await db(SpaceFactory)()
    member = await db(UserFactory)()
    await db(join)(space, member)
    ended_at = timezone.now() if state == Space.State.ENDED else None
    await db(Space.objects.filter(pk=space.pk).update)(state=state, ended_at=ended_at)
    with pytest.raises(Conflict) as refused:
        await db(participant_media_standing)(user_id=member.pk, space_id=space.pk)
    assert refused.value.code == code


async def test_a_socket_whose_user_left_elsewhere_is_closed_before_it_can_signal(
    open_socket, handler
):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()

        def leave() -> None:
            from spaces import services

            services.space_leave(user=listener, space_id=space.pk)

        await db(leave)()
        closed = await ws.until(lambda m: m["type"] == "closed")
        await ws.send({"action": "signal", "id": "late", "kind": "offer", "sdp": "v=0"})
    assert closed["code"] == protocol.Close.GONE
    assert handler == []


async def test_seat_actions_offer_a_listener_nothing_the_server_would_refuse(open_socket):
    space = await db(SpaceFactory)()
    me = await db(UserFactory)()
    other = await db(UserFactory)()
    await db(join)(space, other)
    async with open_socket(me, space_path(space.pk)) as ws:
        state = await ws.next()
        offered = state["seat_actions"]
        moderation = {"mute", "demote", "remove", "block", "cohost_invite", "invite"}
        assert not moderation & set(offered.get(str(space.host_id), []))
        assert not moderation & set(offered.get(str(other.pk), []))
        # And asking anyway is refused with a code, changing nothing.
        removed = await ws.act("remove", rid="r1", user_id=other.pk)
        muted = await ws.act("mute", rid="m1", user_id=space.host_id)
    assert removed["type"] == "error"
    assert removed["code"] == "not_moderator"
    assert muted["type"] == "error"
    assert muted["code"] in ("not_moderator", "cannot_target_host")
    row = await db(lambda: Participant.objects.get(space=space, user=other))()
    assert row.state == Participant.State.PRESENT
