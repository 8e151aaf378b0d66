"""Where a Space's audio runs in the distributed shape: media workers registered in Redis.

Keys, under the channel layer's own prefix (a worker's channel name only means something on that
layer, and sharing its prefix keeps deployments and test runs that share one Redis apart):

- ``<prefix>:media:worker:<id>``: the worker's registration (JSON: channel, addresses, load...),
  with a TTL that its heartbeat renews. The key's existence is the definition of "live": a worker
  killed with SIGKILL stops renewing it and is gone one TTL later.
- ``<prefix>:media:load``: a sorted set, worker id -> load (connected peers plus joins in
  progress). Each heartbeat writes the real figure; each placement adds 1 at once, so Spaces
  placed between two heartbeats spread over the workers instead of piling on the first.
- ``<prefix>:media:placing:<id>``: set for ``IN_FLIGHT_MS`` by each placement on the worker. A
  placement's offer is still on its way to the worker for a moment, and the worker counts a
  join only once the offer arrives: a heartbeat in that moment would report the load without it
  and undo the placement's +1. While the key exists a heartbeat may raise the load, not lower it.
- ``<prefix>:media:space:<id>``: the worker that hosts the Space's origin. The hosting worker's
  heartbeat renews it while it has the Space; an idle Space's placement simply expires.
- ``<prefix>:media:mix:<id>``: not a key, the pub/sub channel on which the origin publishes the
  Space's encoded listener mix for its edges (``media.edge``).

A listener the origin has no room for goes to an edge (``pick_edge``): the least-loaded live
worker other than the origin, counted at once like a placement.

Placement is one Lua script, so concurrent offers from several ASGI processes agree on one
worker: keep the current placement while its worker is live, else take the least-loaded live
worker (ties: the smaller id) and drop dead ones from the load set on the way. The script reads
worker keys it is not given in KEYS, which is fine on one Redis (not on Redis Cluster).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings

_PLACE = """
local current = redis.call('GET', KEYS[1])
if current then
  local found = redis.call('GET', ARGV[1] .. current)
  if found then return found end
end
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local found = redis.call('GET', ARGV[1] .. id)
  if found then
    redis.call('SET', KEYS[1], id, 'PX', ARGV[2])
    redis.call('ZINCRBY', KEYS[2], 1, id)
    redis.call('SET', ARGV[3] .. id, 1, 'PX', ARGV[4])
    return found
  end
  redis.call('ZREM', KEYS[2], id)
end
redis.call('DEL', KEYS[1])
return false
"""

# Renew a placement only if it is ours (or lapsed while we still serve the Space).
_RENEW = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# The least-loaded live worker but ARGV[2] (the origin); dead ones leave the load set.
_PICK_EDGE = """
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if id ~= ARGV[2] then
    local found = redis.call('GET', ARGV[1] .. id)
    if found then
      redis.call('ZINCRBY', KEYS[1], 1, id)
      redis.call('SET', ARGV[3] .. id, 1, 'PX', ARGV[4])
      return found
    end
    redis.call('ZREM', KEYS[1], id)
  end
end
return false
"""

# A heartbeat's load: lower than the set's figure only once no placement is in flight.
_REPORT_LOAD = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  local current = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
  if current and current > tonumber(ARGV[2]) then return 0 end
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker publishes about itself; ``channel`` is where signaling requests go."""

    id: str
    channel: str
    hosts: list[str] = field(default_factory=list)
    load: int = 0
    spaces: list[int] = field(default_factory=list)
    pid: int = field(default_factory=os.getpid)

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, raw: bytes | str) -> WorkerInfo:
        data: dict[str, Any] = json.loads(raw)
        return cls(
            id=str(data["id"]),
            channel=str(data["channel"]),
            hosts=[str(h) for h in data.get("hosts", [])],
            load=int(data.get("load", 0)),
            spaces=[int(s) for s in data.get("spaces", [])],
            pid=int(data.get("pid", 0)),
        )


def prefix() -> str:
    layers: dict[str, dict[str, Any]] = settings.CHANNEL_LAYERS
    config: dict[str, Any] = layers["default"].get("CONFIG", {})
    return f"{config.get('prefix', 'spaces:asgi')}:media:"


def worker_key(worker_id: str) -> str:
    return f"{prefix()}worker:{worker_id}"


def space_key(space_id: int) -> str:
    return f"{prefix()}space:{space_id}"


