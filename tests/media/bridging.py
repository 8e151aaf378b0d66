"""The media bridge installed as the socket's signal handler, for tests that join real peers
through the room socket. Import the fixture into a test module: `from tests.media.bridging
import media`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from media.ice import restrict_host_addresses
from spaces.audio import bridge as bridge_module
from spaces.audio.bridge import MediaBridge


@pytest_asyncio.fixture
async def media(settings: Any) -> AsyncIterator[MediaBridge]:
    """The bridge installed as the socket's signal handler, its worker on loopback only."""
    settings.MEDIA_HOST_ADDRESSES = ("127.0.0.1",)
    bridge_module.install()
    try:
        yield bridge_module.bridge
    finally:
        await bridge_module.bridge.shutdown()
        bridge_module.uninstall()
        restrict_host_addresses(None)
