"""The pub/sub channel layer through a Redis restart (spaces_project/layers.py), against a
redis-server of the test's own that it kills and starts again."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from spaces_project.layers import SpacesPubSubChannelLayer, on_resubscribed
from tests.servers import PrivateRedis, running_redis

pytestmark = pytest.mark.redis

WAIT = 10.0


async def _restart(redis: PrivateRedis, *, down: float) -> None:
    await asyncio.to_thread(redis.kill)
    await asyncio.sleep(down)
    await asyncio.to_thread(redis.start)


@pytest.mark.parametrize("down", [0.0, 1.5], ids=["quick", "slow"])
def test_the_first_message_after_a_restart_arrives_and_the_loss_is_reported(down):
    async def scenario(redis: PrivateRedis) -> tuple[list[int], int]:
        hosts = [{"address": redis.url}]
        publisher = SpacesPubSubChannelLayer(hosts=hosts)
        subscriber = SpacesPubSubChannelLayer(hosts=hosts)
        resubscribed = asyncio.Event()
        calls = 0

        async def lost() -> None:
            nonlocal calls
            calls += 1
            resubscribed.set()

        channel = await subscriber.new_channel()
        await subscriber.group_add("room", channel)
        unhook = on_resubscribed(subscriber, lost)
        await publisher.group_send("room", {"type": "x", "n": 0})
        got = [(await asyncio.wait_for(subscriber.receive(channel), WAIT))["n"]]
        await _restart(redis, down=down)
        await asyncio.wait_for(resubscribed.wait(), WAIT)
        for n in (1, 2):
            await publisher.group_send("room", {"type": "x", "n": n})
            got.append((await asyncio.wait_for(subscriber.receive(channel), WAIT))["n"])
        unhook()
        await subscriber.flush()
        await publisher.flush()
        return got, calls

    with running_redis() as redis:
        got, calls = asyncio.run(scenario(redis))

    assert got == [0, 1, 2]
    assert calls == 1


def test_a_publish_while_redis_is_away_is_retried_until_it_is_back():
    async def scenario(redis: PrivateRedis) -> None:
        publisher = SpacesPubSubChannelLayer(hosts=[{"address": redis.url}])
        await publisher.group_send("room", {"type": "x", "n": 0})
        # Redis goes away, and comes back while the publish is being retried.
        await asyncio.to_thread(redis.kill)
        sending = asyncio.ensure_future(publisher.group_send("room", {"type": "x", "n": 1}))
        await asyncio.sleep(0.15)
        await asyncio.to_thread(redis.start)
        await asyncio.wait_for(sending, WAIT)  # raises if every attempt failed
        await publisher.flush()

    with running_redis() as redis:
        asyncio.run(scenario(redis))


def test_a_publish_gives_up_when_redis_stays_away():
    async def scenario(redis: PrivateRedis) -> None:
        publisher = SpacesPubSubChannelLayer(hosts=[{"address": redis.url}])
        await publisher.group_send("room", {"type": "x", "n": 0})
        await asyncio.to_thread(redis.kill)
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(publisher.group_send("room", {"type": "x"}), WAIT)
        await publisher.flush()

    with running_redis() as redis:
        asyncio.run(scenario(redis))
