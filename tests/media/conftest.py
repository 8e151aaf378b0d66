"""Real aiortc peers over loopback: a worker and clients on the test's event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from media.client import MediaClient
from media.config import MediaConfig
from media.ice import restrict_host_addresses
from media.worker import MediaWorker

SPACE = "space-1"

ClientFactory = Callable[..., Awaitable[MediaClient]]


@pytest_asyncio.fixture
async def worker() -> AsyncIterator[MediaWorker]:
    worker = MediaWorker(MediaConfig(host_addresses=("127.0.0.1",)))
    try:
        yield worker
    finally:
        await worker.close()
        restrict_host_addresses(None)


@pytest_asyncio.fixture
async def join(worker: MediaWorker) -> AsyncIterator[ClientFactory]:
    """``await join(user_id, role, **MediaClient kwargs)``: a connected client."""
    clients: list[MediaClient] = []

    async def make(user_id: str, role: str, **kwargs: object) -> MediaClient:
        async def exchange(offer: str) -> str:
            return await worker.join(SPACE, user_id, role, offer)

        client = MediaClient(exchange, name=user_id, **kwargs)  # type: ignore[arg-type]
        clients.append(client)
        await client.connect(within=10)
        assert await worker.wait_connected(SPACE, user_id, within=10)
        return client

    try:
        yield make
    finally:
        for client in clients:
            await client.close()


@pytest.fixture
def space() -> str:
    return SPACE
