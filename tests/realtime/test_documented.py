"""What docs/realtime.md promises app developers and the server does: the reaction codes, the
mute of a new speaker, the answers to `leave` and `end`, a message over the size limit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spaces import services
from spaces.models import Reaction
from spaces.realtime import protocol
from tests.factories import SpaceFactory, UserFactory, join, raise_hand
from tests.realtime.conftest import space_path
from tests.realtime.helpers import db

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

REALTIME_DOC = Path(__file__).resolve().parents[2] / "docs" / "realtime.md"


def documented_reactions() -> list[tuple[str, str, str]]:
    """(code, emoji, code points) rows of the doc's "Reaction codes" table."""
    lines = REALTIME_DOC.read_text().splitlines()
    start = lines.index("| Code | Emoji | Code points |") + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        code, emoji, points = (cell.strip() for cell in line.strip("|").split("|"))
        rows.append((code.strip("`"), emoji, points))
    return rows


async def test_the_documented_reaction_codes_are_the_servers_and_each_emoji_is_taken(
    open_socket, settings
):
    settings.SPACES_REACTION_RATE = "100/s"
    rows = documented_reactions()
    assert [(code, emoji) for code, emoji, _ in rows] == Reaction.choices
    for _, emoji, points in rows:
        assert points == " ".join(f"U+{ord(c):04X}" for c in emoji)

    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        acks = [await ws.act("react", emoji=emoji) for _, emoji, _ in rows]
        bare_heart = await ws.act("react", emoji="\u2764")
        hand_with_selector = await ws.act("react", emoji="\u270b\ufe0f")
    assert [a.get("code") for a in acks] == Reaction.values
    assert bare_heart["code"] == "heart"
    assert (hand_with_selector["type"], hand_with_selector["code"]) == ("error", "invalid")


async def role_change(ws, role: str) -> dict:
    """The `role.changed` to `role` (it often comes before the ack `act` waits for)."""
    for message in ws.seen:
        if message["type"] == "role.changed" and message["participant"]["role"] == role:
            return message
    return await ws.until(
        lambda m: m["type"] == "role.changed" and m["participant"]["role"] == role
    )


async def test_everyone_comes_on_stage_muted_and_stage_moves_keep_the_mute(open_socket):
    space = await db(SpaceFactory)()
    ana = await db(UserFactory)()
    await db(join)(space, ana)
    request_id = await db(raise_hand)(space, ana)
    async with open_socket(space.host, space_path(space.pk)) as host:
        state = await host.next()
        assert (state["me"]["is_muted"], state["me"]["muted_by_host"]) == (True, False)

        await host.act("approve", request_id=request_id)
        approved = await role_change(host, "speaker")
        assert approved["participant"]["is_muted"] is True
        assert approved["participant"]["muted_by_host"] is False

        await db(services.participant_unmute)(actor=ana, space_id=space.pk, user_id=ana.pk)
        invited = await host.act("cohost_invite", user_id=ana.pk)
        await db(services.invitation_accept)(
            user=ana, space_id=space.pk, invitation_id=invited["invitation_id"]
        )
        cohost = await role_change(host, "cohost")
        assert cohost["participant"]["is_muted"] is False

        await host.act("cohost_revoke", user_id=ana.pk)
        await host.act("demote", user_id=ana.pk)
        demoted = await role_change(host, "listener")
        assert demoted["participant"]["is_muted"] is True


async def test_leave_is_acked_then_closed_1000_with_no_error(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        await ws.send({"action": "leave", "id": "bye"})
        await ws.until_type("closed")
    after_state = ws.seen[1:]
    assert after_state[-2:] == [
        {"type": "ack", "id": "bye", "action": "leave"},
        {"type": "closed", "code": 1000},
    ]
    assert [m for m in after_state if m["type"] == "error"] == []


async def test_end_is_acked_then_the_error_space_ended_then_close_4409(open_socket):
    space = await db(SpaceFactory)()
    async with open_socket(space.host, space_path(space.pk)) as host:
        await host.next()
        await host.send({"action": "end", "id": "fin"})
        await host.until_type("closed")
    after_state = host.seen[1:]
    assert {"type": "ack", "id": "fin", "action": "end"} in after_state
    assert "space.ended" in [m["type"] for m in after_state[:-2]]
    error, closed = after_state[-2:]
    assert (error["type"], error["code"], error["id"]) == ("error", "space_ended", None)
    assert closed == {"type": "closed", "code": 4409}


async def test_a_message_over_16_kib_gets_too_large_without_its_id_and_the_socket_stays_open(
    open_socket,
):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        big = {"action": "heartbeat", "id": "big", "pad": "x" * protocol.MAX_MESSAGE_BYTES}
        await ws.send_text(json.dumps(big))
        refused = await ws.until_type("error")
        still = await ws.act("heartbeat", rid="after")
    assert (refused["code"], refused["id"]) == ("too_large", None)
    assert still == {"type": "ack", "id": "after", "action": "heartbeat"}
