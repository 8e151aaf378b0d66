"""Keep CPython's cyclic garbage collector from stalling the 20 ms mix clock.

Each peer connection is thousands of container objects (aiortc, aioice, pyOpenSSL, asyncio). A
full (generation 2) collection walks all of them: measured at ~140 ms with 400 listeners on the
benchmark box, i.e. seven lost ticks for everyone. Nearly all of those objects live as long as
their connection, so once joins settle the worker moves them to the permanent generation
(``gc.freeze``): later collections only walk what is new. The cost is that reference cycles of
connections closed after a freeze are only reclaimed at a refresh (unfreeze + full collect +
freeze), done when the closed connections outnumber both a floor and twice the live ones, so the
pause is paid rarely and in proportion to the churn it cleans up.

The socket servers use the same policy for their WebSocket connections (spaces/realtime/hub.py): a
Daphne process holding 1000 listeners spent 200-275 ms in each full collection (bench/RESULTS.md,
"Room events"), long enough to put every room event of that moment past its latency goal.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

logger = logging.getLogger(__name__)


class GcFreezer:
    def __init__(
        self, *, settle: float = 1.0, max_wait: float = 10.0, refresh_floor: int = 100
    ) -> None:
        self._settle = settle
        self._max_wait = max_wait
        self._refresh_floor = refresh_floor
        self._handle: asyncio.TimerHandle | None = None
        self._due_at: float | None = None  # loop time by which a pending freeze must run
        self._refresh_due = False
        self.live = 0
        self.closed_since_refresh = 0
        self.freezes = 0
        self.refreshes = 0
        self.last_pause_ms = 0.0

    def peer_connected(self) -> None:
        self.live += 1
        self._schedule()

    def peer_closed(self) -> None:
        self.live = max(0, self.live - 1)
        self.closed_since_refresh += 1
        if self.closed_since_refresh > max(self._refresh_floor, 2 * self.live):
            self._refresh_due = True
            self._schedule()

    def _schedule(self) -> None:
        """Debounced: one freeze after a burst of joins has been quiet for ``settle`` seconds,
        and at most ``max_wait`` after the first of them, so a Space that people keep joining
        (never quiet for a second) still gets its crowd frozen."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._due_at is None:
            self._due_at = now + self._max_wait
        if self._handle is not None:
            self._handle.cancel()
        self._handle = loop.call_at(min(now + self._settle, self._due_at), self._run)

    def _run(self) -> None:
        self._handle = None
        self._due_at = None
        started = time.perf_counter()
        if self._refresh_due:
            gc.unfreeze()
            gc.collect()
            self._refresh_due = False
            self.closed_since_refresh = 0
            self.refreshes += 1
        else:
            gc.collect(1)
        gc.freeze()
        self.freezes += 1
        self.last_pause_ms = (time.perf_counter() - started) * 1000
        logger.debug("gc freeze (%d frozen) in %.1f ms", gc.get_freeze_count(), self.last_pause_ms)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._due_at = None
