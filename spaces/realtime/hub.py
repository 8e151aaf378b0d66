"""Per-process fan-out of room events: the process, not each socket, is the group member.

The stock Channels pattern makes every socket a member of the Space's group. With channels-redis
that makes a `group_send` cost O(sockets): `RedisChannelLayer` looks up and writes one message
per member (182 ms p99 at 1000 members, docs/architecture.md section 9), and every socket then
wakes its own receive task and, in `AsyncConsumer.dispatch`, hops to a thread to close old
database connections. Here each process joins a Space's group once, through one channel of its
own, and hands each event to its local sockets in a plain loop. A `group_send` then costs
O(processes) on every layer, and the per-socket cost is one WebSocket frame, built once per
event and, under Daphne, sent straight to every connection in one compiled call
(spaces/realtime/wsframes.py; bench/RESULTS.md, "Room events").

The hub also:
- puts events back in `seq` order when two processes delivered them out of order, holding a
  later event at most `SPACES_WS_REORDER_MS` for the missing one (a real gap then reaches the
  clients, who resync);
- refreshes `last_seen_at` of every user with an open socket in a Space, one UPDATE per Space
  per `SPACES_PRESENCE_TOUCH_SECONDS`: presence means "a live process holds a socket of yours",
  so a server that dies stops vouching for its users and the sweep frees their slots;
- keeps its sockets' seats (the per-user socket cap, spaces/realtime/limits.py) from expiring,
  in the same loop;
- counts its guests (sockets without an account, user id 0) into the cache windows shared by
  every process, and folds the totals into the Spaces' rows (spaces/realtime/guests.py);
- re-joins its groups every `SPACES_WS_GROUP_REFRESH_SECONDS`, so a Redis restart (which forgets
  `RedisChannelLayer` memberships) or a group expiry heals by itself;
- carries what ends a sign-in (a logout, a ban) to its sockets: the process, not each socket,
  is a member of one `revocations` group, to which `revocation_copies` (a bus hint hook) copies
  those events from the user's group; a socket apiece in its user's group cost a pub/sub
  subscription per socket, 1000 per process with 1000 listeners, for an event that is rare;
- moves the objects of settled connections out of the garbage collector's way
  (`media.gcpolicy.GcFreezer`, `SPACES_WS_GC_FREEZE`): with 1000 sockets a full collection
  stalled the process for 200-275 ms, every event of that moment with it.

One hub per event loop; it stops, and leaves nothing running, when its last socket leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings
from django.utils import timezone

from media.gcpolicy import GcFreezer
from spaces.models import Participant
from spaces.realtime import guests, limits, wsframes
from spaces_project import bus, layers, metrics
from spaces_project.dbthreads import socket_db

logger = logging.getLogger(__name__)

REVOCATIONS_GROUP = "revocations"
# Events on a user's group that end sign-ins (accounts/services.py publishes them).
REVOCATION_TYPES = frozenset({"session.revoked", "user.banned"})


def revocation_copies(group: str, event: bus.Event) -> list[tuple[str, bus.Message]]:
    """A bus hint hook: a copy of a logout or a ban, naming the user, for every process's hub."""
    if event.get("type") not in REVOCATION_TYPES or not group.startswith("user."):
        return []
    copy = {**event, "user_id": int(group.removeprefix("user."))}
    return [(REVOCATIONS_GROUP, bus.layer_message(REVOCATIONS_GROUP, copy))]


GUEST = 0  # the user id of a guest's socket (no account): counted, never touched


class Member(Protocol):
    user_id: int

    def room_frame(self, message: dict[str, Any], frame: wsframes.Frame) -> bool:
        """Handle the event at once by handing the connection to `frame` (its text, framed, sent
        by the hub once every socket has been visited), or return False."""
        ...

    async def room_message(self, message: dict[str, Any]) -> None: ...

    async def revoked(self, message: dict[str, Any]) -> None:
        """A logout or a ban of this member's user (`revocation_copies`)."""
        ...

    async def events_lost(self, space_id: int) -> None:
        """Events of the Space may have been lost: catch up from the database."""
        ...


@dataclass(eq=False)
class SpaceSockets:
    """This process's sockets in one Space, and the events held back to put them in order."""

    space_id: int
    # A dict for its order: events reach a Space's sockets in the order they joined.
    members: dict[Member, None] = field(default_factory=dict)
    users: Counter[int] = field(default_factory=Counter)
    next_seq: int | None = None
    held: dict[int, dict[str, Any]] = field(default_factory=dict)
    release: asyncio.TimerHandle | None = None


