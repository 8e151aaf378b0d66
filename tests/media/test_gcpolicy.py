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
