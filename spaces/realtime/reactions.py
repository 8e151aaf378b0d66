"""Reactions reach the room batched: at most one `reactions` event per Space per
`SPACES_REACTIONS_WINDOW_MS`, with counts per emoji, however many people tap and however many
server processes they tap through.

Services publish each tap as `reaction.sent`; the bus shows it to its listeners, then hands it
to `windows.add` (a coalescer of the bus, `spaces_project.bus.register_coalescer`, registered in
`SpacesConfig.ready`) instead of sending it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from spaces.models import Reaction
from spaces.selectors import reaction_counts_for
from spaces_project import bus
from spaces_project.dbthreads import socket_db

logger = logging.getLogger(__name__)

REACTIONS = "reactions"
SLOT_TTL = 120


@dataclass
class _Window:
    counts: Counter[str] = field(default_factory=Counter)
    recent: list[dict[str, Any]] = field(default_factory=list)


def _slot_key(space_id: int, slot: int, code: str) -> str:
    return f"spaces:rx:{space_id}:{slot}:{code}"


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

    def add(self, space_id: int, tap: bus.Event) -> None:
        code = str(tap.get("code", ""))
        who = {"user": tap.get("user"), "code": code}
        loop = bus.serving_loop()
        if loop is None:
            window = _Window(Counter({code: 1}), [who])
            event = _reactions_event(space_id, window, _totals(space_id))
            try:
                bus.run_sync(bus.adeliver(bus.space_group(space_id), event, notify_listeners=False))
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
        bus.spawn(loop, self.flush(space_id, slot))

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
        await bus.adeliver(bus.space_group(space_id), event, notify_listeners=False)


def _count(key: str) -> None:
    cache.add(key, 0, timeout=SLOT_TTL)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=SLOT_TTL)


def _claim_slot(space_id: int, slot: int) -> dict[str, int]:
    """The slot's counts if this process is the one to send them, else {}."""
    if not cache.add(f"spaces:rx:{space_id}:{slot}:claimed", 1, timeout=SLOT_TTL):
        return {}
    keys = {code: _slot_key(space_id, slot, code) for code in Reaction.values}
    found = cache.get_many(list(keys.values()))
    cache.delete_many(list(found))
    return {code: int(found[key]) for code, key in keys.items() if found.get(key)}


def _totals(space_id: int) -> dict[str, int]:
    return reaction_counts_for(space_id=space_id)


def _reactions_event(space_id: int, window: _Window, totals: dict[str, int] | None) -> bus.Event:
    return {
        "type": REACTIONS,
        "space_id": space_id,
        "counts": dict(window.counts),
        "recent": window.recent,
        "totals": totals,
    }


windows = ReactionWindows()
