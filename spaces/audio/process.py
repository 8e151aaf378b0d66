"""One media worker process (`manage.py media_worker`): the distributed shape of `spaces.media`.

It runs the embedded shape's own :class:`~spaces.media.MediaBridge` on its loop, fed differently:

- signaling requests arrive on the worker's channel (``media_remote.relay``), are answered by
  ``MediaBridge.handle_signal`` (the participant's standing is read on a database thread), and
  the reply goes to the requesting ASGI process;
- room events of every Space it hosts arrive through the same per-process hub the sockets use
  (``spaces.realtime.hub``: one group membership per Space, events put back in `seq` order), and go
  to ``MediaBridge.on_event``, so a demotion, a mute, a removal or an end are applied by the same
  code in both shapes. The hub joins a Space's group *before* the offer's standing is read, so a
  change committed meanwhile is heard and replayed by the bridge's join buffer;
- `active_speakers` leave from the bridge as in the embedded shape.

Edges (``media.edge``): an offer arrives with a route. ``origin`` (the Space's placed worker): a
listener beyond ``MEDIA_WORKER_MAX_LISTENERS`` listener connections on this worker is answered
``{"redirect": "edge"}``, and the ASGI side sends the offer to the least-loaded other worker
with route ``edge``. That worker subscribes to the Space's mix channel before it answers, asks
the origin to publish (``media.edge`` on the origin's channel; again every heartbeat, which also
reaches a new origin after the old one died), and relays every packet it receives to its
listeners. It hears the Space's room events like an origin does, so a kick, a leave or the end
apply there too, and a listener brought on stage is sent `bye` ("moved") and re-offers to the
origin. An edge with no listener left for a Space unsubscribes at its next heartbeat; the origin
stops publishing when a publish reaches no edge.

Every ``MEDIA_WORKER_HEARTBEAT_SECONDS`` it renews its registration, its load and the placements
of the Spaces it hosts (``media_placement``), and leaves the groups of Spaces it no longer hosts.
SIGTERM closes every peer, removes the registration and releases its placements; after SIGKILL
they expire one ``MEDIA_WORKER_TTL_SECONDS`` later and the next offer places the Space again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import Counter
from collections.abc import Awaitable
from typing import Any

import redis.asyncio as aioredis
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings

from media import metrics as media_metrics
from media.edge import MixPacket, MixPublisher
from spaces.audio import placement
from spaces.audio.bridge import MediaBridge, Route
from spaces.audio.remote import REPLY, SIGNAL, error_payload
from spaces.realtime import wsframes
from spaces.realtime.hub import SpaceHub, hub
from spaces.realtime.protocol import SignalContext
from spaces_project import bus
from spaces_project.errors import ApplicationError

logger = logging.getLogger(__name__)

CLOSE_SECONDS = 5.0
EDGE = "media.edge"
DEFAULT_MAX_LISTENERS = 300


def max_listeners() -> int | None:
    """Listener connections a worker serves itself for the Spaces it mixes; the next go to edges.

    300 by default: one worker carries about 400 listeners per core (``bench/RESULTS.md``), and
    the origin keeps headroom for what only it can do (decode, mix, mix-minus encodes). 0: no
    limit (no edges). A count rather than CPU load: it is known at once, a load figure lags.
    """
    raw: Any = getattr(settings, "MEDIA_WORKER_MAX_LISTENERS", None)
    if raw is None:
        raw = os.environ.get("MEDIA_WORKER_MAX_LISTENERS", DEFAULT_MAX_LISTENERS)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        message = f"MEDIA_WORKER_MAX_LISTENERS must be a whole number, not {raw!r}"
        raise ValueError(message) from None
    return value if value > 0 else None


def route_for(request: dict[str, Any], limit: int | None) -> Route:
    kind = request.get("route")
    if kind == "edge":
        return Route(edge=True)
    if kind == "origin":
        return Route(max_listeners=limit)
    return Route()  # "stay" (an edge sent it back) or an older ASGI process: serve it here


class EdgeLinks:
    """Both ends of the mix on Redis pub/sub: what this worker publishes as an origin, and the
    Spaces it relays as an edge (one subscription per Space, one reader task)."""

    def __init__(self, worker_id: str, bridge: MediaBridge, layer: BaseChannelLayer) -> None:
        self.worker_id = worker_id
        self.bridge = bridge
        self.layer = layer
        self.redis: aioredis.Redis = aioredis.Redis.from_url(settings.REDIS_URL)
        self.pubsub = self.redis.pubsub()
        self.publisher = MixPublisher(self._publish)
        self.subscribed: set[int] = set()
        self.relayed = 0
        self._channel_prefix = placement.mix_channel(0)[:-1].encode()
        self._reader: asyncio.Task[None] | None = None

    async def _publish(self, space_id: Any, message: bytes) -> int:
        return int(await self.redis.publish(placement.mix_channel(int(space_id)), message))

    # -- the edge side --

    async def serve(self, space_id: int) -> None:
        """Before answering an edge offer: hear the Space's mix, and make sure it is published."""
        if space_id not in self.subscribed:
            await self.pubsub.subscribe(placement.mix_channel(space_id))
            self.subscribed.add(space_id)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.ensure_future(self._read())
        await self.ask_origin(space_id)

    async def ask_origin(self, space_id: int) -> None:
        origin = await placement.placed(space_id)
        if origin is not None and origin.id != self.worker_id:
            await self.layer.send(origin.channel, {"type": EDGE, "space_id": space_id})

    async def _read(self) -> None:
        while True:
            try:
                message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("media edge: mix subscription failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message.get("channel", b"")
            try:
                space_id = int(bytes(channel)[len(self._channel_prefix) :])
                packet = MixPacket.loads(message["data"])
            except (TypeError, ValueError):
                logger.warning("media edge: bad mix message on %r", channel)
                continue
            worker = self.bridge.worker
            if worker is not None and worker.relay(space_id, packet):
                self.relayed += 1

    async def sync(self, joining: set[int]) -> None:
        """Each heartbeat: drop the Spaces no listener is relayed to any more, remind the
        origins of the others (a new origin after the old one died learns of us this way)."""
        worker = self.bridge.worker
        for space_id in sorted(self.subscribed):
            edge = worker is not None and worker.is_edge(space_id)
            if edge or space_id in joining:
                with contextlib.suppress(Exception):
                    await self.ask_origin(space_id)
                continue
            self.subscribed.discard(space_id)
            try:
                await self.pubsub.unsubscribe(placement.mix_channel(space_id))
            except Exception:
                logger.warning("media edge: could not unsubscribe %s", space_id, exc_info=True)
        for wanted in self.publisher.spaces():
            if not isinstance(wanted, int) or not self._mixes(wanted):
                self.publisher.forget(wanted)

    # -- the origin side --

    def _mixes(self, space_id: int) -> bool:
        worker = self.bridge.worker
        return worker is not None and space_id in worker.spaces() and not worker.is_edge(space_id)

    def edge_asks(self, space_id: int) -> None:
        if self._mixes(space_id):
            self.publisher.want(space_id)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self.publisher.close()
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()
        with contextlib.suppress(Exception):
            await self.redis.aclose()


class EventTap:
    """The worker's member in the hub: it takes every event of a Space for the bridge.

    User id 0 is no one: the hub's presence refresh for it updates no row.
    """

    user_id = 0

    def __init__(self, bridge: MediaBridge) -> None:
        self.bridge = bridge

    def room_frame(self, message: dict[str, Any], frame: wsframes.Frame) -> bool:
        return False  # not a socket: it takes the message itself

    async def room_message(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        if isinstance(event, dict):
            self.bridge.on_event(str(message.get("group", "")), event)

    async def revoked(self, message: dict[str, Any]) -> None:
        """User 0 signs nobody in: no logout or ban is ever this member's."""

    async def events_lost(self, space_id: int) -> None:
        await self.bridge.resync_space(space_id)


class WorkerProcess:
    def __init__(self, worker_id: str, bridge: MediaBridge) -> None:
        self.worker_id = worker_id
        self.bridge = bridge
        self.tap = EventTap(bridge)
        self.layer: BaseChannelLayer = get_channel_layer()
        self.channel: str | None = None
        self.hub: SpaceHub | None = None
        self.followed: set[int] = set()
        self.joining: Counter[int] = Counter()
        self.joining_edge: Counter[int] = Counter()
        self.edges: EdgeLinks | None = None
        self.max_listeners = max_listeners()  # checked at start: a bad value stops the worker
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle --

    async def run(self, stop: asyncio.Event) -> None:
        if self.layer is None:
            raise RuntimeError("media_worker needs a channel layer (set REDIS_URL)")
        worker = self.bridge.worker_for_loop()
        self.edges = EdgeLinks(self.worker_id, self.bridge, self.layer)
        worker.publisher = self.edges.publisher
        self.hub = hub()
        # Before registering: /healthz answers from the start, /readyz once registered.
        endpoint = await self._serve_metrics()
        self.channel = await self.layer.new_channel()
        await placement.heartbeat(self.info())
        logger.info("media worker %s ready on %s", self.worker_id, self.channel)
        reader = asyncio.create_task(self._read(self.channel), name="media-worker-read")
        beat = asyncio.create_task(self._heartbeat(), name="media-worker-heartbeat")
        try:
            await stop.wait()
        finally:
            if endpoint is not None:
                endpoint.close()
            await self.close(reader, beat)

    async def _serve_metrics(self) -> asyncio.Server | None:
        """/metrics, /healthz, /readyz on MEDIA_METRICS_PORT (media/metrics.py); 0: none."""
        port = int(getattr(settings, "MEDIA_METRICS_PORT", 0) or 0)
        if not port:
            return None
        host = str(getattr(settings, "MEDIA_METRICS_BIND", "127.0.0.1"))
        server = await media_metrics.serve(host, port, self.ready)
        bound = server.sockets[0].getsockname()[1] if server.sockets else port
        logger.info("media worker %s: metrics on http://%s:%s/metrics", self.worker_id, host, bound)
        return server

    async def ready(self) -> dict[str, bool | str]:
        """Registered in Redis now (the placement script sees this worker) and not closing."""
        if self.channel is None:
            return {"registered": "not registered yet"}
        try:
            found = await placement.client().exists(placement.worker_key(self.worker_id))
        except Exception as exc:
            return {"registered": f"redis: {type(exc).__name__}: {exc}"}
        return {"registered": True if found else "registration expired or removed"}

    async def close(self, *tasks: asyncio.Task[None]) -> None:
        """Deregister first (no new placements), tell the clients (they offer again, and land
        on another worker), then close every peer and leave every group."""
        spaces = self.hosted()
        try:
            await placement.deregister(self.worker_id, spaces)
        except Exception:
            logger.exception("media worker %s: could not deregister", self.worker_id)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await asyncio.wait_for(self.bridge.say_bye(), CLOSE_SECONDS)
            await asyncio.wait_for(self.bridge.shutdown(), CLOSE_SECONDS)
        except Exception:
            logger.exception("media worker %s: closing peers failed", self.worker_id)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for space_id in list(self.followed):
            await self._unfollow(space_id)
        if self.edges is not None:
            await self.edges.close()
        await placement.close_client()
        logger.info("media worker %s stopped", self.worker_id)

    # -- registry --

    def hosted(self) -> list[int]:
        """The Spaces mixed here (or about to be): the placements this worker renews."""
        worker = self.bridge.worker
        mixed: set[int] = set()
        if worker is not None:
            mixed = {s for s in worker.spaces() if isinstance(s, int) and not worker.is_edge(s)}
        return sorted(mixed | {s for s in self.joining if s not in self.joining_edge})

    def served(self) -> set[int]:
        """Every Space with a connection here, origin or edge: the room events to hear."""
        worker = self.bridge.worker
        spaces = worker.spaces() if worker is not None else []
        return {s for s in spaces if isinstance(s, int)} | set(self.joining)

    def info(self) -> placement.WorkerInfo:
        worker = self.bridge.worker
        peers = 0
        if worker is not None:
            peers = sum(len(worker.participants(s)) for s in worker.spaces())
        assert self.channel is not None
        return placement.WorkerInfo(
            id=self.worker_id,
            channel=self.channel,
            hosts=list(settings.MEDIA_HOST_ADDRESSES),
            load=peers + sum(self.joining.values()),
            spaces=self.hosted(),
        )

    async def _heartbeat(self) -> None:
        interval = float(settings.MEDIA_WORKER_HEARTBEAT_SECONDS)
        while True:
            await asyncio.sleep(interval)
            try:
                lost = await placement.heartbeat(self.info())
            except Exception:
                logger.warning("media worker %s: heartbeat failed", self.worker_id, exc_info=True)
                lost = []
            for space_id in lost:
                await self._let_go(space_id)
            served = self.served()
            for space_id in [s for s in self.followed if s not in served]:
                await self._unfollow(space_id)
            if self.edges is not None:
                try:
                    await self.edges.sync(set(self.joining))
                except Exception:
                    logger.warning("media worker %s: edge upkeep failed", self.worker_id)

    async def _let_go(self, space_id: int) -> None:
        """The Space was placed on another worker while this one looked dead (a stall longer
        than the TTL): its clients offer again, and land there, so it never plays in two."""
        logger.warning(
            "media worker %s: space %s moved to another worker", self.worker_id, space_id
        )
        await self.bridge.say_bye(space_id=space_id)
        worker = self.bridge.worker
        if worker is not None:
            await worker.end_space(space_id)

    # -- room events --

    async def _follow(self, space_id: int) -> None:
        if space_id not in self.followed and self.hub is not None:
            await self.hub.join(space_id, self.tap)
            self.followed.add(space_id)

    async def _unfollow(self, space_id: int) -> None:
        if space_id in self.followed and self.hub is not None:
            self.followed.discard(space_id)
            try:
                await self.hub.leave(space_id, self.tap)
            except Exception:
                logger.warning("media worker: could not leave space %s", space_id, exc_info=True)

    # -- signaling --

    async def _read(self, channel: str) -> None:
        await bus.receive_forever(self.layer, channel, self._request, what="media worker")

    async def _request(self, message: dict[str, Any]) -> None:
        if message.get("type") == SIGNAL:
            # Concurrently: one slow offer (a database read) must not hold up the others.
            self._spawn(self.serve(message))
        elif message.get("type") == EDGE and self.edges is not None:
            space_id = message.get("space_id")
            if isinstance(space_id, int):
                self.edges.edge_asks(space_id)

    async def serve(self, request: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"type": REPLY, "request": request.get("request")}
        sends: list[dict[str, Any]] = []
        socket = request.get("socket")
        answered = False

        async def send(payload: dict[str, Any]) -> None:
            # During the request, in the reply (the ASGI side sends it before the ack); later
            # (a `bye` when the connection fails), straight to the socket's channel.
            if not answered:
                sends.append(payload)
            elif isinstance(socket, str):
                await self.layer.send(socket, {"type": "signal.relay", "payload": payload})

        try:
            space_id, user_id = int(request["space_id"]), int(request["user_id"])
            message = dict(request["message"])
            kind = message.get("kind")
        except (KeyError, TypeError, ValueError):
            logger.warning("media worker: malformed request %r", request)
            return
        channel = socket if isinstance(socket, str) else None
        context = SignalContext(user_id, space_id, channel, send)
        route = route_for(request, self.max_listeners)
        if kind == "offer":
            self.joining[space_id] += 1
            if route.edge:
                self.joining_edge[space_id] += 1
        try:
            if kind == "offer":
                await self._follow(space_id)
                if route.edge and self.edges is not None:
                    await self.edges.serve(space_id)
            reply["result"] = await self.bridge.handle_signal(context, message, route)
        except ApplicationError as exc:
            reply["error"] = error_payload(exc)
        except Exception:
            logger.exception("media worker: %s from user %s failed", kind, user_id)
            reply["error"] = {"code": "internal", "message": "Something went wrong; try again."}
        finally:
            answered = True
            if kind == "offer":
                for joining in (self.joining, self.joining_edge) if route.edge else (self.joining,):
                    joining[space_id] -= 1
                    if joining[space_id] <= 0:
                        del joining[space_id]
        reply["sends"] = sends
        target = request.get("reply")
        if isinstance(target, str):
            try:
                await self.layer.send(target, reply)
            except Exception:
                logger.exception("media worker: could not reply to %s", target)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def serve_forever(worker_id: str, bridge: MediaBridge, stop: asyncio.Event) -> None:
    process = WorkerProcess(worker_id, bridge)
    with contextlib.suppress(asyncio.CancelledError):
        await process.run(stop)
