"""Placement of Spaces on media workers, against the real Redis (spaces.audio.placement)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis

from spaces.audio import placement
from spaces.audio.placement import WorkerInfo

pytestmark = [pytest.mark.redis, pytest.mark.asyncio]


@pytest_asyncio.fixture
async def registry(settings) -> AsyncIterator[redis.Redis]:
    """A sync view of this run's registry keys, emptied before and after."""
    sync = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)

    def clear() -> None:
        keys = list(sync.scan_iter(match=f"{placement.prefix()}*"))
        if keys:
            sync.delete(*keys)

    clear()
    try:
        yield sync
    finally:
        clear()
        sync.close()
        await placement.close_client()


def worker(worker_id: str, load: int = 0, spaces: tuple[int, ...] = ()) -> WorkerInfo:
    return WorkerInfo(id=worker_id, channel=f"chan.{worker_id}", load=load, spaces=list(spaces))


async def test_no_live_worker_places_nothing(registry: redis.Redis) -> None:
    assert await placement.place(1) is None
    assert registry.get(placement.space_key(1)) is None


async def test_a_space_goes_to_the_least_loaded_worker_and_stays_there(
    registry: redis.Redis,
) -> None:
    await placement.heartbeat(worker("a", load=5))
    await placement.heartbeat(worker("b", load=2))
    chosen = await placement.place(7)
    assert chosen is not None
    assert (chosen.id, chosen.channel) == ("b", "chan.b")
    assert registry.get(placement.space_key(7)) == "b"
    assert 0 < registry.pttl(placement.space_key(7)) <= placement.ttl_ms()
    # The placement counts at once: b is at 3, and another Space still goes to b (3 < 5)...
    assert registry.zscore(placement.load_key(), "b") == 3
    # ...but the same Space stays on b even when b becomes the busier one.
    await placement.heartbeat(worker("b", load=50))
    again = await placement.place(7)
    assert again is not None
    assert again.id == "b"
    other = await placement.place(8)
    assert other is not None
    assert other.id == "a"


async def test_two_spaces_placed_between_heartbeats_spread_over_two_workers(
    registry: redis.Redis,
) -> None:
    await placement.heartbeat(worker("a"))
    await placement.heartbeat(worker("b"))
    first, second = await placement.place(1), await placement.place(2)
    assert first is not None
    assert second is not None
    assert {first.id, second.id} == {"a", "b"}


async def test_a_heartbeat_while_a_placement_is_in_flight_does_not_undo_its_count(
    registry: redis.Redis,
) -> None:
    # The offer of Space 1 has not reached a yet, so a's next heartbeat still says 0: were the
    # +1 undone, Space 2 would tie with b and go to a (the smaller id) too.
    await placement.heartbeat(worker("a"))
    await placement.heartbeat(worker("b"))
    assert (await placement.place(1)).id == "a"  # type: ignore[union-attr]
    await placement.heartbeat(worker("a", load=0))
    assert registry.zscore(placement.load_key(), "a") == 1
    assert (await placement.place(2)).id == "b"  # type: ignore[union-attr]
    await placement.heartbeat(worker("a", load=4))  # a higher figure is taken at once
    assert registry.zscore(placement.load_key(), "a") == 4
    assert 0 < registry.pttl(placement.placing_key("a")) <= placement.IN_FLIGHT_MS
    registry.delete(placement.placing_key("a"))  # what the key's expiry does
    await placement.heartbeat(worker("a", load=0))
    assert registry.zscore(placement.load_key(), "a") == 0


async def test_an_edge_pick_counts_at_once_like_a_placement(registry: redis.Redis) -> None:
    await placement.heartbeat(worker("a"))
    await placement.heartbeat(worker("b"))
    await placement.heartbeat(worker("c"))
    assert (await placement.pick_edge("a")).id == "b"  # type: ignore[union-attr]
    await placement.heartbeat(worker("b", load=0))
    assert (await placement.pick_edge("a")).id == "c"  # type: ignore[union-attr]


async def test_a_dead_workers_space_is_placed_again_and_the_dead_worker_forgotten(
    registry: redis.Redis,
) -> None:
    await placement.heartbeat(worker("a"))
    await placement.heartbeat(worker("b", load=9))
    assert (await placement.place(3)).id == "a"  # type: ignore[union-attr]
    registry.delete(placement.worker_key("a"))  # what the TTL does to a killed worker
    moved = await placement.place(3)
    assert moved is not None
    assert moved.id == "b"
    assert registry.get(placement.space_key(3)) == "b"
    assert registry.zscore(placement.load_key(), "a") is None
    assert [w.id for w in await placement.live_workers()] == ["b"]


async def test_placed_never_places_and_ignores_a_dead_worker(registry: redis.Redis) -> None:
    await placement.heartbeat(worker("a"))
    assert await placement.placed(4) is None
    assert registry.get(placement.space_key(4)) is None
    await placement.place(4)
    assert (await placement.placed(4)).id == "a"  # type: ignore[union-attr]
    registry.delete(placement.worker_key("a"))
    assert await placement.placed(4) is None


async def test_a_heartbeat_renews_only_its_own_placements(registry: redis.Redis) -> None:
    await placement.heartbeat(worker("a"))
    await placement.heartbeat(worker("b", load=1))
    await placement.place(5)  # on a
    registry.pexpire(placement.space_key(5), 500)
    # b claims to host 5 and 6: it may not take 5 from a live a (it is told to let it go), but
    # 6 (unplaced) is its own.
    assert await placement.heartbeat(worker("b", load=1, spaces=(5, 6))) == [5]
    assert registry.get(placement.space_key(5)) == "a"
    assert registry.pttl(placement.space_key(5)) <= 500
    assert registry.get(placement.space_key(6)) == "b"
    assert await placement.heartbeat(worker("a", spaces=(5,))) == []
    assert registry.pttl(placement.space_key(5)) > 500


async def test_deregistering_frees_the_workers_own_placements_only(registry: redis.Redis) -> None:
    await placement.heartbeat(worker("a"))
    await placement.heartbeat(worker("b", load=1))
    await placement.place(1)  # a
    await placement.heartbeat(worker("a", load=9))
    await placement.place(2)  # b
    await placement.deregister("a", [1, 2])
    assert registry.get(placement.worker_key("a")) is None
    assert registry.get(placement.space_key(1)) is None
    assert registry.get(placement.space_key(2)) == "b"
    assert registry.zscore(placement.load_key(), "a") is None


async def test_an_edge_is_the_least_loaded_live_worker_other_than_the_origin(
    registry: redis.Redis,
) -> None:
    await placement.heartbeat(worker("a"))
    assert await placement.pick_edge("a") is None  # nobody else: the origin keeps them
    await placement.heartbeat(worker("b", load=4))
    await placement.heartbeat(worker("c", load=3))
    picked = await placement.pick_edge("a")
    assert picked is not None
    assert (picked.id, picked.channel) == ("c", "chan.c")  # a is the least loaded, but origin
    assert registry.zscore(placement.load_key(), "c") == 4  # counted at once
    # b and c tie at 4 and b (the smaller id) comes first, but it is dead: skipped, forgotten.
    registry.delete(placement.worker_key("b"))
    again = await placement.pick_edge("a")
    assert again is not None
    assert again.id == "c"
    assert registry.zscore(placement.load_key(), "b") is None


async def test_a_registration_round_trips() -> None:
    info = WorkerInfo(id="w", channel="c!x", hosts=["127.0.0.1"], load=3, spaces=[1, 2], pid=9)
    assert WorkerInfo.loads(info.dumps()) == info
