"""The one way services publish realtime events: after the transaction commits.

Services call `publish(group, event)`; nothing leaves if the transaction rolls back (STYLE.md,
habit 5). Delivery goes through the channel layer; the realtime issue's consumers listen on the
groups named by `space_group` and `user_group`. `subscribe` lets tests (and the in-process media
worker) observe what was published without a socket.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

Event = dict[str, Any]
Listener = Callable[[str, Event], None]
_listeners: list[Listener] = []


def space_group(space_id: int) -> str:
    return f"space.{space_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def publish(group: str, event: Event) -> None:
    """Send `event` (a dict with a `type`) to `group` once the current transaction commits."""
    transaction.on_commit(lambda: deliver(group, event))


def deliver(group: str, event: Event) -> None:
    """Send now. Only for callers outside a transaction, or from an on_commit hook."""
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
