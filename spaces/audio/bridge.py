"""The Django side of the media worker: the Space socket's `signal` handler, room events turned
into worker calls, and `active_speakers` events from the worker's levels (embedded shape).

One :class:`~media.worker.MediaWorker` per process, created on the event loop of the first
`signal` (Daphne's loop; a test's loop). The domain decides who may send audio: on an offer the
participant row is read through ``socket_db`` (a database thread, never the media loop) and the
worker is told "speaker" (host, co-host, speaker; with the row's mute) or "listener". After that,
permission changes reach the worker only as messages: every room event this process delivers
(``spaces_project.bus.subscribe``) is hopped onto the worker's loop with
``call_soon_threadsafe`` and applied there, in delivery order.

Events are absolute state (a role, a mute flag, gone), so applying one twice is harmless. That is
what makes a join safe against a change that lands while the offer is being answered: events for
a participant whose join is in progress are also recorded and replayed once the join returns.

Embedded, only events delivered by this process reach its worker, so it suits one ASGI process
(``make run``). The distributed shape (``MEDIA_EMBEDDED=0`` with ``REDIS_URL``) runs this same
bridge in `manage.py media_worker` processes (``spaces.audio.process``): a Space is placed on one
live worker (``spaces.audio.placement``), the ASGI processes relay `signal` to it over the channel
layer (``spaces.audio.remote``), and the worker hears every event of the Spaces it hosts through
the layer and hands them to ``on_event``: the same rules apply in both shapes. Listeners beyond
the origin's limit are served by edge workers from the published mix (``Route``, ``media.edge``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from media.config import MediaConfig
from media.ice import client_ice_servers, with_turn_tcp
from media.origin import LevelsEvent
from media.worker import JoinAborted, MediaError, MediaWorker
from spaces.audio import captions
from spaces.audio.live import LiveFolder
from spaces.audio.recording import StorageSink
from spaces.models import STAGE_ROLES, Participant, Space
from spaces.permissions import check_live, check_present, check_real_time_audio, ensure
from spaces.realtime.protocol import SignalContext, set_signal_handler, signal_handler
from spaces_project import bus
from spaces_project.dbthreads import socket_db
from spaces_project.errors import ApplicationError, Forbidden, NotFound, ValidationFailed

logger = logging.getLogger(__name__)

ACTIVE_SPEAKERS = "active_speakers"
HANDLED_EVENTS = frozenset(
    (
        "role.changed",
        "cohost.added",
        "participant.muted",
        "participant.unmuted",
        "participant.removed",
        "participant.left",
        "space.ended",
        "recording.consent_changed",
        "listen_mode.changed",
        "noise_suppression.changed",
        *captions.EVENTS,  # also handed to the captions (`SpaceCaptions.on_event`)
    )
)

Key = tuple[int, int]  # (space_id, user_id)
# A peer the database no longer admits, by the refusal's code: why it is dropped.
RESYNC_GONE = {"not_live": "ended", "space_not_found": "ended", "listen_mode_hls": "hls"}
SHUTDOWN_SECONDS = 5.0
Send = Callable[[dict[str, Any]], Awaitable[None]]


# --- The domain's answer: what this user may do with audio --------------------------------------


@dataclass(frozen=True)
class MediaStanding:
    role: str  # the worker's role: "speaker" or "listener"
    muted: bool
    recorded: bool = True  # False: their voice stays out of the recording
    recording: bool = False  # the Space is recorded (the origin starts recording on this join)
    noise_suppression: bool = False  # the Space's switch (media/denoise.py), as of this read


def media_role(role: str) -> str:
    return "speaker" if role in STAGE_ROLES else "listener"


def participant_media_standing(*, user_id: int, space_id: int) -> MediaStanding:
    """How `user_id` joins the Space's audio: refused unless present in a live Space, by the
    same checks (and so the same error codes) as every other action in it, and to a listener
    who hears it over live HLS (`listen_mode_hls`)."""
    space = (
        Space.objects.filter(pk=space_id)
        .only("state", "recording_enabled", "noise_suppression")
        .first()
    )
    if space is None:
        raise NotFound(_("No such Space."), code="space_not_found")
    ensure(check_live(space))
    row = (
        Participant.objects.filter(space_id=space_id, user_id=user_id)
        .only("role", "state", "is_muted", "voice_recorded", "listen_mode")
        .first()
    )
    ensure(check_present(row))
    assert row is not None  # check_present refused a missing row
    ensure(check_real_time_audio(row))
    role = media_role(row.role)
    return MediaStanding(
        role,
        row.is_muted if role == "speaker" else False,
        recorded=row.voice_recorded,
        recording=space.recording_enabled,
        noise_suppression=space.noise_suppression,
    )


_standing = socket_db(participant_media_standing)


# --- Settings -----------------------------------------------------------------------------------


def media_config() -> MediaConfig:
    """The worker's settings. No STUN or TURN for the worker itself: it has a reachable address;
    clients behind strict NATs get TURN (``ice_servers_for``)."""
    hosts = settings.MEDIA_HOST_ADDRESSES
    return MediaConfig(
        host_addresses=tuple(hosts) if hosts else None,
        opus_fec=settings.MEDIA_OPUS_FEC,
        speaker_fec=settings.MEDIA_SPEAKER_FEC,
        opus_dtx=settings.MEDIA_OPUS_DTX,
        bitrate=settings.MEDIA_OPUS_BITRATE,
        opus_complexity=settings.MEDIA_OPUS_COMPLEXITY,
        red_distance=settings.MEDIA_RED_DISTANCE,
        red_from_speakers=settings.MEDIA_RED_FROM_SPEAKERS,
        lossy_speaker_bitrate=settings.MEDIA_LOSSY_SPEAKER_BITRATE,
    )


def ice_servers_for(user_id: int) -> list[dict[str, Any]]:
    """The browser's ``iceServers``: empty unless TURN_URL and TURN_SECRET are set. A
    ``turn:`` URL without a transport is offered over UDP and TCP (networks that block UDP)."""
    urls = with_turn_tcp([u.strip() for u in settings.TURN_URL.split(",") if u.strip()])
    return client_ice_servers(
        user_id,
        turn_urls=urls,
        turn_secret=settings.TURN_SECRET,
        ttl=settings.TURN_TTL_SECONDS,
    )


# --- Updates from room events -------------------------------------------------------------------


@dataclass(frozen=True)
class Update:
    """One participant's new media state: a role (with mute), a mute, or gone."""

    user_id: int
    role: str | None = None
    muted: bool | None = None
    recorded: bool | None = None
    noise_suppression: bool | None = None  # the Space's switch (replayed after a join)
    gone: str = ""  # "removed", "left", "ended", or "hls" (they listen over live HLS now)


