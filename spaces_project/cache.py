"""Django's Redis cache backend, with one redis-py client per connection pool.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` for every cache operation
(`redis.Redis(connection_pool=pool)`), and with redis-py 8 building one costs about 60 µs of CPU,
about as much as the command itself: a `cache.add` + `cache.incr` took 425 µs of CPU, 145 µs on
a client built once (bench/RESULTS.md, "Comments"). The hot paths of a live room go through the
cache several times per action: the event `seq` (spaces_project/bus.py), the rate limits
(spaces_project/counters.py), the per-user socket budget (spaces/realtime/limits.py), so a
comment paid about 1 ms of CPU for clients it threw away, on the server that then fans it out.

A `redis.Redis` may be shared between threads: it takes a connection from the pool for each
command and gives it back. The pools are Django's own, so `OPTIONS`, the serializer and the
read/write server choice are unchanged.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        # Keyed by the pool's identity: Django keeps each pool for the life of this object.
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        django_client: Any = self  # django-stubs leave out the private members used here
        pool = django_client._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            # Two threads may both build one the first time; either is fine to keep.
            client = self._clients.setdefault(id(pool), django_client._client(connection_pool=pool))
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
