"""The one way services publish realtime events: after the transaction commits.

Services call `publish(group, event)`; nothing leaves if the transaction rolls back (STYLE.md,
habit 5). Delivery goes through the channel layer to the groups named by `space_group` and
`user_group`. `subscribe` lets tests (and the in-process media worker) observe what was published
without a socket; listeners see what services publish, before reactions are coalesced.

Sequence numbers. Every event for a Space gets a per-Space `seq`, taken from one atomic counter in
the cache (Redis INCR in the distributed shape) at the moment of delivery, i.e. after commit. A
snapshot reads the counter *before* it reads the database, so every event numbered at or below the
snapshot's `seq` is already in it, and a client that applies later events on top (they are
idempotent state updates) sees the room as the server does. A gap tells the client to ask for a
new snapshot. A counter that is created (first event, or after a Redis restart or an eviction)
starts at the current time in microseconds rather than at 0, so `seq` never goes backwards: a
reset is just a gap forward, and "drop what is not newer than my snapshot" stays a safe rule.

Layer messages. An event goes to the layer as `{"type": <event type>, "group", "event", "text"}`:
consumers have handlers named after event types, and `text` is the JSON encoded once here rather
than once per socket.

Which event loop sends. Channel-layer calls must run on an event loop, and the layer keeps
connections per loop. From a sync thread we never let `async_to_sync` create a loop per call (a
new Redis connection each time, and in-memory queues used across loops): the send runs on the
loop of the ASGI server this thread serves (asgiref's main loop, or the server loop bound by the
first socket), else on one long-lived background loop per process (Celery workers, commands).

Reactions are coalesced per Space across processes (`ReactionWindows`): at most one `reactions`
event per Space per `SPACES_REACTIONS_WINDOW_MS`, with counts per emoji.

Feed hints. When an event changes who is live or on stage, a `bubbles.changed` hint also goes to
`following.<user id>` (the feed sockets of that user's followers) and to `bubble.space.<space id>`
(feed sockets currently showing that Space); the feed consumer then re-reads the viewer's bubble.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from asgiref.sync import SyncToAsync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connections, transaction

logger = logging.getLogger(__name__)

Event = dict[str, Any]
Listener = Callable[[str, Event], None]
_listeners: list[Listener] = []


SPACE_GROUP_PREFIX = "space."
SEND_TIMEOUT = 5.0
SEQ_TTL = 7 * 24 * 3600
REACTION_SENT = "reaction.sent"
REACTIONS = "reactions"
BUBBLES_CHANGED = "bubbles.changed"
STAGE_ROLES = ("host", "cohost", "speaker")


def space_group(space_id: int | str) -> str:
    return f"{SPACE_GROUP_PREFIX}{space_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def following_group(user_id: int) -> str:
    """Feed sockets of the people who follow `user_id`."""
    return f"following.{user_id}"


def bubble_space_group(space_id: int | str) -> str:
    """Feed sockets whose bubble currently shows Space `space_id`."""
    return f"bubble.space.{space_id}"


def _space_id_of(group: str) -> str | None:
    return group[len(SPACE_GROUP_PREFIX) :] if group.startswith(SPACE_GROUP_PREFIX) else None


# --- seq ----------------------------------------------------------------------------------------


def _seq_key(space_id: int | str) -> str:
    return f"space-seq:{space_id}"


def _seq_base() -> int:
    return int(time.time() * 1_000_000)


def next_seq(space_id: int | str) -> int:
    key = _seq_key(space_id)
    cache.add(key, _seq_base(), timeout=SEQ_TTL)
    try:
        return int(cache.incr(key))
    except ValueError:  # evicted between add and incr
        cache.add(key, _seq_base(), timeout=SEQ_TTL)
        return int(cache.incr(key))


def current_seq(space_id: int | str) -> int:
    """The seq of the last event numbered for the Space (creating the counter if need be, so
    that every later event is numbered above it)."""
    key = _seq_key(space_id)
    cache.add(key, _seq_base(), timeout=SEQ_TTL)
    value = cache.get(key)
    if value is None:  # evicted in between: the next event starts above this base anyway
        return _seq_base()
    return int(value)


# --- Which loop sends ---------------------------------------------------------------------------

_server_loop: asyncio.AbstractEventLoop | None = None
_background: tuple[asyncio.AbstractEventLoop, threading.Thread] | None = None
_background_lock = threading.Lock()
_pending_tasks: set[asyncio.Task[Any]] = set()


def bind_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Called by the first socket of an ASGI server: sync threads of this process (ticker,
    reaction windows) send through this loop, where the server's sockets and layer live."""
    global _server_loop
    _server_loop = loop


