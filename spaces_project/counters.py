"""Counters shared by every process through the cache (Redis in the distributed shape), for
fixed-window limits: the socket's per-user budget and the services' per-key limits."""

from __future__ import annotations

import time

from django.core.cache import cache

from spaces_project.errors import RateLimited


def count_hit(key: str, *, timeout: int) -> int:
    """Add one to the counter `key` (created for `timeout` seconds) and return its new value.
    A counter that expired between its creation and the increment starts again at 1."""
    cache.add(key, 0, timeout=timeout)
    try:
        return int(cache.incr(key))
    except ValueError:
        cache.set(key, 1, timeout=timeout)
        return 1


def rate_limit(key: str, *, limit: int, period: int, message: str, code: str | None = None) -> None:
    """A fixed window per key, starting at the first hit: RateLimited (with `retry_after`)
    past `limit` hits in `period` seconds. Shared by every process through the cache."""
    now = time.time()
    cache.add(f"{key}:start", now, timeout=period)
    if count_hit(f"{key}:n", timeout=period) > limit:
        start = cache.get(f"{key}:start") or now
        retry_after = max(0.0, float(start) + period - now)
        raise RateLimited(
            message, code=code, retry_after=retry_after, extra={"retry_after": retry_after}
        )
