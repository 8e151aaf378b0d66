"""The GC policy: freeze after joins settle; refresh once closed peers outnumber live ones."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from media.gcpolicy import GcFreezer
from tests.media.mixcheck import until


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


@pytest.mark.asyncio
async def test_joins_are_frozen_once_they_settle_and_refreshed_after_churn() -> None:
    freezer = GcFreezer(settle=0.05, refresh_floor=3)
    for _ in range(5):
        freezer.peer_connected()
    assert freezer.freezes == 0  # debounced while joins keep coming
    assert await until(lambda: freezer.freezes == 1, within=10)  # once they settle
    assert gc.get_freeze_count() > 0

    for _ in range(3):
        freezer.peer_closed()
    await asyncio.sleep(0.15)
    assert freezer.refreshes == 0  # 3 closed is not more than max(3, 2 * 2 live)
    for _ in range(2):
        freezer.peer_closed()
    assert await until(lambda: freezer.refreshes == 1, within=10)
    assert freezer.closed_since_refresh == 0
    freezer.cancel()


@pytest.mark.asyncio
async def test_joins_that_never_pause_are_frozen_after_max_wait() -> None:
    freezer = GcFreezer(settle=0.2, max_wait=0.3, refresh_floor=3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    # A join every 0.05 s for 0.6 s: never quiet for `settle`, so only `max_wait` can freeze.
    while loop.time() - started < 0.6:
        freezer.peer_connected()
        await asyncio.sleep(0.05)
    frozen_while_joining = freezer.freezes
    freezer.cancel()
    assert frozen_while_joining >= 1


@pytest.mark.asyncio
async def test_a_quiet_burst_still_waits_for_settle() -> None:
    freezer = GcFreezer(settle=0.1, max_wait=5.0, refresh_floor=3)
    freezer.peer_connected()
    await asyncio.sleep(0.02)
    assert freezer.freezes == 0
    assert await until(lambda: freezer.freezes == 1, within=10)
    freezer.cancel()
