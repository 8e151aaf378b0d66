"""Guests on the Space socket (issue 20): their limits per address and their count.

A guest has no account and no Participant row, so neither the per-user limits nor the presence
timestamps apply. Instead:

- **Limits per address** (the client address by SPACES_TRUSTED_PROXIES,
  spaces_project/ws_auth.py `client_address`): `SPACES_GUEST_CONNECTS_PER_MINUTE` new guest
  sockets per address (over every Space and process: `spaces_project.counters.rate_limit`), and
  `SPACES_GUEST_SOCKETS_PER_ADDRESS` open at once per address per Space, as seats in the cache
  that the hub keeps alive like the users' seats (spaces/realtime/limits.py). Generous defaults:
  a school or an office is many people behind one address.
- **The count.** Each server process knows only its own guest sockets. Time is cut in windows of
  `SPACES_GUEST_COUNT_SECONDS`; in each window every process adds, once, the number of guest
  sockets it holds in each Space to one counter per Space and window in the cache (Redis INCRBY
  in the distributed shape, so every process adds to the same key; the process's memory in the
  embedded one, which is one process). A window is complete once it is over: its total is the
  number of guests, whatever the number of processes, and a process that dies simply stops
  adding, so its guests drop out of the count a window later without anyone cleaning up. The
  total is folded into the Space row (`services.guest_count_set`, under the Space lock,
  idempotent) by each process for the Spaces it has guests in, and by the presence sweep
  (`guest_sweep`) for the Spaces nobody holds guests of any more. A new guest is counted within
  one or two windows.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from spaces import services
from spaces.models import Space
from spaces.realtime.limits import Seat
from spaces_project.counters import rate_limit
from spaces_project.dbthreads import socket_db

logger = logging.getLogger(__name__)

clock: Callable[[], float] = time.time  # wall clock: the windows are shared across processes

SWEEP_BATCH = 500


# --- Limits per address ---------------------------------------------------------------------


def max_sockets_per_address() -> int:
    return int(getattr(settings, "SPACES_GUEST_SOCKETS_PER_ADDRESS", 20))


def connects_per_minute() -> int:
    return int(getattr(settings, "SPACES_GUEST_CONNECTS_PER_MINUTE", 30))


def _address_key(address: str) -> str:
    # An IPv6 address is at most 45 characters; anything longer is not an address we made.
    return address[:64]


def connect_take(address: str) -> None:
    """Count one guest socket opened from `address`: RateLimited (`rate_limited`, with
    `retry_after`) past SPACES_GUEST_CONNECTS_PER_MINUTE in a minute (0: no limit)."""
    limit = connects_per_minute()
    if limit <= 0:
        return
    rate_limit(
        f"spaces:guest-connect:{_address_key(address)}",
        limit=limit,
        period=60,
        message=_("Too many connections from your address; try again in a minute."),
        code="rate_limited",
    )


def seat_ttl() -> int:
    touch = float(getattr(settings, "SPACES_PRESENCE_TOUCH_SECONDS", 15))
    return max(60, math.ceil(4 * touch))


def seat_take(space_id: int, address: str) -> Seat | None:
    """Claim one of the address's guest seats in the Space; None when all are held. The seat
    is kept alive by the hub (limits.seats_keep) and freed by the socket's close, or expires
    `seat_ttl()` after its process stopped refreshing it. 0 seats: no cap."""
    cap = max_sockets_per_address()
    if cap <= 0:
        return ("", "")
    token = secrets.token_hex(8)
    where = _address_key(address)
    for index in range(cap):
        key = f"spaces:guest-seat:{space_id}:{where}:{index}"
        if cache.add(key, token, timeout=seat_ttl()):
            return (key, token)
    return None


# --- The count ----------------------------------------------------------------------------------


def window_seconds() -> float:
    return max(0.2, float(getattr(settings, "SPACES_GUEST_COUNT_SECONDS", 10)))


def current_window(now: float | None = None) -> int:
    return int((clock() if now is None else now) // window_seconds())


def _count_key(space_id: int, window: int) -> str:
    return f"spaces:guests:{space_id}:{window}"


def report(window: int, counts: dict[int, int]) -> None:
    """Add this process's guest sockets per Space to `window`'s counters (once per window)."""
    timeout = math.ceil(3 * window_seconds()) + 1
    for space_id, n in counts.items():
        if n <= 0:
            continue
        key = _count_key(space_id, window)
        cache.add(key, 0, timeout=timeout)
        try:
            cache.incr(key, n)
        except ValueError:  # expired between the two calls
            cache.set(key, n, timeout=timeout)


def totals(window: int, space_ids: Iterable[int]) -> dict[int, int]:
    """Guests per Space in `window`, over every process (0 for a Space nobody reported)."""
    ids = list(space_ids)
    found = cache.get_many([_count_key(s, window) for s in ids])
    return {s: int(found.get(_count_key(s, window)) or 0) for s in ids}


def fold(counts: dict[int, int]) -> None:
    """Write each Space's guest count into its row (services.guest_count_set: no write when
    unchanged)."""
    for space_id, n in counts.items():
        try:
            services.guest_count_set(space_id=space_id, count=n)
        except Exception:
            logger.exception("guests: could not count the guests of space %s", space_id)


fold_from_socket = socket_db(fold)


def guest_sweep(*, now: float | None = None) -> int:
    """The safety net, run with the presence sweep: live Spaces that show guests get the last
    complete window's total, so the guests of a process that died, or of a Space whose last
    guest left, leave the count. Returns how many Spaces changed."""
    window = current_window(now) - 1
    ids = list(
        Space.objects.filter(state=Space.State.LIVE, guest_count__gt=0)
        .order_by("pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    changed = 0
    for space_id, n in totals(window, ids).items():
        try:
            changed += services.guest_count_set(space_id=space_id, count=n)
        except Exception:
            logger.exception("guests: could not sweep the guests of space %s", space_id)
    return changed


class GuestCounter:
    """One process's part of the count, driven by its hub (spaces/realtime/hub.py): report each
    window once, and fold the previous window's totals for the Spaces this process knows."""

    def __init__(self) -> None:
        self.reported: dict[int, set[int]] = {}  # window -> Spaces reported in it
        self.folded: dict[int, int] = {}  # Space -> the total this process last folded
        self.folded_window: int | None = None

    def due(self, window: int, local: dict[int, int]) -> dict[int, int]:
        """What to report now: Spaces with guests here not yet reported in `window`. Marks
        them reported (the caller reports them)."""
        done = self.reported.setdefault(window, set())
        for old in [w for w in self.reported if w < window - 1]:
            del self.reported[old]
        fresh = {s: n for s, n in local.items() if n > 0 and s not in done}
        done.update(fresh)
        return fresh

    def to_fold(self, window: int) -> list[int] | None:
        """The Spaces whose previous window to read, once per window (None: not yet due)."""
        if self.folded_window == window:
            return None
        self.folded_window = window
        return sorted(self.reported.get(window - 1, set()) | set(self.folded))

    def changed(self, counts: dict[int, int]) -> dict[int, int]:
        """Of `counts`, those that differ from what this process folded last; remembers them
        (and forgets a Space once it folded to zero)."""
        out = {s: n for s, n in counts.items() if self.folded.get(s) != n}
        for s, n in counts.items():
            if n:
                self.folded[s] = n
            else:
                self.folded.pop(s, None)
        return out