def _usable(loop: asyncio.AbstractEventLoop | None) -> bool:
    return loop is not None and loop.is_running() and not loop.is_closed()


def _background_loop() -> asyncio.AbstractEventLoop:
    global _background
    with _background_lock:
        if _background is None or not _background[1].is_alive():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="spaces-events-loop", daemon=True
            )
            thread.start()
            _background = (loop, thread)
        return _background[0]


def target_loop() -> asyncio.AbstractEventLoop:
    """The loop a sync caller's channel-layer work should run on (see the module docstring)."""
    main = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if _usable(main):
        return main  # type: ignore[return-value]
    if _usable(_server_loop):
        return _server_loop  # type: ignore[return-value]
    return _background_loop()


def _run_sync(coro: Coroutine[Any, Any, Any]) -> None:
    """Run `coro` to completion from sync code without creating an event loop per call."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None:
        # Sync code called straight from a coroutine: we must not block this loop.
        task = running.create_task(coro)
        _pending_tasks.add(task)
        task.add_done_callback(_pending_tasks.discard)
        return
    # A fresh context: the task must not inherit this thread's asgiref executor state, or a
    # `database_sync_to_async` inside it would think it runs in this thread (and deadlock).
    future: Future[Any] = contextvars.Context().run(
        asyncio.run_coroutine_threadsafe, coro, target_loop()
    )
    future.result(timeout=SEND_TIMEOUT)


# --- Database work from sockets ---------------------------------------------------------------

_db_pool: ThreadPoolExecutor | None = None
_db_pool_lock = threading.Lock()
R = TypeVar("R")


def _socket_db_pool() -> ThreadPoolExecutor | None:
    global _db_pool
    with _db_pool_lock:
        if _db_pool is None:
            postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
            workers = int(getattr(settings, "SPACES_WS_DB_THREADS", -1))
            if workers < 0:
                workers = 8 if postgres else 0
            if workers == 0:
                return None
            _db_pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spaces-ws-db")
        return _db_pool


def socket_db(fn: Callable[..., R]) -> Callable[..., Coroutine[Any, Any, R]]:
    """`database_sync_to_async`, on the sockets' own thread pool.

    Channels' default runs every sync call of the process on one shared thread, behind the
    HTTP views and the auth middleware: a crowd opening sockets at once (a popular Space going
    live) then queues there past daphne's 5 s handshake timeout. On PostgreSQL socket work gets
    its own pool (`SPACES_WS_DB_THREADS`, default 8; psycopg's pool serves them). On SQLite it
    stays on the shared thread (0): SQLite serialises writers anyway, and the in-memory test
    database fails at once ("table is locked") rather than wait when two threads meet there.
    Each call still closes stale connections before and after.
    """
    from channels.db import DatabaseSyncToAsync

    def in_pool_thread(*args: Any, **kwargs: Any) -> R:
        try:
            return fn(*args, **kwargs)
        finally:
            # Hand the connection back to psycopg's pool now: an idle pool thread must not
            # hold one (the pool would run dry, and a database could not be dropped).
            connections.close_all()

    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> R:
        pool = _socket_db_pool()
        if pool is None:
            runner = DatabaseSyncToAsync(fn)
        else:
            runner = DatabaseSyncToAsync(in_pool_thread, thread_sensitive=False, executor=pool)
        result: R = await runner(*args, **kwargs)
        return result

    return call


# --- Reading a channel ------------------------------------------------------------------------

RECEIVE_RETRY_SECONDS = 0.5


async def receive_forever(
    layer: Any,
    channel: str,
    handle: Callable[[dict[str, Any]], Coroutine[Any, Any, None]],
    *,
    what: str,
) -> None:
    """Hand each message of `channel` to `handle`, in order, until cancelled.

    This is a process's only ear on that channel (the hub's room events, the media workers'
    requests and replies), so nothing may end it: a failed receive (Redis restarting, a dropped
    connection) is logged and retried after a pause, a failing handler is logged and the next
    message read."""
    while True:
        try:
            message = await layer.receive(channel)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("%s: receive failed; retrying", what, exc_info=True)
            await asyncio.sleep(RECEIVE_RETRY_SECONDS)
            continue
        try:
            await handle(message)
        except Exception:
            logger.exception("%s: could not handle %s", what, message.get("type"))


# --- Delivery -----------------------------------------------------------------------------------


def publish(group: str, event: Event) -> None:
    """Send `event` (a dict with a `type`) to `group` once the current transaction commits."""
    transaction.on_commit(lambda: deliver(group, event))


def layer_message(group: str, event: Event) -> dict[str, Any]:
    return {
        "type": event["type"],
        "group": group,
        "event": event,
        "text": json.dumps(event, ensure_ascii=False, separators=(",", ":")),
    }


def deliver(group: str, event: Event) -> None:
    """Send now. Only for callers outside a transaction, or from an on_commit hook."""
    space_id = _space_id_of(group)
    if space_id is not None and event.get("type") == REACTION_SENT:
        _notify(group, event)
        reactions.add(int(space_id), event)
        return
    if space_id is not None:
        event = {**event, "seq": next_seq(space_id)}
    _notify(group, event)
    messages = [(group, layer_message(group, event)), *bubble_hints(group, event)]
    try:
        _run_sync(_send_all(messages))
    except Exception:
        # A realtime hiccup must never undo or fail a committed action; clients resync from
        # the snapshot (DESIGN.md, Realtime).
        logger.exception("could not deliver %s to %s", event.get("type"), group)


async def adeliver(group: str, event: Event, *, notify_listeners: bool = True) -> None:
    """`deliver` for code already on an event loop (never inside a transaction)."""
    space_id = _space_id_of(group)
    if space_id is not None:
        seq = await sync_to_async(next_seq, thread_sensitive=False)(space_id)
        event = {**event, "seq": seq}
    if notify_listeners:
        _notify(group, event)
    messages = [(group, layer_message(group, event)), *bubble_hints(group, event)]
    try:
        await _send_all(messages)
    except Exception:
        logger.exception("could not deliver %s to %s", event.get("type"), group)


def _notify(group: str, event: Event) -> None:
    for listener in list(_listeners):
        listener(group, event)


async def _send_all(messages: list[tuple[str, dict[str, Any]]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group, message in messages:
        await layer.group_send(group, message)


def _user_id(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, int) else None


def _hint_groups(space_id: str, event: Event) -> list[str]:
    kind = event.get("type")
    participant = event.get("participant") or {}
    if kind == "space.started":
        return [following_group(uid) for uid in [_user_id(event.get("host"))] if uid]
    if kind in ("space.ended", "host.changed"):
        hosts = [_user_id(event.get(key)) for key in ("host", "previous_host", "new_host")]
        return [bubble_space_group(space_id), *(following_group(uid) for uid in hosts if uid)]
    # Someone went on or off a stage: their followers' bubbles, and bubbles showing the Space.
    uid: int | None = None
    if kind == "role.changed":
        uid = _user_id(participant.get("user"))
    elif kind in ("participant.left", "participant.removed"):
        uid = _user_id(event.get("user")) if event.get("previous_role") in STAGE_ROLES else None
    elif kind == "participant.joined" and participant.get("role") in STAGE_ROLES:
        return [following_group(uid)] if (uid := _user_id(participant.get("user"))) else []
    return [following_group(uid), bubble_space_group(space_id)] if uid else []


def bubble_hints(group: str, event: Event) -> list[tuple[str, dict[str, Any]]]:
    """The `bubbles.changed` hints an event of a Space implies (module docstring)."""
    space_id = _space_id_of(group)
    if space_id is None:
        return []
    hint = {"type": BUBBLES_CHANGED, "space_id": int(space_id), "cause": event.get("type")}
    return [
        (g, {"type": BUBBLES_CHANGED, "group": g, "event": hint})
        for g in _hint_groups(space_id, event)
    ]


@contextmanager
def subscribe(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


# --- Reactions: one event per Space per window, however many people tap -------------------------


@dataclass
class _Window:
    counts: Counter[str] = field(default_factory=Counter)
    recent: list[dict[str, Any]] = field(default_factory=list)


def _slot_key(space_id: int, slot: int, code: str) -> str:
    return f"spaces:rx:{space_id}:{slot}:{code}"


SLOT_TTL = 120


class ReactionWindows:
    """Reactions batched per Space into time slots of `SPACES_REACTIONS_WINDOW_MS`, shared by
    every process through the cache (Redis in the distributed shape).

    A tap adds 1 to its slot's counter for its emoji (`spaces:rx:<space>:<slot>:<code>`), and the
    first tap a process sees in a slot arms a timer for the slot's end. When it fires, each such
    process tries to claim the slot (an atomic `cache.add`); the one that wins reads and clears
    the slot's counters and sends one `reactions` event. So a Space gets at most one event per
    slot (4 a second) whatever the number of tappers and of server processes; the cost is two
    or three cache round trips per tap. `recent` is a sample from the claiming process's own
    taps. A process that dies after claiming loses that slot's animation, never a count: the
    totals come from the domain's own counters (services.reaction_send).

    Without a server loop in this process (Celery, commands, socket-free tests) a tap is sent at
    once as a batch of one, computed in the caller's thread: no database work ever happens on a
    background thread.
    """

    RECENT = 10
    GRACE = 0.02  # taps counted just before a slot's end get there before it is read

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[int, int], _Window] = {}

    @staticmethod
    def window_seconds() -> float:
        return max(0.01, float(getattr(settings, "SPACES_REACTIONS_WINDOW_MS", 250)) / 1000.0)

    def add(self, space_id: int, tap: Event) -> None:
        code = str(tap.get("code", ""))
        who = {"user": tap.get("user"), "code": code}
        main = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
        loop = main if _usable(main) else _server_loop if _usable(_server_loop) else None
        if loop is None:
            window = _Window(Counter({code: 1}), [who])
            event = _reactions_event(space_id, window, _totals(space_id))
            try:
                _run_sync(adeliver(space_group(space_id), event, notify_listeners=False))
            except Exception:
                logger.exception("could not deliver reactions to space %s", space_id)
            return
        slot = int(self.clock() / self.window_seconds())
        _count(_slot_key(space_id, slot, code))
        with self._lock:
            key = (space_id, slot)
            found = self._windows.get(key)
            opened = found is None
            window = found if found is not None else _Window()
            if found is None:
                self._windows[key] = window
                # Windows whose loop stopped before their flush (tests) must not pile up.
                for old in [k for k in self._windows if k[1] < slot - 100]:
                    del self._windows[old]
            window.recent = [*window.recent, who][-self.RECENT :]
        if opened:
            loop.call_soon_threadsafe(
                self._arm, loop, space_id, slot, context=contextvars.Context()
            )

    def _arm(self, loop: asyncio.AbstractEventLoop, space_id: int, slot: int) -> None:
        delay = (slot + 1) * self.window_seconds() + self.GRACE - self.clock()
        loop.call_later(max(0.0, delay), self._spawn, loop, space_id, slot)

    def _spawn(self, loop: asyncio.AbstractEventLoop, space_id: int, slot: int) -> None:
        task = loop.create_task(self.flush(space_id, slot))
        _pending_tasks.add(task)
        task.add_done_callback(_pending_tasks.discard)

    def take(self, space_id: int, slot: int) -> _Window | None:
        with self._lock:
            return self._windows.pop((space_id, slot), None)

    def pending(self) -> int:
        with self._lock:
            return len(self._windows)

    async def flush(self, space_id: int, slot: int) -> None:
        local = self.take(space_id, slot)
        counts = await sync_to_async(_claim_slot, thread_sensitive=False)(space_id, slot)
        if not counts:
            return  # another process sent this slot, or nothing was tapped
        try:
            totals = await socket_db(_totals)(space_id)
        except Exception:
            logger.exception("could not read reaction totals of space %s", space_id)
            totals = None
        window = _Window(Counter(counts), local.recent if local else [])
        event = _reactions_event(space_id, window, totals)
        await adeliver(space_group(space_id), event, notify_listeners=False)


def _count(key: str) -> None:
    cache.add(key, 0, timeout=SLOT_TTL)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=SLOT_TTL)


def _claim_slot(space_id: int, slot: int) -> dict[str, int]:
    """The slot's counts if this process is the one to send them, else {}."""
    from spaces.models import Reaction

    if not cache.add(f"spaces:rx:{space_id}:{slot}:claimed", 1, timeout=SLOT_TTL):
        return {}
    keys = {code: _slot_key(space_id, slot, code) for code in Reaction.values}
    found = cache.get_many(list(keys.values()))
    cache.delete_many(list(found))
    return {code: int(found[key]) for code, key in keys.items() if found.get(key)}


def _totals(space_id: int) -> dict[str, int]:
    from spaces.selectors import reaction_counts_for

    return reaction_counts_for(space_id=space_id)


def _reactions_event(space_id: int, window: _Window, totals: dict[str, int] | None) -> Event:
    return {
        "type": REACTIONS,
        "space_id": space_id,
        "counts": dict(window.counts),
        "recent": window.recent,
        "totals": totals,
    }


reactions = ReactionWindows()