def _seconds(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


@socket_db
def touch_presence(space_id: int, user_ids: list[int]) -> int:
    return Participant.objects.filter(
        space_id=space_id, user_id__in=user_ids, state=Participant.State.PRESENT
    ).update(last_seen_at=timezone.now())


class SpaceHub:
    def __init__(self, layer: BaseChannelLayer, loop: asyncio.AbstractEventLoop) -> None:
        self.layer = layer
        self.loop = loop
        self.channel: str | None = None
        self.spaces: dict[str, SpaceSockets] = {}
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._draining: set[asyncio.Task[None]] = set()
        self._unhook: Callable[[], None] = lambda: None
        self.gc = GcFreezer() if getattr(settings, "SPACES_WS_GC_FREEZE", True) else None
        self.guest_counter = guests.GuestCounter()

    # -- membership ---------------------------------------------------------------------------

    async def join(self, space_id: int, member: Member) -> None:
        group = bus.space_group(space_id)
        async with self._lock:
            if self.channel is None:
                await self._start()
            assert self.channel is not None
            local = self.spaces.get(group)
            if local is None:
                local = self.spaces[group] = SpaceSockets(space_id)
                await self.layer.group_add(group, self.channel)
            local.members[member] = None
            local.users[member.user_id] += 1
        if self.gc is not None:
            self.gc.peer_connected()
        if member.user_id == GUEST:
            # Counted in this window already if the Space was not reported in it yet.
            self._spawn(self._guest_tick())

    async def leave(self, space_id: int, member: Member) -> None:
        group = bus.space_group(space_id)
        async with self._lock:
            local = self.spaces.get(group)
            if local is None or member not in local.members:
                return
            local.members.pop(member, None)
            local.users[member.user_id] -= 1
            if self.gc is not None:
                self.gc.peer_closed()
            if local.users[member.user_id] <= 0:
                del local.users[member.user_id]
            if local.members:
                return
            del self.spaces[group]
            if local.release is not None:
                local.release.cancel()
            if self.channel is not None:
                try:
                    await self.layer.group_discard(group, self.channel)
                except Exception:
                    logger.warning("hub: could not leave %s", group, exc_info=True)
            if not self.spaces:
                await self._stop()

    def local_users(self, space_id: int) -> list[int]:
        local = self.spaces.get(bus.space_group(space_id))
        return sorted(u for u in local.users if u != GUEST) if local else []

    def local_guests(self) -> dict[int, int]:
        """Guest sockets of this process, per Space."""
        return {
            local.space_id: local.users[GUEST]
            for local in self.spaces.values()
            if local.users.get(GUEST)
        }

    def _spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    # -- lifecycle ----------------------------------------------------------------------------

    async def _start(self) -> None:
        # The default prefix: RedisChannelLayer serves all of a process's channels from one
        # queue with one receive loop, which only works if they share the prefix.
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(REVOCATIONS_GROUP, self.channel)
        self._tasks = [
            self.loop.create_task(self._read(), name="spaces-hub-read"),
            self.loop.create_task(self._touch(), name="spaces-hub-presence"),
            self.loop.create_task(self._refresh(), name="spaces-hub-refresh"),
            self.loop.create_task(self._count_guests(), name="spaces-hub-guests"),
        ]
        self._unhook = layers.on_resubscribed(self.layer, self._resync_all)

    async def _stop(self) -> None:
        if self.gc is not None:
            self.gc.cancel()
        self._unhook()
        self._unhook = lambda: None
        if self.channel is not None:
            with contextlib.suppress(Exception):
                await self.layer.group_discard(REVOCATIONS_GROUP, self.channel)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.channel = None

    async def _resync_all(self) -> None:
        """The layer lost Redis for a while: events published meanwhile never reached us, and
        nothing may follow to reveal the gap (a `space.ended`). Every socket re-reads the room."""
        members = [(local.space_id, m) for local in self.spaces.values() for m in local.members]
        logger.warning("hub: resyncing %d members after a lost Redis connection", len(members))
        for space_id, member in members:
            try:
                await member.events_lost(space_id)
            except Exception:
                logger.exception("hub: could not resync a member of space %s", space_id)

    # -- receiving ----------------------------------------------------------------------------

    async def _read(self) -> None:
        assert self.channel is not None
        await bus.receive_forever(self.layer, self.channel, self.route, what="hub")

    async def route(self, message: dict[str, Any]) -> None:
        if message.get("group") == REVOCATIONS_GROUP:
            await self._revoke(message)
            return
        local = self.spaces.get(message.get("group", ""))
        if local is None:
            return
        seq = message.get("event", {}).get("seq")
        if not isinstance(seq, int):
            await self._fan_out(local, message)
        elif local.next_seq is None or seq < local.next_seq:
            # The first event this process sees for the Space, or one that comes after its
            # successors were released: sent as is (sockets drop what their snapshot covers).
            if local.next_seq is None:
                local.next_seq = seq + 1
            await self._fan_out(local, message)
        elif seq == local.next_seq:
            local.next_seq = seq + 1
            await self._fan_out(local, message)
            await self._drain(local)
        else:
            local.held[seq] = message
            if local.release is None:
                local.release = self.loop.call_later(
                    _seconds("SPACES_WS_REORDER_MS", 100) / 1000.0, self._release_held, local
                )

    async def _revoke(self, message: dict[str, Any]) -> None:
        user_id = message.get("event", {}).get("user_id")
        for local in list(self.spaces.values()):
            if user_id not in local.users:
                continue
            for member in [m for m in local.members if m.user_id == user_id]:
                # Its own task: the socket's close may stop this hub (its last socket gone),
                # which cancels the reading task this runs in.
                task = self.loop.create_task(self._end_sign_in(member, message))
                self._draining.add(task)
                task.add_done_callback(self._draining.discard)

    @staticmethod
    async def _end_sign_in(member: Member, message: dict[str, Any]) -> None:
        try:
            await member.revoked(message)
        except Exception:
            logger.exception("hub: could not end a socket of user %s", member.user_id)

    async def _drain(self, local: SpaceSockets) -> None:
        while local.next_seq in local.held:
            message = local.held.pop(local.next_seq)
            local.next_seq += 1
            await self._fan_out(local, message)
        if not local.held and local.release is not None:
            local.release.cancel()
            local.release = None

    def _release_held(self, local: SpaceSockets) -> None:
        """The missing seq never came: send what is held, in order; clients see the gap."""
        local.release = None
        if local.held:
            local.next_seq = min(local.held)
            task = self.loop.create_task(self._drain(local))
            self._draining.add(task)
            task.add_done_callback(self._draining.discard)

    async def _fan_out(self, local: SpaceSockets, message: dict[str, Any]) -> None:
        # The frame is built once per event per process; most sockets then take it in a plain
        # call (no coroutine), the rest (closing, resyncing, events about themselves) take the
        # message through `room_message`.
        started = time.perf_counter()
        text = message.get("text")
        frame = wsframes.Frame(text) if isinstance(text, str) else None
        for member in list(local.members):
            try:
                if frame is not None:
                    if member.room_frame(message, frame):
                        continue
                    # What the frame took goes out before anything can yield to the event loop
                    # (and write to those connections): wsframes.Frame, "Order".
                    frame.send()
                await member.room_message(message)
            except Exception:
                logger.exception("hub: a socket failed on %s", message.get("type"))
        if frame is not None:
            try:
                frame.send()
            except Exception:
                logger.exception("hub: sending %s failed", message.get("type"))
        # Once per event, never per socket (/metrics: spaces_event_fanout_seconds).
        metrics.EVENT_FANOUT_SECONDS.observe(time.perf_counter() - started)

    # -- presence and group upkeep ------------------------------------------------------------

    async def _touch(self) -> None:
        interval = _seconds("SPACES_PRESENCE_TOUCH_SECONDS", 15)
        while True:
            await asyncio.sleep(interval)
            for local in list(self.spaces.values()):
                users = sorted(u for u in local.users if u != GUEST)
                if not users:
                    continue
                try:
                    await touch_presence(local.space_id, users)
                except Exception:
                    logger.warning("hub: presence refresh failed", exc_info=True)
            # The sockets' seats (spaces/realtime/limits.py) live as long as this refresh does.
            seats = [
                seat
                for local in list(self.spaces.values())
                for member in list(local.members)
                if (seat := getattr(member, "seat", None))
            ]
            if seats:
                try:
                    await sync_to_async(limits.seats_keep, thread_sensitive=False)(seats)
                except Exception:
                    logger.warning("hub: seat refresh failed", exc_info=True)

    async def _count_guests(self) -> None:
        interval = guests.window_seconds() / 4
        while True:
            await asyncio.sleep(interval)
            try:
                await self._guest_tick()
            except Exception:
                logger.warning("hub: guest count failed", exc_info=True)

    async def _guest_tick(self) -> None:
        """Report this window's guests once per Space; once per window, fold the last one."""
        counter = self.guest_counter
        window = guests.current_window()
        due = counter.due(window, self.local_guests())
        if due:
            await sync_to_async(guests.report, thread_sensitive=False)(window, due)
        spaces = counter.to_fold(window)
        if spaces:
            totals = await sync_to_async(guests.totals, thread_sensitive=False)(window - 1, spaces)
            changed = counter.changed(totals)
            if changed:
                await guests.fold_from_socket(changed)

    async def _refresh(self) -> None:
        interval = _seconds("SPACES_WS_GROUP_REFRESH_SECONDS", 30)
        while True:
            await asyncio.sleep(interval)
            for group in [REVOCATIONS_GROUP, *self.spaces]:
                if self.channel is None:
                    return
                try:
                    await self.layer.group_add(group, self.channel)
                except Exception:
                    logger.warning("hub: could not refresh %s", group, exc_info=True)


_hubs: dict[asyncio.AbstractEventLoop, SpaceHub] = {}


def hub() -> SpaceHub:
    """This loop's hub (one per server process)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        for old in [lp for lp in _hubs if lp.is_closed()]:
            del _hubs[old]
        found = _hubs[loop] = SpaceHub(get_channel_layer(), loop)
        bus.bind_server_loop(loop)
    return found
