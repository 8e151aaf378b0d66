"""The Redis cache backend builds one redis-py client per connection pool, not one per operation
(spaces_project/cache.py), and still behaves as Django's."""

from __future__ import annotations

import secrets
import threading

import pytest
from django.conf import settings

from spaces_project.cache import RedisCache
from tests.settings_probe import settings_under


def test_every_operation_of_one_backend_shares_one_client_on_django_pool():
    # Building clients and pools does not connect: no Redis needed here.
    cache = RedisCache("redis://127.0.0.1:6399/0", {})
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client() is client
    assert cache._cache.get_client("some-key", write=True) is client
    assert client.connection_pool is cache._cache._get_connection_pool(True)


def test_the_settings_use_it_whenever_redis_is_configured():
    names = settings_under({"REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert names["CACHES"]["default"]["BACKEND"] == "spaces_project.cache.RedisCache"


@pytest.mark.redis
def test_a_shared_client_serves_counters_from_many_threads():
    cache = RedisCache(settings.REDIS_URL, {"KEY_PREFIX": f"test-cache-{secrets.token_hex(4)}"})
    cache.add("n", 0, timeout=60)
    errors: list[BaseException] = []

    def hit() -> None:
        try:
            for _ in range(50):
                cache.incr("n")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert cache.get("n") == 400
    cache.set_many({"a": 1, "b": [2]}, timeout=60)
    assert cache.get_many(["a", "b", "c"]) == {"a": 1, "b": [2]}
    assert cache.add("a", 5, timeout=60) is False
    cache.delete_many(["n", "a", "b"])
