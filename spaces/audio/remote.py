"""The Space socket's `signal` handler in the distributed shape: relayed to a media worker process.

An offer places the Space on a live worker (``media_placement.place``) and sends the request to
that worker's channel on the layer, with this loop's reply channel; the worker runs the embedded
bridge's own ``handle_signal`` (standing read from the database, roles and mutes applied from
room events), so the permission rules are in one place whatever the shape. What the worker sends
to the socket while it answers (the `answer` SDP) comes back inside the reply and is sent here,
before the ack, in the same order as in the embedded shape; what it sends later (a `bye` when a
connection fails) goes straight to the socket's channel (``signal.relay``).

No live worker, or no reply within ``MEDIA_SIGNAL_TIMEOUT_SECONDS``: `media_unavailable`. An
offer that timed out is sent once more if the Space is then placed on another worker (the first
one died: its registration expired while we waited).
`ice` and a stray `answer` never need a worker and are answered here.

Edges: an offer goes to the Space's origin with route ``origin``. A listener the origin has no
room for comes back as ``{"redirect": "edge"}`` and is sent to the least-loaded other live
worker (route ``edge``); if that worker finds the user now on stage (``{"redirect": "origin"}``),
has died, or there is none, the offer goes back to the origin with route ``stay`` (served there
whatever its load). At most three hops, and the client only ever sees the final answer. This
process remembers which worker serves each of its sockets, so a `bye` reaches an edge too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings
from django.utils.translation import gettext as _

from spaces.audio import placement
from spaces.audio.bridge import bridge
from spaces.realtime.protocol import SignalContext, set_signal_handler, signal_handler
from spaces_project import bus
from spaces_project.errors import (
    ApplicationError,
    Conflict,
    Forbidden,
    NotFound,
    ValidationFailed,
)

logger = logging.getLogger(__name__)

SIGNAL = "media.signal"
REPLY = "media.reply"
ORIGIN, EDGE, STAY = "origin", "edge", "stay"
RELAYED = frozenset(("offer", "bye"))
_ERRORS: dict[int, type[ApplicationError]] = {
    400: ValidationFailed,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
}


class MediaUnavailable(ApplicationError):
    status = 503
    default_code = "media_unavailable"


class RelayTimeout(Exception):
    """The worker did not reply within MEDIA_SIGNAL_TIMEOUT_SECONDS."""


def error_payload(exc: ApplicationError) -> dict[str, Any]:
    return {"code": exc.code, "message": exc.message, "status": exc.status}


def error_from_payload(error: dict[str, Any]) -> ApplicationError:
    kind = _ERRORS.get(int(error.get("status", 400)), ApplicationError)
    return kind(str(error.get("message", "")), code=str(error.get("code", "invalid")))


class Replies:
    """One reply channel per event loop, read by one task; each request waits on its future."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> str:
        async with self._lock:
            if self.channel is None or self._task is None or self._task.done():
                self.channel = await self.layer.new_channel()
                self._task = asyncio.get_running_loop().create_task(
                    self._read(self.channel), name="spaces-media-replies"
                )
            return self.channel

    async def _read(self, channel: str) -> None:
        await bus.receive_forever(self.layer, channel, self._reply, what="media replies")

    async def _reply(self, message: dict[str, Any]) -> None:
        future = self.waiting.pop(str(message.get("request")), None)
        if future is not None and not future.done():
            future.set_result(message)


_replies: dict[asyncio.AbstractEventLoop, Replies] = {}


def replies() -> Replies:
    loop = asyncio.get_running_loop()
    found = _replies.get(loop)
    if found is None:
        for old in [lp for lp in _replies if lp.is_closed()]:
            del _replies[old]
        found = _replies[loop] = Replies(get_channel_layer())
    return found


def _unavailable() -> MediaUnavailable:
    return MediaUnavailable(_("No media worker is available; try again shortly."))


async def _find(space_id: int, *, place: bool) -> placement.WorkerInfo | None:
    try:
        if place:
            return await placement.place(space_id)
        return await placement.placed(space_id)
    except Exception as exc:
        logger.exception("media placement failed for space %s", space_id)
        raise _unavailable() from exc


# (space_id, user_id, socket channel) -> the worker channel that answered its last offer. A socket
# that closes without `bye` leaves its entry: the oldest go beyond SERVED_MAX.
_served: dict[tuple[int, int, str | None], str] = {}
SERVED_MAX = 50_000


def _served_key(context: SignalContext) -> tuple[int, int, str | None]:
    return (context.space_id, context.user_id, context.channel_name)


async def handle_signal(context: SignalContext, message: dict[str, Any]) -> dict[str, Any] | None:
    kind = message["kind"]
    if kind not in RELAYED:
        return await bridge.handle_signal(context, message)
    if kind == "bye":
        return await _bye(context, message)
    return await _offer(context, message)


