"""The home feed socket: notifications pushed, bubbles of followed people kept live."""

from __future__ import annotations

import pytest

from accounts import services as accounts_services
from accounts.models import Follow
from spaces import services
from tests.factories import SpaceFactory, UserFactory, join, make_speaker
from tests.realtime.conftest import Socket, communicator
from tests.realtime.helpers import db

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

FEED = "/ws/feed/"


@pytest.fixture(autouse=True)
def _quick(settings):
    settings.SPACES_FEED_DEBOUNCE_MS = 10
    settings.SPACES_HOST_MIN_FOLLOWERS = 0


def bubble_ids(message: dict) -> list[int]:
    return [entry["space"]["id"] for entry in message["spaces"]]


async def test_without_credentials_the_feed_closes_with_4401():
    sock = Socket(communicator(FEED))
    try:
        assert await sock.connect()
        assert (await sock.next())["code"] == "not_authenticated"
        assert await sock.next() == {"type": "closed", "code": 4401}
    finally:
        await sock.close()


async def test_a_new_notification_is_pushed(open_socket):
    me, fan = await db(UserFactory)(), await db(UserFactory)()
    async with open_socket(me, FEED) as ws:
        assert (await ws.next())["type"] == "bubbles"
        await db(accounts_services.follow_create)(follower=fan, followee=me)
        pushed = await ws.until_type("notification.created")
    assert pushed["notification"]["kind"] == "follow"
    assert pushed["notification"]["payload"]["user"] == fan.username


async def test_a_followed_host_going_live_and_ending_updates_the_bubbles(open_socket):
    me, host = await db(UserFactory)(), await db(UserFactory)()
    await db(Follow.objects.create)(follower=me, followee=host)
    async with open_socket(me, FEED) as ws:
        assert bubble_ids(await ws.next()) == []
        space = await db(services.space_start)(host=host, title="Morning show")
        live = await ws.until_type("bubbles")
        await db(services.space_end)(actor=host, space_id=space.pk)
        ended = await ws.until_type("bubbles")
    assert bubble_ids(live) == [space.pk]
    assert live["spaces"][0]["followed_on_stage"][0]["user"]["id"] == host.pk
    assert bubble_ids(ended) == []


async def test_a_followed_speaker_going_on_and_off_stage_updates_the_bubbles(open_socket):
    me, speaker = await db(UserFactory)(), await db(UserFactory)()
    space = await db(SpaceFactory)()
    await db(Follow.objects.create)(follower=me, followee=speaker)
    await db(join)(space, speaker)
    async with open_socket(me, FEED) as ws:
        assert bubble_ids(await ws.next()) == []  # listening is not a bubble
        await db(make_speaker)(space, speaker)
        on_stage = await ws.until_type("bubbles")
        await db(services.participant_step_down)(user=speaker, space_id=space.pk)
        off_stage = await ws.until_type("bubbles")
    assert bubble_ids(on_stage) == [space.pk]
    assert bubble_ids(off_stage) == []


async def test_a_space_ending_reaches_followers_of_its_speakers_not_of_its_host(open_socket):
    me, speaker = await db(UserFactory)(), await db(UserFactory)()
    space = await db(SpaceFactory)()
    await db(Follow.objects.create)(follower=me, followee=speaker)
    await db(join)(space, speaker)
    await db(make_speaker)(space, speaker)
    async with open_socket(me, FEED) as ws:
        assert bubble_ids(await ws.next()) == [space.pk]
        await db(services.space_end)(actor=space.host, space_id=space.pk)
        ended = await ws.until_type("bubbles")
    assert bubble_ids(ended) == []


async def test_bubbles_of_people_i_do_not_follow_do_not_reach_me(open_socket):
    me, stranger, friend = await db(UserFactory)(), await db(UserFactory)(), await db(UserFactory)()
    await db(Follow.objects.create)(follower=me, followee=friend)
    async with open_socket(me, FEED) as ws:
        await ws.next()
        await db(services.space_start)(host=stranger, title="Not for me")
        friends = await db(services.space_start)(host=friend, title="For me")
        update = await ws.until_type("bubbles")
        if not [m for m in ws.seen if m["type"] == "alert.live"]:
            await ws.until_type("alert.live")
    assert bubble_ids(update) == [friends.pk]
    # The friend's go-live alert (alerts/) reaches me too; the stranger's does not.
    alerts = [m["space"]["id"] for m in ws.seen if m["type"] == "alert.live"]
    assert alerts == [friends.pk]
    assert [m["type"] for m in ws.seen if m["type"] != "alert.live"] == ["bubbles", "bubbles"]


async def test_the_feed_answers_its_own_actions_and_garbage(open_socket):
    me = await db(UserFactory)()
    async with open_socket(me, FEED) as ws:
        await ws.next()
        heartbeat = await ws.act("heartbeat", rid=1)
        await ws.send({"action": "bubbles", "id": 2})
        bubbles = await ws.until_type("bubbles")
        ack = await ws.reply(2)
        unknown = await ws.act("raise_hand", rid=3)
    assert heartbeat["type"] == "ack"
    assert bubbles["spaces"] == []
    assert ack["type"] == "ack"
    assert unknown["code"] == "unknown_action"
