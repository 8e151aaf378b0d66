"""Edges: a Space's encoded listener mix carried from its origin worker to other workers.

The origin encodes one Opus packet per 20 ms tick for every listener. With edges, it also hands
that packet to a :class:`MixPublisher`, which publishes it (one message per tick per Space,
nothing per listener) while at least one edge is subscribed; an edge worker feeds each message it
receives to :meth:`media.worker.MediaWorker.relay`, which fans it out to its own listeners with the
same direct loop (``media.fanout``) the origin uses. No Redis here: the transport is a coroutine
the caller passes in (``spaces.audio.process`` uses Redis pub/sub).

The message is a fixed 24-byte header and the payload:

- ``epoch``: random per origin instance: a new origin (the old one died, the Space was placed
  again) restarts its tick index at 0, and the edge keeps its listeners' sequence numbers going;
- ``index``: the origin's tick index (RTP sequence number and timestamp derive from it, as in
  ``fan_out``), and the mix's audio level;
- ``deadline``: the tick's scheduled time on the wall clock, so an edge can drop packets that
  reach it late and measure the delay it adds over the origin's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

Key = Hashable
Publish = Callable[[Key, bytes], Awaitable[int]]
"""(space_id, message) -> how many edges received it (Redis PUBLISH's answer)."""

_MIX = struct.Struct("!4sIQBxxxd")
MAGIC = b"MIX1"
HEADER_BYTES = _MIX.size


@dataclass(frozen=True)
class MixPacket:
    epoch: int
    index: int
    level: int
    deadline: float
    """The tick's scheduled time, wall clock (``time.time()`` scale)."""
    payload: bytes

    def dumps(self) -> bytes:
        return (
            _MIX.pack(MAGIC, self.epoch & 0xFFFFFFFF, self.index, self.level & 0x7F, self.deadline)
            + self.payload
        )

    @classmethod
    def loads(cls, data: bytes) -> MixPacket:
        if len(data) < HEADER_BYTES:
            raise ValueError("mix message too short")
        magic, epoch, index, level, deadline = _MIX.unpack_from(data)
        if magic != MAGIC:
            raise ValueError("not a mix message")
        return cls(epoch, index, level, deadline, bytes(data[HEADER_BYTES:]))


class MixPublisher:
    """Publishes the mix of the Spaces some edge asked for, from the origin's tick.

    ``offer`` runs inside the mix tick, so it only appends to a bounded queue; one task sends.
    Publishing a Space starts with ``want`` (an edge said it serves the Space) and stops when a
    publish reaches no subscriber (every edge left): an origin without edges pays nothing. If
    the transport falls behind, the oldest packets are dropped rather than delayed.
    """

    QUEUE = 64

    def __init__(self, publish: Publish) -> None:
        self._publish = publish
        self._wanted: set[Key] = set()
        self._queue: deque[tuple[Key, bytes]] = deque(maxlen=self.QUEUE)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.dropped = 0
        self.failed = 0

    def want(self, space_id: Key) -> None:
        self._wanted.add(space_id)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    def wanted(self, space_id: Key) -> bool:
        return space_id in self._wanted

    def spaces(self) -> list[Key]:
        return list(self._wanted)

    def forget(self, space_id: Key) -> None:
        self._wanted.discard(space_id)

    def offer(self, space_id: Key, packet: MixPacket) -> None:
        if space_id not in self._wanted:
            return
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append((space_id, packet.dumps()))
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                space_id, message = self._queue.popleft()
                if space_id not in self._wanted:
                    continue
                try:
                    receivers = await self._publish(space_id, message)
                except Exception:
                    self.failed += 1
                    logger.warning("mix of space %s: publish failed", space_id, exc_info=True)
                    continue
                self.published += 1
                if receivers == 0:
                    # No edge listens any more; one that comes back asks again (``want``).
                    self._wanted.discard(space_id)

    async def close(self) -> None:
        self._wanted.clear()
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