async def _bye(context: SignalContext, message: dict[str, Any]) -> dict[str, Any] | None:
    channel = _served.pop(_served_key(context), None)
    if channel is None:
        worker = await _find(context.space_id, place=False)
        if worker is None:
            return {"left": False}
        channel = worker.channel
    try:
        return await relay(channel, context, message)
    except RelayTimeout:
        raise _unavailable() from None


async def _offer(context: SignalContext, message: dict[str, Any]) -> dict[str, Any] | None:
    origin, result = await _offer_origin(context, message, ORIGIN)
    served_by = origin.channel
    if result is not None and result.get("redirect") == EDGE:
        result, served_by = await _offer_edge(context, message, origin)
    if result is not None and "redirect" in result:
        logger.warning("space %s: offer redirected in a loop: %s", context.space_id, result)
        raise _unavailable()
    key = _served_key(context)
    previous = _served.pop(key, None)
    _served[key] = served_by
    while len(_served) > SERVED_MAX:
        del _served[next(iter(_served))]
    if previous is not None and previous != served_by:
        # Served elsewhere now (an edge, then the origin): the old connection goes at once, in
        # the background (a dead worker would hold the ack up for the whole relay timeout).
        _spawn(_quiet_bye(previous, context))
    return result


_tasks: set[asyncio.Task[Any]] = set()


def _spawn(coro: Any) -> None:
    task: asyncio.Task[Any] = asyncio.ensure_future(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _quiet_bye(channel: str, context: SignalContext) -> None:
    with contextlib.suppress(Exception):
        await relay(channel, context, {"kind": "bye"})


async def _offer_origin(
    context: SignalContext, message: dict[str, Any], route: str
) -> tuple[placement.WorkerInfo, dict[str, Any] | None]:
    worker = await _find(context.space_id, place=True)
    if worker is None:
        raise _unavailable()
    try:
        return worker, await relay(worker.channel, context, message, route=route)
    except RelayTimeout:
        pass
    # The timeout is longer than a registration's TTL: if the worker died, it is gone from the
    # registry by now and the offer goes to another one; if it is only slow, we give up.
    again = await _find(context.space_id, place=True)
    if again is None or again.id == worker.id:
        raise _unavailable()
    logger.warning("media worker %s did not answer; space %s moved", worker.id, context.space_id)
    try:
        return again, await relay(again.channel, context, message, route=route)
    except RelayTimeout:
        raise _unavailable() from None


async def _offer_edge(
    context: SignalContext, message: dict[str, Any], origin: placement.WorkerInfo
) -> tuple[dict[str, Any] | None, str]:
    """The origin is full: the least-loaded other worker, else back to the origin."""
    try:
        edge = await placement.pick_edge(origin.id)
    except Exception:
        logger.exception("media placement: no edge for space %s", context.space_id)
        edge = None
    if edge is not None:
        try:
            result = await relay(edge.channel, context, message, route=EDGE)
        except RelayTimeout:
            logger.warning("edge %s did not answer for space %s", edge.id, context.space_id)
        else:
            if result is None or result.get("redirect") != ORIGIN:
                return result, edge.channel
    # No other worker, a dead one, or the user is on stage now: the origin serves it anyway.
    worker, result = await _offer_origin(context, message, STAY)
    return result, worker.channel


async def relay(
    channel: str, context: SignalContext, message: dict[str, Any], *, route: str = STAY
) -> dict[str, Any] | None:
    """Send one signaling request to a worker's channel and wait for its reply."""
    box = replies()
    request = uuid.uuid4().hex
    future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    box.waiting[request] = future
    try:
        reply_channel = await box.start()
        await box.layer.send(
            channel,
            {
                "type": SIGNAL,
                "request": request,
                "reply": reply_channel,
                "space_id": context.space_id,
                "user_id": context.user_id,
                "socket": context.channel_name,
                "message": message,
                "route": route,
            },
        )
        reply = await asyncio.wait_for(future, float(settings.MEDIA_SIGNAL_TIMEOUT_SECONDS))
    except TimeoutError as exc:
        logger.warning("media worker on %s did not answer %s", channel, message.get("kind"))
        raise RelayTimeout from exc
    except Exception as exc:  # the layer itself failed (Redis unreachable)
        logger.exception("could not relay %s to %s", message.get("kind"), channel)
        raise _unavailable() from exc
    finally:
        box.waiting.pop(request, None)
    for payload in reply.get("sends") or []:
        await context.send(payload)
    error = reply.get("error")
    if isinstance(error, dict):
        raise error_from_payload(error)
    result = reply.get("result")
    return result if isinstance(result, dict) else None


_installed: contextlib.ExitStack | None = None


def install() -> None:
    """Answer `signal` through the media worker processes (MEDIA_EMBEDDED=0 with REDIS_URL)."""
    global _installed
    if _installed is not None:
        return
    stack = contextlib.ExitStack()
    previous = signal_handler()
    set_signal_handler(handle_signal)
    stack.callback(set_signal_handler, previous)
    _installed = stack


def uninstall() -> None:
    global _installed
    if _installed is not None:
        _installed.close()
        _installed = None
