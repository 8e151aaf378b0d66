"""The one way services publish realtime events: after the transaction commits.

Services call `publish(group, event)`; nothing leaves if the transaction rolls back (STYLE.md,
habit 5). Delivery goes through the channel layer to the groups named by `space_group` and
`user_group`. `subscribe` lets tests (and the in-process media worker) observe what was published
without a socket; listeners see what services publish, before anything is coalesced (hooks, below).

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

Hooks. The bus knows no app; an app registers what it adds to delivery, from its
`AppConfig.ready`:
- `hint_hooks.register(hook)` (a `Hook`, spaces_project/hooks.py): `hook(group, event)` returns
  extra `(group, layer message)` pairs that go out with the event (the feed's `bubbles.changed`
  hints, spaces/realtime/hints.py);
- `register_coalescer(type, take)`: events of that type sent to a Space's group are shown to the
  listeners, then handed to `take(space_id, event)` instead of being sent one by one (reaction
  taps, batched per Space by spaces/realtime/reactions.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from asgiref.sync import SyncToAsync, sync_to_async
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import transaction

from spaces_project.hooks import Hook

logger = logging.getLogger(__name__)

Event = dict[str, Any]
Message = dict[str, Any]
Listener = Callable[[str, Event], None]
HintHook = Callable[[str, Event], list[tuple[str, Message]]]
Coalescer = Callable[[int, Event], None]
_listeners: list[Listener] = []
hint_hooks: Hook[HintHook] = Hook("spaces_project.bus.hint_hooks")
_coalescers: dict[str, Coalescer] = {}


SPACE_GROUP_PREFIX = "space."
SEND_TIMEOUT = 5.0
SEQ_TTL = 7 * 24 * 3600


def space_group(space_id: int | str) -> str:
    return f"{SPACE_GROUP_PREFIX}{space_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def space_id_of(group: str) -> str | None:
    """The Space id in a Space's group name, else None."""
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


def serving_loop() -> asyncio.AbstractEventLoop | None:
    """The running loop of the ASGI server this thread serves, else None (Celery, commands,
    socket-free tests)."""
    main = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if _usable(main):
        return main
    if _usable(_server_loop):
        return _server_loop
    return None


def target_loop() -> asyncio.AbstractEventLoop:
    """The loop a sync caller's channel-layer work should run on (see the module docstring)."""
    return serving_loop() or _background_loop()


def spawn(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> None:
    """Run `coro` as a task of `loop` (from that loop's thread), keeping it referenced until it
    ends."""
    task = loop.create_task(coro)
    _pending_tasks.add(task)
    task.add_done_callback(_pending_tasks.discard)


def run_sync(coro: Coroutine[Any, Any, Any]) -> None:
    """Run `coro` to completion from sync code without creating an event loop per call."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None:
        # Sync code called straight from a coroutine: we must not block this loop.
        spawn(running, coro)
        return
    # A fresh context: the task must not inherit this thread's asgiref executor state, or a
    # `database_sync_to_async` inside it would think it runs in this thread (and deadlock).
    future: Future[Any] = contextvars.Context().run(
        asyncio.run_coroutine_threadsafe, coro, target_loop()
    )
    future.result(timeout=SEND_TIMEOUT)


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
    space_id = space_id_of(group)
    if space_id is not None and (coalesce := _coalescers.get(event.get("type", ""))):
        _notify(group, event)
        coalesce(int(space_id), event)
        return
    if space_id is not None:
        event = {**event, "seq": next_seq(space_id)}
    _notify(group, event)
    messages = [(group, layer_message(group, event)), *_hints(group, event)]
    try:
        run_sync(_send_all(messages))
    except Exception:
        # A realtime hiccup must never undo or fail a committed action; clients resync from
        # the snapshot (docs/realtime.md).
        logger.exception("could not deliver %s to %s", event.get("type"), group)


async def adeliver(group: str, event: Event, *, notify_listeners: bool = True) -> None:
    """`deliver` for code already on an event loop (never inside a transaction)."""
    space_id = space_id_of(group)
    if space_id is not None:
        seq = await sync_to_async(next_seq, thread_sensitive=False)(space_id)
        event = {**event, "seq": seq}
    if notify_listeners:
        _notify(group, event)
    messages = [(group, layer_message(group, event)), *_hints(group, event)]
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


def _hints(group: str, event: Event) -> list[tuple[str, Message]]:
    return [pair for hook in hint_hooks for pair in hook(group, event)]


# --- What apps add ------------------------------------------------------------------------------


def register_coalescer(event_type: str, take: Coalescer) -> None:
    """Hand events of `event_type` for a Space to `take(space_id, event)`, after the listeners
    saw them, instead of sending them one by one (module docstring)."""
    _coalescers[event_type] = take


@contextmanager
def subscribe(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