def _user_of(event: dict[str, Any]) -> int | None:
    for holder in (event.get("participant"), event):
        user = holder.get("user") if isinstance(holder, dict) else None
        if isinstance(user, dict) and isinstance(user.get("id"), int):
            return int(user["id"])
    return None


def update_for(event: dict[str, Any]) -> Update | None:
    """The worker call a room event implies, if any (`space.ended` is handled on its own)."""
    kind = event.get("type")
    user_id = _user_of(event)
    if user_id is None:
        return None
    participant = event.get("participant") or {}
    if participant.get("listen_mode") == "hls" and kind in ("role.changed", "listen_mode.changed"):
        return Update(user_id, gone="hls")  # back in the audience of HLS, or chose the delay
    if kind in ("role.changed", "cohost.added"):
        return Update(
            user_id,
            role=media_role(str(participant.get("role"))),
            muted=participant.get("is_muted"),
        )
    if kind in ("participant.muted", "participant.unmuted"):
        return Update(user_id, muted=bool(participant.get("is_muted", kind == "participant.muted")))
    if kind == "recording.consent_changed":
        return Update(user_id, recorded=bool(participant.get("voice_recorded", True)))
    if kind == "participant.removed":
        return Update(user_id, gone="removed")
    if kind == "participant.left":
        return Update(user_id, gone="left")
    return None


