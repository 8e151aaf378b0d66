"""Counters shared by every process through the cache (Redis in the distributed shape), for
fixed-window limits: the socket's per-user budget and the services' per-key limits."""

from __future__ import annotations

from django.core.cache import cache


def count_hit(key: str, *, timeout: int) -> int:
    """Add one to the counter `key` (created for `timeout` seconds) and return its new value.
    A counter that expired between its creation and the increment starts again at 1."""
    cache.add(key, 0, timeout=timeout)
    try:
        return int(cache.incr(key))
    except ValueError:
        cache.set(key, 1, timeout=timeout)
        return 1
