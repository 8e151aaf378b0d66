"""Every socket action calls the domain service, and its event reaches the other members."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from accounts.models import Block
from accounts.services import block_create
from spaces import services
from spaces.models import Comment, Participant, Space
from tests.factories import (
    SpaceFactory,
    UserFactory,
    fresh,
    invite,
    join,
    make_cohost,
    make_speaker,
    participant,
    raise_hand,
)
from tests.realtime.conftest import space_path
from tests.realtime.helpers import db

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@dataclass
class Case:
    action: str
    actor: str  # "host" or "member"
    events: list[str]
    # Puts the member in place (sync, through services) and returns the action's fields.
    prepare: Callable[[Space, Any], dict[str, Any]] = lambda space, member: {}
    check: Callable[[Space, Any], None] = lambda space, member: None
    ack: dict[str, Any] = field(default_factory=dict)


def _pin(space: Space, member: Any) -> dict[str, Any]:
    pin = services.pin_create(user=space.host, space_id=space.pk, text="Read this")
    return {"pin_id": pin.pk}


def _role(role: str) -> Callable[[Space, Any], None]:
    def check(space: Space, member: Any) -> None:
        assert participant(space, member).role == role

    return check


def _state(state: str) -> Callable[[Space, Any], None]:
    def check(space: Space, member: Any) -> None:
        assert participant(space, member).state == state

    return check


def _blocked(space: Space, member: Any) -> None:
    assert Block.objects.filter(blocker=space.host, blocked=member).exists()
    _state(Participant.State.REMOVED)(space, member)


def _captions_on(space: Space, member: Any) -> None:
    assert fresh(space).captions_enabled


def _voice_kept_out(space: Space, member: Any) -> None:
    assert participant(space, member).voice_recorded is False


def _delayed(space: Space, member: Any) -> None:
    row = participant(space, member)
    assert (row.listen_mode, row.listen_delay) == ("hls", True)


def _assert(condition: bool) -> None:
    assert condition


def _commented(space: Space, member: Any) -> None:
    assert Comment.objects.get(space=space).author_id == member.pk


def _own_comment(space: Space, member: Any) -> dict[str, Any]:
    comment = services.comment_post(user=member, space_id=space.pk, text="to delete")
    return {"comment_id": comment.pk}


def _comment_deleted(space: Space, member: Any) -> None:
    assert Comment.objects.get(space=space).is_deleted


def _unmuted_speaker(space: Space, member: Any) -> dict[str, Any]:
    make_speaker(space, member, unmuted=True)
    return {}


def _muted(space: Space, member: Any) -> None:
    assert participant(space, member).is_muted


def _ended(space: Space, member: Any) -> None:
    assert fresh(space).state == Space.State.ENDED


CASES = [
    Case("raise_hand", "member", ["hand.raised"], ack={"created": True}),
    Case(
        "withdraw_hand",
        "member",
        ["hand.withdrawn"],
        prepare=lambda s, m: raise_hand(s, m) and {},
    ),
    Case(
        "approve",
        "host",
        ["request.approved", "role.changed"],
        prepare=lambda s, m: {"request_id": raise_hand(s, m)},
        check=_role("speaker"),
    ),
    Case("deny", "host", ["request.denied"], prepare=lambda s, m: {"request_id": raise_hand(s, m)}),
    Case("invite", "host", ["speaker.invited"], prepare=lambda s, m: {"user_id": m.pk}),
    Case(
        "accept_invitation",
        "member",
        ["role.changed"],
        prepare=lambda s, m: {"invitation_id": invite(s, m)},
        check=_role("speaker"),
    ),
    Case(
        "decline_invitation",
        "member",
        ["invitation.declined"],
        prepare=lambda s, m: {"invitation_id": invite(s, m)},
    ),
    Case(
        "demote",
        "host",
        ["role.changed"],
        prepare=lambda s, m: make_speaker(s, m) and {"user_id": m.pk},
        check=_role("listener"),
    ),
    Case(
        "mute",
        "host",
        ["participant.muted"],
        prepare=lambda s, m: make_speaker(s, m, unmuted=True) and {"user_id": m.pk},
    ),
    Case(
        "mute_self",
        "member",
        ["participant.muted"],
        prepare=lambda s, m: make_speaker(s, m, unmuted=True) and {},
    ),
    Case(
        "unmute_self",
        "member",
        ["participant.unmuted"],
        prepare=lambda s, m: make_speaker(s, m) and {},
        ack={"is_muted": False},
    ),
    Case(
        "step_down",
        "member",
        ["role.changed"],
        prepare=lambda s, m: make_speaker(s, m) and {},
        check=_role("listener"),
    ),
    Case(
        "remove",
        "host",
        ["participant.removed"],
        prepare=lambda s, m: {"user_id": m.pk},
        check=_state(Participant.State.REMOVED),
    ),
    Case(
        "block",
        "host",
        ["participant.removed"],
        prepare=lambda s, m: {"user_id": m.pk},
        check=_blocked,
    ),
    Case("cohost_invite", "host", ["cohost.invited"], prepare=lambda s, m: {"user_id": m.pk}),
    Case(
        "cohost_revoke",
        "host",
        ["cohost.removed", "role.changed"],
        prepare=lambda s, m: make_cohost(s, m) and {"user_id": m.pk},
        check=_role("speaker"),
    ),
    Case("react", "member", ["reactions"], prepare=lambda s, m: {"emoji": "👏"}),
    Case("pin", "host", ["pin.added"], prepare=lambda s, m: {"text": "Welcome", "url": ""}),
    Case("unpin", "host", ["pin.removed"], prepare=_pin),
    Case(
        "captions",
        "host",
        ["captions.toggled"],
        prepare=lambda s, m: {"enabled": True},
        check=_captions_on,
    ),
    Case(
        "recording.consent",
        "member",
        ["recording.consent_changed"],
        prepare=lambda s, m: make_speaker(s, m) and {"recorded": False},
        check=_voice_kept_out,
    ),
    Case(
        "listen_mode",
        "member",
        ["listen_mode.changed"],
        prepare=lambda s, m: {"mode": "hls"},
        check=_delayed,
    ),
    Case(
        "comment",
        "member",
        ["comment.added"],
        prepare=lambda s, m: {"text": "hello @everyone"},
        check=_commented,
    ),
    Case(
        "comment_delete",
        "member",
        ["comment.deleted"],
        prepare=_own_comment,
        check=_comment_deleted,
    ),
    Case(
        "comments",
        "host",
        ["comments.changed"],
        prepare=lambda s, m: {"enabled": False, "slow_mode_seconds": 30},
        check=lambda s, m: _assert(
            (fresh(s).comments_enabled, fresh(s).comment_slow_mode_seconds) == (False, 30)
        ),
        ack={"comments_enabled": False, "slow_mode_seconds": 30},
    ),
    Case(
        "speaking_policy",
        "host",
        ["speaking_policy.changed"],
        prepare=lambda s, m: {"speaking_policy": "invited_only"},
        check=lambda s, m: _assert(fresh(s).speaking_policy == "invited_only"),
    ),
    Case(
        "stage_lock",
        "host",
        ["stage.lock_changed"],
        prepare=lambda s, m: {"locked": True},
        check=lambda s, m: _assert(fresh(s).stage_locked),
        ack={"locked": True},
    ),
    Case(
        "mute_all",
        "host",
        ["participant.muted"],
        prepare=_unmuted_speaker,
        check=_muted,
    ),
    Case(
        "leave",
        "member",
        ["participant.left"],
        check=_state(Participant.State.LEFT),
    ),
    Case(
        "end",
        "host",
        ["space.ended"],
        check=_ended,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.action for c in CASES])
async def test_each_action_reaches_another_member(open_socket, case: Case):
    space = await db(SpaceFactory)()
    member, observer = await db(UserFactory)(), await db(UserFactory)()
    await db(join)(space, member)
    await db(join)(space, observer)
    fields = await db(case.prepare)(space, member)
    actor = space.host if case.actor == "host" else member

    async with (
        open_socket(observer, space_path(space.pk)) as watching,
        open_socket(actor, space_path(space.pk)) as acting,
    ):
        before = (await watching.next())["seq"]
        await acting.next()
        reply = await acting.act(case.action, rid=7, **fields)
        assert reply["type"] == "ack", reply
        assert reply["id"] == 7
        assert reply["action"] == case.action
        for key, value in case.ack.items():
            assert reply[key] == value
        seen = [await watching.until_type(kind) for kind in case.events]

    seqs = [event["seq"] for event in seen]
    assert all(seq > before for seq in seqs)
    assert seqs == sorted(seqs)
    assert all(event["space_id"] == space.pk for event in seen)
    # Nothing the observer got before the expected events jumped the sequence.
    numbered = [m["seq"] for m in watching.seen[1:] if "seq" in m]
    assert numbered == sorted(numbered)
    await db(case.check)(space, member)


async def test_the_event_a_member_gets_is_in_seq_order_with_no_gaps(open_socket):
    space = await db(SpaceFactory)()
    observer = await db(UserFactory)()
    async with (
        open_socket(observer, space_path(space.pk)) as watching,
        open_socket(space.host, space_path(space.pk)) as host,
    ):
        start = (await watching.next())["seq"]
        await host.next()
        for enabled in (True, False, True):
            assert (await host.act("captions", enabled=enabled))["type"] == "ack"
        await host.act("pin", text="hello")
        events = [await watching.until_type(t) for t in ["captions.toggled"] * 3 + ["pin.added"]]
    assert [e["seq"] for e in events] == [start + 1, start + 2, start + 3, start + 4]


async def test_heartbeat_is_acknowledged_and_moves_last_seen(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        before = (await db(participant)(space, listener)).last_seen_at
        reply = await ws.act("heartbeat", rid="hb")
    assert reply == {"type": "ack", "id": "hb", "action": "heartbeat"}
    assert (await db(participant)(space, listener)).last_seen_at >= before


async def test_a_forbidden_action_gets_the_services_error_code(open_socket):
    space = await db(SpaceFactory)()
    listener, other = await db(UserFactory)(), await db(UserFactory)()
    await db(join)(space, other)
    request_id = await db(raise_hand)(space, other)
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        denied = await ws.act("approve", rid="a1", request_id=request_id)
        ended = await ws.act("end", rid="e1")
        still_there = await ws.act("heartbeat", rid="h1")
    assert denied["type"] == "error"
    assert denied["code"] == "not_moderator"
    assert denied["id"] == "a1"
    assert ended["code"] == "host_only"
    assert still_there["type"] == "ack"
    assert (await db(participant)(space, other)).role == Participant.Role.LISTENER


async def test_the_role_a_client_claims_is_ignored(open_socket):
    space = await db(SpaceFactory)()
    listener, other = await db(UserFactory)(), await db(UserFactory)()
    await db(join)(space, other)
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        reply = await ws.act("remove", user_id=other.pk, role="host")
        reply2 = await ws.act("remove", user_id=other.pk)
    assert reply["code"] == "invalid"
    assert reply["fields"] == {"role": ["Unknown field."]}
    assert reply2["code"] == "not_moderator"
    assert (await db(participant)(space, other)).state == Participant.State.PRESENT


async def test_a_state_conflict_is_reported_with_its_code(open_socket):
    space = await db(SpaceFactory)()
    speaker = await db(UserFactory)()
    await db(join)(space, speaker)
    await db(make_speaker)(space, speaker)
    async with open_socket(speaker, space_path(space.pk)) as ws:
        await ws.next()
        reply = await ws.act("raise_hand")
    assert reply["type"] == "error"
    assert reply["code"] == "already_speaker"


async def test_recording_consent_acks_with_the_participant_and_refuses_a_listener(open_socket):
    space = await db(SpaceFactory)()
    speaker, listener = await db(UserFactory)(), await db(UserFactory)()
    await db(join)(space, speaker)
    await db(make_speaker)(space, speaker)
    await db(join)(space, listener)
    async with (
        open_socket(speaker, space_path(space.pk)) as on_stage,
        open_socket(listener, space_path(space.pk)) as audience,
    ):
        await on_stage.next()
        await audience.next()
        out = await on_stage.act("recording.consent", rid="c1", recorded=False)
        changed = await audience.until_type("recording.consent_changed")
        refused = await audience.act("recording.consent", rid="c2", recorded=False)
        not_bool = await on_stage.act("recording.consent", rid="c3", recorded="no")
    assert out["type"] == "ack"
    assert (out["participant"]["user"]["id"], out["participant"]["voice_recorded"]) == (
        speaker.pk,
        False,
    )
    assert changed["participant"]["voice_recorded"] is False
    assert (refused["type"], refused["code"], refused["id"]) == ("error", "not_on_stage", "c2")
    assert (not_bool["code"], not_bool["fields"]) == ("invalid", {"recorded": ["true or false."]})
    assert (await db(participant)(space, listener)).voice_recorded is True


async def test_a_blocked_authors_comment_reaches_the_blocker_as_a_stub_in_sequence(open_socket):
    """Per socket, the hub hands the blocker a `hidden` stub instead of the comment: the `seq`
    numbering stays whole (no gap, no resync) and nothing of the comment is sent."""
    space = await db(SpaceFactory)()
    blocker, loud, other = [await db(UserFactory)() for _ in range(3)]
    for user in (blocker, loud, other):
        await db(join)(space, user)
    await db(block_create)(blocker=blocker, blocked=loud)
    async with (
        open_socket(blocker, space_path(space.pk)) as mine,
        open_socket(other, space_path(space.pk)) as theirs,
        open_socket(loud, space_path(space.pk)) as author,
    ):
        state = await mine.next()
        await theirs.next()
        await author.next()
        await author.act("comment", rid="c1", text="can you hear me")
        await author.act("comment", rid="c2", text="second")
        hidden = [await mine.until_type("comment.added") for _ in range(2)]
        shown = [await theirs.until_type("comment.added") for _ in range(2)]
    assert [h["comment"] for h in hidden] == [
        {"id": s["comment"]["id"], "hidden": True} for s in shown
    ]
    assert [s["comment"]["text"] for s in shown] == ["can you hear me", "second"]
    seqs = [m["seq"] for m in mine.seen[1:] if "seq" in m]
    assert seqs == list(range(state["seq"] + 1, state["seq"] + 1 + len(seqs)))