# --- Distributed offers: origin or edge ---------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """How a worker process may serve an offer (from the relayed request, never the client).

    ``edge``: serve a listener from the mix another worker publishes; a stage member is sent
    back to the origin (``{"redirect": "origin"}``). ``max_listeners``: on the origin, a listener
    beyond this many on the worker is sent to an edge (``{"redirect": "edge"}``); None: no limit.
    """

    edge: bool = False
    max_listeners: int | None = None


def redirect_for(
    worker: MediaWorker, route: Route, space_id: int, user_id: int, role: str
) -> str | None:
    if route.edge:
        return "origin" if role != "listener" else None
    if route.max_listeners is None or role != "listener":
        return None  # stage members are always mixed here, whatever the load
    if user_id in worker.participants(space_id):
        return None  # a re-offer keeps its place
    return "edge" if worker.listeners() >= route.max_listeners else None


# --- The bridge ---------------------------------------------------------------------------------


class MediaBridge:
    """Everything here runs on the worker's loop, except ``on_event`` (any thread)."""

    def __init__(self) -> None:
        self.worker: MediaWorker | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._joining: dict[Key, list[list[Update]]] = {}
        self._sockets: dict[Key, Send] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._speakers_sent: dict[int, frozenset[int]] = {}
        self._levels_latest: dict[int, LevelsEvent] = {}
        self._levels_sending: set[int] = set()
        self._shutdown_hooked = False
        self.captions = captions.SpaceCaptions()

    # -- the worker, on the running loop --

    def worker_for_loop(self) -> MediaWorker:
        """This loop's worker, created on first use. A worker left on another loop (a test's
        finished loop) is dropped: its peers died with that loop."""
        loop = asyncio.get_running_loop()
        if self.worker is not None and self.loop is loop:
            return self.worker
        self._forget()
        self.worker = MediaWorker(
            media_config(),
            on_levels=self._on_levels,
            on_peer_gone=self._on_peer_gone,
            on_reoffer=self._on_reoffer,
        )
        self.loop = loop
        self.captions.attach(self.worker)
        if not self._shutdown_hooked:
            self._shutdown_hooked = self._close_before_server_shutdown(loop)
        return self.worker

    def _forget(self) -> None:
        self.captions.detach()
        self.worker = self.loop = None
        self._joining.clear()
        self._sockets.clear()
        self._tasks.clear()
        self._speakers_sent.clear()
        self._levels_latest.clear()
        self._levels_sending.clear()

    async def shutdown(self) -> None:
        """Close every peer (call on the worker's loop)."""
        worker = self.worker
        if worker is None or self.loop is not asyncio.get_running_loop():
            self._forget()
            return
        tasks = list(self._tasks)
        await self.captions.close()
        self._forget()
        await worker.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _close_before_server_shutdown(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Under Daphne, close every peer before the reactor stops (with a time limit).

        Not atexit: aiortc's receivers run decoder threads that are not daemons, and Python
        waits for those before it runs atexit hooks, so an open Space would keep the process up.
        """
        reactor = sys.modules.get("twisted.internet.reactor")
        if reactor is None or getattr(reactor, "_asyncioEventloop", None) is not loop:
            return False
        from twisted.internet.defer import Deferred

        def before_shutdown() -> Deferred[None] | None:
            if self.loop is not loop or loop.is_closed():
                return None
            closing = loop.create_task(_bounded(self.shutdown(), SHUTDOWN_SECONDS))
            return Deferred.fromFuture(closing)

        reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)
        return True

    # -- signaling --

    async def handle_signal(
        self, context: SignalContext, message: dict[str, Any], route: Route | None = None
    ) -> dict[str, Any] | None:
        kind = message["kind"]
        if kind == "offer":
            return await self._offer(context, str(message["sdp"]), route or Route())
        if kind == "bye":
            worker = self.worker if self.loop is asyncio.get_running_loop() else None
            self._sockets.pop((context.space_id, context.user_id), None)
            left = worker is not None and await worker.leave(context.space_id, context.user_id)
            return {"left": left}
        if kind == "ice":
            # Offers carry every candidate (the client waits for gathering): nothing to add.
            # Before an offer it is how a client asks for its ICE servers.
            return {"ice_servers": ice_servers_for(context.user_id)}
        raise ValidationFailed(_("The server makes no offers: send one."), code="unexpected_answer")

    async def _offer(self, context: SignalContext, sdp: str, route: Route) -> dict[str, Any]:
        space_id, user_id = context.space_id, context.user_id
        key = (space_id, user_id)
        worker = self.worker_for_loop()
        missed: list[Update] = []
        self._joining.setdefault(key, []).append(missed)
        try:
            standing = await _standing(user_id=user_id, space_id=space_id)
            redirect = redirect_for(worker, route, space_id, user_id, standing.role)
            if redirect is not None:
                return {"redirect": redirect}  # for media_remote: never reaches the client
            try:
                answer = await worker.join(
                    space_id,
                    user_id,
                    standing.role,
                    sdp,
                    muted=standing.muted,
                    edge=route.edge,
                    recording=StorageSink(space_id) if standing.recording else None,
                    recorded=standing.recorded,
                    live=LiveFolder(space_id) if settings.SPACES_HLS_ENABLED else None,
                    noise_suppression=standing.noise_suppression,
                )
            except JoinAborted as exc:
                raise Forbidden(_("You are no longer in this Space."), code="not_in_space") from exc
            except MediaError as exc:
                raise ValidationFailed(str(exc), code="media_refused") from exc
        finally:
            buffers = self._joining.get(key, [])
            with contextlib.suppress(ValueError):
                buffers.remove(missed)
            if not buffers:
                self._joining.pop(key, None)
        for update in missed:
            await self._apply(worker, space_id, update)
        if any(u.gone for u in missed) or space_id not in worker.spaces():
            await worker.kick(space_id, user_id)
            raise Forbidden(_("You are no longer in this Space."), code="not_in_space")
        self._sockets[key] = context.send
        if not route.edge:  # captions are the origin's (an edge hears no stage audio)
            self.captions.on_join(space_id)
        servers = ice_servers_for(user_id)
        await context.send({"type": "signal", "kind": "answer", "sdp": answer})
        participant = worker.participants(space_id).get(user_id, {})
        return {
            "role": participant.get("role", standing.role),
            "muted": participant.get("muted", standing.muted),
            "ice_servers": servers,
        }

    def _on_peer_gone(self, space_id: Any, user_id: Any, reason: str) -> None:
        """The connection failed or timed out: tell the socket, so the client can offer again."""
        send = self._sockets.pop((space_id, user_id), None)
        if send is not None:
            self._spawn(self._say(send, "bye", reason))

    def _on_reoffer(self, space_id: Any, user_id: Any, reason: str) -> None:
        """The connection serves on, but a new one would be better shaped (a speaker's RED that
        fills their uplink): ask the client to offer again, as for an ICE restart."""
        send = self._sockets.get((space_id, user_id))
        if send is not None:
            self._spawn(self._say(send, "reoffer", reason))

    @staticmethod
    async def _say(send: Send, kind: str, reason: str) -> None:
        with contextlib.suppress(Exception):
            await send({"type": "signal", "kind": kind, "reason": reason})

    async def say_bye(self, reason: str = "closed", *, space_id: int | None = None) -> None:
        """Tell clients to offer again now rather than when their connection times out: all of
        them (a worker process stopping) or one Space's (placed on another worker meanwhile)."""
        keys = [k for k in self._sockets if space_id is None or k[0] == space_id]
        sends = [self._sockets.pop(k) for k in keys]
        await asyncio.gather(*(self._say(send, "bye", reason) for send in sends))

    # -- room events --

    def on_event(self, group: str, event: dict[str, Any]) -> None:
        """A delivered room event, on whatever thread delivered it: hop to the worker's loop."""
        if not group.startswith(bus.SPACE_GROUP_PREFIX) or event.get("type") not in HANDLED_EVENTS:
            return
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._dispatch, loop, event, context=contextvars.Context())

    def _dispatch(self, loop: asyncio.AbstractEventLoop, event: dict[str, Any]) -> None:
        worker = self.worker
        if worker is None or self.loop is not loop:
            return
        space_id = event.get("space_id")
        if not isinstance(space_id, int):
            return
        self.captions.on_event(event)
        if event.get("type") == "space.ended":
            for (s, u), buffers in self._joining.items():
                if s == space_id:
                    for missed in buffers:
                        missed.append(Update(u, gone="ended"))
            for key in [k for k in self._sockets if k[0] == space_id]:
                del self._sockets[key]
            self._speakers_sent.pop(space_id, None)
            self._spawn(worker.end_space(space_id, ended=True))
            return
        if event.get("type") == "noise_suppression.changed":
            # Space-wide: a join in progress may have read the switch before this change and
            # would set the old value, so each one replays it once the join returns.
            enabled = bool(event.get("noise_suppression"))
            for (s, u), buffers in self._joining.items():
                if s == space_id:
                    for missed in buffers:
                        missed.append(Update(u, noise_suppression=enabled))
            self._spawn(worker.set_noise_suppression(space_id, enabled))
            return
        update = update_for(event)
        if update is None:
            return
        for missed in self._joining.get((space_id, update.user_id), []):
            missed.append(update)
        # Tasks start in creation order, and each worker call applies its change before its
        # first await: updates take effect in delivery order.
        self._spawn(self._apply(worker, space_id, update))

    async def _apply(self, worker: MediaWorker, space_id: int, update: Update) -> None:
        user_id = update.user_id
        try:
            if update.gone:
                send = self._sockets.pop((space_id, user_id), None)
                kicked = await worker.kick(space_id, user_id, reason=update.gone)
                if update.gone == "hls" and kicked and send is not None:
                    # Still in the Space: told why, so the client plays HLS, not offer again.
                    await self._say(send, "bye", "hls")
                return
            if update.role is not None:
                await worker.set_role(space_id, user_id, update.role)
            if update.muted is not None:
                await worker.set_muted(space_id, user_id, update.muted)
            if update.recorded is not None:
                await worker.set_recorded(space_id, user_id, update.recorded)
            if update.noise_suppression is not None:
                await worker.set_noise_suppression(space_id, update.noise_suppression)
        except MediaError:
            logger.warning("space %s user %s: cannot apply %s", space_id, user_id, update)

    async def resync_space(self, space_id: int) -> None:
        """Room events of `space_id` may have been lost (the layer lost Redis for a while):
        re-read each peer's standing from the database and apply it, as the lost events
        would have."""
        worker = self.worker
        if worker is None:
            return
        for user_id in _ids(list(worker.participants(space_id))):
            try:
                standing = await _standing(user_id=user_id, space_id=space_id)
            except ApplicationError as exc:
                gone = RESYNC_GONE.get(exc.code, "left")
                await self._apply(worker, space_id, Update(user_id, gone=gone))
                continue
            await worker.set_noise_suppression(space_id, standing.noise_suppression)
            await self._apply(
                worker,
                space_id,
                Update(
                    user_id, role=standing.role, muted=standing.muted, recorded=standing.recorded
                ),
            )

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- active speakers --

    def _on_levels(self, event: LevelsEvent) -> None:
        """On the media loop, ~4 Hz per Space: send only when the set of speakers changes, one
        send per Space at a time (the newest levels win; nothing piles up behind a slow layer)."""
        space_id = event.space_id
        if not isinstance(space_id, int):
            return
        self._levels_latest[space_id] = event
        if space_id not in self._levels_sending:
            self._levels_sending.add(space_id)
            self._spawn(self._send_levels(space_id))

    async def _send_levels(self, space_id: int) -> None:
        try:
            while (event := self._levels_latest.pop(space_id, None)) is not None:
                speakers = frozenset(_ids(event.speaking))
                if self._speakers_sent.get(space_id, frozenset()) == speakers:
                    continue
                self._speakers_sent[space_id] = speakers
                await bus.adeliver(
                    bus.space_group(space_id),
                    active_speakers_event(event),
                    notify_listeners=False,
                )
        finally:
            self._levels_sending.discard(space_id)


