"""Whatever a client sends, it gets an answer with a code: never a crash, never silence."""

from __future__ import annotations

import json

import pytest

from spaces.models import Invitation
from spaces.realtime import protocol
from spaces.realtime.protocol import ProtocolError, TokenBucket
from spaces_project.errors import ValidationFailed
from tests.factories import SpaceFactory, UserFactory, invite, join
from tests.realtime.conftest import space_path
from tests.realtime.helpers import db

# --- parse(), without a socket --------------------------------------------------------------------


def parse(text: str) -> protocol.Incoming:
    return protocol.parse(text, None, protocol.SCHEMAS)


def refusal(text: str | None, raw: bytes | None = None) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        protocol.parse(text, raw, protocol.SCHEMAS)
    return caught.value


def test_a_valid_action_is_parsed_with_its_fields():
    incoming = parse('{"action": "approve", "id": "r1", "request_id": 5}')
    assert incoming == protocol.Incoming("approve", "r1", {"request_id": 5})


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", "malformed"),
        ("[1, 2]", "malformed"),
        ('"just a string"', "malformed"),
        ('{"id": 1}', "malformed"),
        ('{"action": 3}', "malformed"),
        ('{"action": "fly"}', "unknown_action"),
        ('{"action": "approve"}', "invalid"),
        ('{"action": "approve", "request_id": "5"}', "invalid"),
        ('{"action": "approve", "request_id": true}', "invalid"),
        ('{"action": "approve", "request_id": -1}', "invalid"),
        ('{"action": "approve", "request_id": 1e3}', "invalid"),
        ('{"action": "captions", "enabled": 1}', "invalid"),
        ('{"action": "heartbeat", "extra": 1}', "invalid"),
        ('{"action": "signal", "kind": "shout"}', "invalid"),
        ('{"action": "react", "emoji": "' + "x" * 33 + '"}', "invalid"),
        ('{"action": "heartbeat", "id": {"nested": 1}}', "invalid"),
    ],
)
def test_what_does_not_fit_the_schema_is_refused_with_a_code(text, code):
    assert refusal(text).code == code


def test_the_request_id_is_echoed_even_when_the_rest_is_wrong():
    assert refusal('{"action": "fly", "id": "x9"}').request_id == "x9"
    assert refusal('{"action": "approve", "id": 12}').request_id == 12


def test_a_deeply_nested_message_is_malformed_not_a_crash():
    assert refusal("[" * 100_000 + "]" * 100_000).code in ("too_large", "malformed")
    assert refusal("[" * 5000 + "]" * 5000).code == "malformed"


def test_binary_frames_and_oversized_text_are_refused():
    assert refusal(None, b"\x00\x01").code == "malformed"
    assert refusal(None, b"x" * (protocol.MAX_MESSAGE_BYTES + 1)).code == "too_large"
    big = json.dumps({"action": "pin", "text": "é" * (protocol.MAX_MESSAGE_BYTES // 2 + 1)})
    assert refusal(big).code == "too_large"


def test_every_action_has_a_schema_and_a_handler():
    assert set(protocol.ACTIONS) | {"snapshot", "signal"} == set(protocol.SCHEMAS)


def test_a_token_bucket_allows_a_burst_then_its_rate():
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    now[0] += 0.5
    assert bucket.take() == 0.0
    assert bucket.take() > 0


def test_service_errors_keep_their_code_fields_and_retry_time():
    error = protocol.error_from(
        ValidationFailed("Bad.", fields={"text": ["Too long."]}), request_id="p1"
    )
    assert error == {
        "type": "error",
        "id": "p1",
        "code": "invalid",
        "message": "Bad.",
        "fields": {"text": ["Too long."]},
    }


# --- over a socket ----------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_garbage_gets_error_events_and_the_socket_keeps_working(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        await ws.send_text("{oops")
        malformed = await ws.until_type("error")
        await ws.comm.send_to(bytes_data=b"\x00binary")
        binary = await ws.until_type("error")
        await ws.send_text(json.dumps({"action": "pin", "text": "x" * 20_000, "id": "big"}))
        too_large = await ws.until_type("error")
        unknown = await ws.act("teleport", rid="u1")
        missing = await ws.act("approve", rid="m1")
        fine = await ws.act("heartbeat", rid="ok")
    assert malformed["code"] == "malformed"
    assert binary["code"] == "malformed"
    assert too_large["code"] == "too_large"
    assert unknown == {
        "type": "error",
        "id": "u1",
        "code": "unknown_action",
        "message": "Unknown action 'teleport'.",
    }
    assert missing["code"] == "invalid"
    assert missing["fields"] == {"request_id": ["Required."]}
    assert fine["type"] == "ack"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_past_the_rate_limit_messages_get_rate_limited(open_socket, settings):
    settings.SPACES_WS_BURST = 3
    settings.SPACES_WS_RATE = 0.01
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        replies = [await ws.act("heartbeat", rid=n) for n in range(5)]
    assert [r["type"] for r in replies] == ["ack", "ack", "ack", "error", "error"]
    assert replies[3]["code"] == "rate_limited"
    assert replies[3]["id"] == 3
    assert replies[3]["retry_after"] > 0


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_client_that_keeps_flooding_is_closed_with_4429(open_socket, settings):
    settings.SPACES_WS_BURST = 1
    settings.SPACES_WS_RATE = 0.001
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        for n in range(60):
            await ws.send({"action": "heartbeat", "id": n})
        closed = await ws.until_type("closed")
    assert closed["code"] == 4429
    codes = {m.get("code") for m in ws.seen if m["type"] == "error"}
    assert codes == {"rate_limited"}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_host_can_take_back_an_invitation(open_socket):
    space = await db(SpaceFactory)()
    invitee = await db(UserFactory)()
    await db(join)(space, invitee)
    invitation_id = await db(invite)(space, invitee)
    async with open_socket(space.host, space_path(space.pk)) as ws:
        await ws.next()
        reply = await ws.act("cancel_invitation", invitation_id=invitation_id)
    assert reply["type"] == "ack"
    state = await db(lambda: Invitation.objects.get(pk=invitation_id).state)()
    assert state == Invitation.State.CANCELLED