def mix_channel(space_id: int) -> str:
    return f"{prefix()}mix:{space_id}"


def load_key() -> str:
    return f"{prefix()}load"


def placing_key(worker_id: str) -> str:
    return f"{prefix()}placing:{worker_id}"


# How long a placement's +1 outlives a lower heartbeat figure: an offer reaches its worker in
# milliseconds; two seconds covers a busy channel layer without holding a stale load for long.
IN_FLIGHT_MS = 2000


def ttl_ms() -> int:
    return max(1000, int(float(settings.MEDIA_WORKER_TTL_SECONDS) * 1000))


_clients: dict[asyncio.AbstractEventLoop, aioredis.Redis] = {}


def client() -> aioredis.Redis:
    """This loop's Redis client (redis.asyncio connections belong to one loop)."""
    loop = asyncio.get_running_loop()
    found = _clients.get(loop)
    if found is None:
        for old in [lp for lp in _clients if lp.is_closed()]:
            del _clients[old]
        found = _clients[loop] = aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    return found


async def close_client() -> None:
    found = _clients.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.aclose()


# --- The ASGI side ------------------------------------------------------------------------------


async def place(space_id: int) -> WorkerInfo | None:
    """The live worker that hosts the Space, placing it now if need be; None: no live worker."""
    found = await client().eval(
        _PLACE,
        2,
        space_key(space_id),
        load_key(),
        f"{prefix()}worker:",
        ttl_ms(),
        f"{prefix()}placing:",
        IN_FLIGHT_MS,
    )
    return WorkerInfo.loads(found) if found else None


async def placed(space_id: int) -> WorkerInfo | None:
    """The Space's live worker, without placing it (a `bye` must not start an origin)."""
    redis = client()
    current = await redis.get(space_key(space_id))
    if current is None:
        return None
    found = await redis.get(worker_key(str(current)))
    return WorkerInfo.loads(found) if found else None


async def pick_edge(origin_id: str) -> WorkerInfo | None:
    """The live worker to serve one more listener as an edge of `origin_id`; None: no other."""
    found = await client().eval(
        _PICK_EDGE,
        1,
        load_key(),
        f"{prefix()}worker:",
        origin_id,
        f"{prefix()}placing:",
        IN_FLIGHT_MS,
    )
    return WorkerInfo.loads(found) if found else None


async def live_workers() -> list[WorkerInfo]:
    redis = client()
    ids = [str(i) for i in await redis.zrange(load_key(), 0, -1)]
    if not ids:
        return []
    found = await redis.mget([worker_key(i) for i in ids])
    return [WorkerInfo.loads(raw) for raw in found if raw]


def live_worker_count() -> int:
    """Registered workers whose registration has not expired; blocking (readiness probes run
    on a thread of their own, spaces/metrics.py)."""
    import redis

    sync = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        ids = [
            i.decode() if isinstance(i, bytes) else str(i) for i in sync.zrange(load_key(), 0, -1)
        ]
        if not ids:
            return 0
        return sum(1 for raw in sync.mget([worker_key(i) for i in ids]) if raw)
    finally:
        sync.close()


# --- The worker side ----------------------------------------------------------------------------


async def heartbeat(info: WorkerInfo) -> list[int]:
    """Register or renew: the registration, the load, and the placements of hosted Spaces.

    Returns the hosted Spaces that are now placed on another worker (this one missed its
    renewals long enough to look dead): the caller must let them go."""
    ms = ttl_ms()
    redis = client()
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(worker_key(info.id), info.dumps(), px=ms)
        pipe.eval(_REPORT_LOAD, 2, load_key(), placing_key(info.id), info.id, info.load)
        for space_id in info.spaces:
            pipe.eval(_RENEW, 1, space_key(space_id), info.id, ms)
        results = await pipe.execute()
    return [s for s, renewed in zip(info.spaces, results[2:], strict=True) if not renewed]


async def deregister(worker_id: str, spaces: list[int]) -> None:
    """A clean exit: gone from the registry at once, and its Spaces free to be placed again."""
    redis = client()
    async with redis.pipeline(transaction=False) as pipe:
        pipe.delete(worker_key(worker_id))
        pipe.zrem(load_key(), worker_id)
        for space_id in spaces:
            pipe.eval(_RELEASE, 1, space_key(space_id), worker_id)
        await pipe.execute()