async def _bounded(coro: Awaitable[None], seconds: float) -> None:
    try:
        await asyncio.wait_for(coro, seconds)
    except Exception:
        logger.exception("media worker: closing at shutdown failed")


def _ids(keys: list[Any]) -> list[int]:
    return [int(k) for k in keys]


def active_speakers_event(event: LevelsEvent) -> dict[str, Any]:
    return {
        "type": ACTIVE_SPEAKERS,
        "space_id": event.space_id,
        "speakers": _ids(event.speaking),
        "levels": {str(u): round(event.levels.get(u, -127.0), 1) for u in event.speaking},
    }


bridge = MediaBridge()
_installed: contextlib.ExitStack | None = None


def install() -> None:
    """Serve `signal` with this process's media worker and feed it this process's room events."""
    global _installed
    if _installed is not None:
        return
    stack = contextlib.ExitStack()
    stack.enter_context(bus.subscribe(bridge.on_event))
    previous = signal_handler()
    set_signal_handler(bridge.handle_signal)
    stack.callback(set_signal_handler, previous)
    _installed = stack


def uninstall() -> None:
    global _installed
    if _installed is not None:
        _installed.close()
        _installed = None


def embedded() -> bool:
    """Whether this process serves media itself (`MEDIA_EMBEDDED`)."""
    return bool(settings.MEDIA_EMBEDDED)
