"""Two deployments on one Redis, told apart by SPACES_CACHE_PREFIX and database number, must
never receive each other's room events: Redis pub/sub ignores database numbers, so the channel
layer's prefix is derived from the deployment's prefix (issue #16, item 8)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils.module_loading import import_string

from tests.settings_probe import settings_under


def _url_with_db(url: str, db: int) -> str:
    base, _, last = url.rstrip("/").rpartition("/")
    return f"{base}/{db}" if last.isdigit() else f"{url.rstrip('/')}/{db}"


def deployment_layer(kind: str, *, cache_prefix: str, db: int) -> Any:
    """The channel layer a process of a deployment with these values would build."""
    names = settings_under(
        {
            "REDIS_URL": _url_with_db(django_settings.REDIS_URL, db),
            "SPACES_CACHE_PREFIX": cache_prefix,
            "SPACES_CHANNEL_LAYER": kind,
        }
    )
    layer = names["CHANNEL_LAYERS"]["default"]
    return import_string(layer["BACKEND"])(**layer["CONFIG"])


def test_the_channel_prefix_follows_the_cache_prefix_and_an_explicit_value_wins():
    redis = {"REDIS_URL": "redis://127.0.0.1:6379/0"}
    for kind in ("pubsub", "core"):
        a = settings_under({**redis, "SPACES_CHANNEL_LAYER": kind, "SPACES_CACHE_PREFIX": "a"})
        b = settings_under({**redis, "SPACES_CHANNEL_LAYER": kind, "SPACES_CACHE_PREFIX": "b"})
        prefix_a = a["CHANNEL_LAYERS"]["default"]["CONFIG"]["prefix"]
        prefix_b = b["CHANNEL_LAYERS"]["default"]["CONFIG"]["prefix"]
        assert prefix_a != prefix_b
        assert a["CACHES"]["default"]["KEY_PREFIX"] == "a"
    # The defaults are today's names, so an existing single deployment keeps its channels.
    default = settings_under(redis)["CHANNEL_LAYERS"]["default"]["CONFIG"]["prefix"]
    assert default == "spaces:asgi"
    explicit = settings_under({**redis, "SPACES_CHANNEL_PREFIX": "mine"})
    assert explicit["CHANNEL_LAYERS"]["default"]["CONFIG"]["prefix"] == "mine"


@pytest.mark.redis
@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["pubsub", "core"])
async def test_a_group_send_of_one_deployment_never_reaches_another(kind: str) -> None:
    own = int(django_settings.REDIS_URL.rstrip("/").rpartition("/")[2] or 0)
    other = 15 if own != 15 else 14
    run = f"t-{os.getpid()}"
    first = deployment_layer(kind, cache_prefix=f"{run}-deploy-a", db=own)
    second = deployment_layer(kind, cache_prefix=f"{run}-deploy-b", db=other)
    try:
        channel_a = await first.new_channel()
        channel_b = await second.new_channel()
        # The same Space id in both deployments: the same group name.
        await first.group_add("space.1", channel_a)
        await second.group_add("space.1", channel_b)

        await first.group_send("space.1", {"type": "probe", "from": "a"})
        got_a = await asyncio.wait_for(first.receive(channel_a), 10)
        # Had the first deployment's event leaked, it would arrive at the second one before
        # the second's own later event: no waiting for something not to happen.
        await second.group_send("space.1", {"type": "probe", "from": "b"})
        got_b = await asyncio.wait_for(second.receive(channel_b), 10)
    finally:
        await first.flush()
        await second.flush()

    assert got_a["from"] == "a"
    assert got_b["from"] == "b"
