"""channels-redis's pub/sub layer, made to live through a Redis restart.

Measured against channels-redis 4.3 and redis-py 8 (tests/spaces_project/test_layers.py): after a
restart the first PUBLISH of each process fails on its dead pooled connection ("Connection closed
by server") and the event is gone; and when the subscriber's reconnect ran while Redis was still
down, the process stayed subscribed in Redis's eyes yet never read another message. Here:

- a publish that fails on the connection is retried on a fresh one, a few times over about a
  second, so the first event after a restart reaches everyone;
- the receiver owns its connection: any error drops it, and the receiver reconnects with backoff
  and subscribes again to every channel this process holds, on a connection that nobody else has
  touched;
- after such a gap, callbacks registered with `on_resubscribed` run on the layer's loop: whatever
  was published while we were away is lost (pub/sub keeps nothing), so the hub tells its sockets
  to read a fresh snapshot (spaces/realtime/hub.py).

The API is the stock layer's, so `CHANNEL_LAYERS` only names this class.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer
from channels_redis.utils import _close_redis, _wrap_close, create_pool, decode_hosts
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

Resubscribed = Callable[[], Coroutine[Any, Any, None]]
CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
PUBLISH_ATTEMPTS = 4
PUBLISH_BACKOFF = 0.1  # seconds, doubled per attempt: 0.1 + 0.2 + 0.4
RECONNECT_BACKOFF = (0.05, 2.0)  # first and longest pause between attempts
POLL_SECONDS = 1.0


class _Shard:
    """One Redis host: a client for PUBLISH, and a receiver with a connection of its own."""

    def __init__(self, host: dict[str, Any], layer: _LoopLayer) -> None:
        self.host = host
        self.layer = layer
        self.subscribed: set[str] = set()
        self._lock = asyncio.Lock()
        self._publisher: aioredis.Redis | None = None
        self._receiver_client: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._receive_task: asyncio.Task[None] | None = None
        self._lost = False
        self._callbacks: set[asyncio.Task[None]] = set()

    def _client(self) -> aioredis.Redis:
        # redis-py's own silent reconnects are off: a lost connection must be seen here, since
        # what was published meanwhile is gone and the sockets must be told (module docstring).
        host = {**self.host, "retry": Retry(NoBackoff(), 0)}
        return aioredis.Redis(connection_pool=create_pool(host))

    # -- publishing ---------------------------------------------------------------------------

    async def publish(self, channel: str, message: bytes) -> None:
        pause = PUBLISH_BACKOFF
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            if self._publisher is None:
                self._publisher = self._client()
            client = self._publisher
            try:
                await client.publish(channel, message)
                return
            except CONNECTION_ERRORS:
                if self._publisher is client:
                    self._publisher = None
                    await _close_quietly(client)
                if attempt == PUBLISH_ATTEMPTS:
                    raise
                logger.info("redis publish failed (attempt %d); retrying", attempt)
                await asyncio.sleep(pause)
                pause *= 2

    # -- subscribing --------------------------------------------------------------------------

    async def subscribe(self, channel: str) -> None:
        async with self._lock:
            if channel in self.subscribed:
                return
            self.subscribed.add(channel)
            self._ensure_receiver()
            if self._pubsub is None:
                # Subscribed before returning, as the stock layer: a group_send right after
                # group_add must reach us.
                try:
                    await self._connect_locked()
                except BaseException:
                    self.subscribed.discard(channel)
                    raise
                return
            try:
                await self._pubsub.subscribe(channel)
            except CONNECTION_ERRORS:
                # The receiver notices the broken connection and subscribes again to all.
                logger.info("redis subscribe failed; the receiver will reconnect")

    async def unsubscribe(self, channel: str) -> None:
        async with self._lock:
            if channel not in self.subscribed:
                return
            self.subscribed.discard(channel)
            if self._pubsub is not None:
                try:
                    await self._pubsub.unsubscribe(channel)
                except CONNECTION_ERRORS:
                    logger.info("redis unsubscribe failed; the receiver will reconnect")

    def _ensure_receiver(self) -> None:
        if self._receive_task is None or self._receive_task.done():
            self._receive_task = asyncio.ensure_future(self._receive())

    async def _connect(self) -> None:
        async with self._lock:
            if self._pubsub is None:
                await self._connect_locked()

    async def _connect_locked(self) -> None:
        """A fresh connection subscribed to every channel we hold; after a lost one, the
        `on_resubscribed` callbacks run."""
        client = self._client()
        pubsub = client.pubsub()
        try:
            if self.subscribed:
                await pubsub.subscribe(*self.subscribed)
            else:
                await pubsub.connect()
        except BaseException:
            await _close_quietly(client, pubsub)
            raise
        self._receiver_client, self._pubsub = client, pubsub
        if self._lost:
            self._lost = False
            logger.warning("redis pub/sub: subscribed again after a lost connection")
            task = asyncio.ensure_future(self.layer.resubscribed())
            self._callbacks.add(task)
            task.add_done_callback(self._callbacks.discard)

    async def _drop(self) -> None:
        client, pubsub = self._receiver_client, self._pubsub
        self._receiver_client = self._pubsub = None
        if client is not None:
            await _close_quietly(client, pubsub)

    async def _receive(self) -> None:
        pause = RECONNECT_BACKOFF[0]
        while True:
            if self._pubsub is None:
                try:
                    await self._connect()
                except CONNECTION_ERRORS:
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, RECONNECT_BACKOFF[1])
                    continue
                pause = RECONNECT_BACKOFF[0]
            try:
                if not self.subscribed:
                    await asyncio.sleep(POLL_SECONDS / 10)
                    continue
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=POLL_SECONDS
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("redis pub/sub: connection lost; reconnecting", exc_info=True)
                async with self._lock:
                    self._lost = True
                    await self._drop()
                continue
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        name, data = message["channel"], message["data"]
        if isinstance(name, bytes):
            name = name.decode()
        channels = self.layer.channels
        if name in channels:
            channels[name].put_nowait(data)
        elif name in self.layer.groups:
            for channel_name in self.layer.groups[name]:
                if channel_name in channels:
                    channels[channel_name].put_nowait(data)

    async def flush(self) -> None:
        task, self._receive_task = self._receive_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._lock:
            await self._drop()
            self.subscribed = set()
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            await _close_redis(publisher)


async def _close_quietly(client: aioredis.Redis, pubsub: Any = None) -> None:
    try:
        if pubsub is not None:
            await pubsub.aclose()
        await _close_redis(client)
    except Exception:  # closing a connection that is already dead
        logger.debug("closing a dead redis connection", exc_info=True)


class _LoopLayer(RedisPubSubLoopLayer):
    def __init__(self, hosts: Any = None, **kwargs: Any) -> None:
        super().__init__(hosts=hosts, **kwargs)
        self._shards = [_Shard(host, self) for host in decode_hosts(hosts)]
        self._resubscribed: list[Resubscribed] = []

    def on_resubscribed(self, callback: Resubscribed) -> Callable[[], None]:
        """Run `callback` after this loop's subscriptions were restored following a lost
        connection. Returns a function that unregisters it."""
        self._resubscribed.append(callback)
        return lambda: self._resubscribed.remove(callback)

    async def resubscribed(self) -> None:
        for callback in list(self._resubscribed):
            try:
                await callback()
            except Exception:
                logger.exception("a resubscribed callback failed")


class SpacesPubSubChannelLayer(RedisPubSubChannelLayer):
    """`RedisPubSubChannelLayer` with the shards above (module docstring)."""

    def _get_layer(self) -> _LoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer


def on_resubscribed(layer: Any, callback: Resubscribed) -> Callable[[], None]:
    """Register `callback` with `layer` if it can tell (this module's layer), for the running
    loop. Returns the function that unregisters it (a no-op for other layers)."""
    if not isinstance(layer, SpacesPubSubChannelLayer):
        return lambda: None
    return layer._get_layer().on_resubscribed(callback)
