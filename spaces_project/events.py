"""The one way services publish realtime events: after the transaction commits.

Services call `publish(group, event)`; nothing leaves if the transaction rolls back (STYLE.md,
habit 5). Delivery goes through the channel layer to the groups named by `space_group` and
`user_group`. `subscribe` lets tests (and the in-process media worker) observe what was published
without a socket.

Every event for a Space gets a per-Space `seq`, taken from one atomic counter in the cache (Redis
INCR in the distributed shape) at the moment of delivery, i.e. after commit. A snapshot reads the
counter *before* it reads the database, so every event numbered at or below the snapshot's `seq`
is already in it, and a client that applies later events on top (they are idempotent state
updates) sees the room as the server does. A gap tells the client to ask for a new snapshot; a
Redis restart that resets the counter is just another gap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

Event = dict[str, Any]
Listener = Callable[[str, Event], None]
_listeners: list[Listener] = []


SPACE_GROUP_PREFIX = "space."


def space_group(space_id: int) -> str:
    return f"{SPACE_GROUP_PREFIX}{space_id}"


def _seq_key(space_id: int | str) -> str:
    return f"space-seq:{space_id}"


def next_seq(space_id: int | str) -> int:
    key = _seq_key(space_id)
    cache.add(key, 0, timeout=None)
    try:
        return int(cache.incr(key))
    except ValueError:  # evicted between add and incr
        cache.add(key, 0, timeout=None)
        return int(cache.incr(key))


def current_seq(space_id: int | str) -> int:
    return int(cache.get(_seq_key(space_id)) or 0)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def publish(group: str, event: Event) -> None:
    """Send `event` (a dict with a `type`) to `group` once the current transaction commits."""
    transaction.on_commit(lambda: deliver(group, event))


def deliver(group: str, event: Event) -> None:
    """Send now. Only for callers outside a transaction, or from an on_commit hook."""
    if group.startswith(SPACE_GROUP_PREFIX):
        event = {**event, "seq": next_seq(group[len(SPACE_GROUP_PREFIX) :])}
    for listener in list(_listeners):
        listener(group, event)
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "event.forward", "event": event})
    except Exception:
        # A realtime hiccup must never undo or fail a committed action; clients resync from
        # the snapshot (DESIGN.md, Realtime).
        logger.exception("could not deliver %s to %s", event.get("type"), group)


@contextmanager
def subscribe(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
