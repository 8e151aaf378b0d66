"""Per-user limits on the sockets, shared by every socket and every server process (issue 16).

The per-connection bucket (protocol.TokenBucket) cannot stop one account that opens many
sockets, on one process or on several: five sockets of one listener once sent 50 room events a
second to everyone. So two more limits live in the cache (Redis in the distributed shape, where
every process sees the same keys; this process's memory in the embedded one, which is one
process):

- Messages per user: `SPACES_WS_USER_RATE` a second on average, in windows of
  `SPACES_WS_USER_BURST` messages (by default the same as one socket's limit: all of a user's
  sockets together may send what one may). Windows are fixed slots of burst / rate seconds, the
  `_rate_limit` pattern of spaces/services/common.py: one INCR per message, no read-modify-write
  to race on; at a slot boundary a user may send up to two bursts at once, never more on average.
- Sockets per user per Space: `SPACES_MAX_SOCKETS_PER_USER` seats, each a cache key claimed with
  ADD (atomic) and held while the socket is open. The hub refreshes the seats of its sockets with
  the presence refresh, and a seat expires `seat_ttl()` after its process stopped refreshing it,
  so a process that dies frees its users' seats within a minute or so.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache

from spaces_project.counters import count_hit

clock: Callable[[], float] = time.time  # wall clock: the slots are shared across processes


def _user_rate() -> tuple[float, int]:
    rate = float(getattr(settings, "SPACES_WS_USER_RATE", getattr(settings, "SPACES_WS_RATE", 10)))
    burst = int(getattr(settings, "SPACES_WS_USER_BURST", getattr(settings, "SPACES_WS_BURST", 20)))
    return rate, burst


def user_message_take(user_id: int) -> float:
    """Count one message of `user_id`: 0.0 when it may pass, else the seconds until the user's
    next window opens. A rate or burst of 0 turns the limit off."""
    rate, burst = _user_rate()
    if rate <= 0 or burst <= 0:
        return 0.0
    window = burst / rate
    now = clock()
    slot = int(now // window)
    key = f"spaces:ws-user:{user_id}:{slot}"
    timeout = math.ceil(window) + 1
    if count_hit(key, timeout=timeout) <= burst:
        return 0.0
    return max((slot + 1) * window - now, 0.001)


# --- Seats: sockets per user per Space ---------------------------------------------------------

Seat = tuple[str, str]  # (cache key, this socket's token)


def max_sockets() -> int:
    return int(getattr(settings, "SPACES_MAX_SOCKETS_PER_USER", 5))


def seat_ttl() -> int:
    touch = float(getattr(settings, "SPACES_PRESENCE_TOUCH_SECONDS", 15))
    return max(60, math.ceil(4 * touch))


def _seat_key(space_id: int, user_id: int, index: int) -> str:
    return f"spaces:ws-seat:{space_id}:{user_id}:{index}"


def seat_take(space_id: int, user_id: int) -> Seat | None:
    """Claim one of the user's seats in the Space for a new socket; None when all are held.
    With SPACES_MAX_SOCKETS_PER_USER = 0 there is no cap (and no seat: `("", "")`)."""
    cap = max_sockets()
    if cap <= 0:
        return ("", "")
    token = secrets.token_hex(8)
    for index in range(cap):
        key = _seat_key(space_id, user_id, index)
        if cache.add(key, token, timeout=seat_ttl()):
            return (key, token)
    return None


def seat_release(seat: Seat) -> None:
    key, token = seat
    if key and cache.get(key) == token:
        cache.delete(key)


def seats_keep(seats: list[Seat]) -> None:
    """Keep open sockets' seats from expiring (the hub calls this with the presence refresh).
    A seat that expired meanwhile (a stalled process) is taken back if it is still free.

    Two round trips for every seat of the process (MGET, then one pipelined SET of those still
    ours), not two per seat: with 1000 sockets the per-seat form stalled room events."""
    ttl = seat_ttl()
    held = [(key, token) for key, token in seats if key]
    if not held:
        return
    current = cache.get_many([key for key, _ in held])
    cache.set_many({key: token for key, token in held if current.get(key) == token}, timeout=ttl)
    for key, token in held:
        if key not in current:
            cache.add(key, token, timeout=ttl)
