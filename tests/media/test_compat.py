"""The private aiortc pieces the direct fan-out uses are still there (aiortc is pinned)."""

from __future__ import annotations

import re
from pathlib import Path

import aiortc
import pylibsrtp
import pytest

from media.compat import PINNED_AIORTC, check_aiortc_internals
from media.worker import MediaWorker
from tests.media.conftest import ClientFactory


def test_aiortc_is_the_pinned_version() -> None:
    assert aiortc.__version__ == PINNED_AIORTC
    requirements = (Path(__file__).parents[2] / "requirements.txt").read_text()
    assert re.search(rf"^aiortc=={re.escape(PINNED_AIORTC)}$", requirements, re.MULTILINE)


def test_the_private_pieces_are_where_the_worker_expects_them() -> None:
    check_aiortc_internals()


@pytest.mark.media
@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_a_connected_peer_exposes_them_at_runtime(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    await join("listener", "listener", sendrecv=False, receive="count")
    pc = worker.connection(space, "listener")
    transceiver = pc.getTransceivers()[0]
    sender = transceiver.sender
    dtls = sender.transport
    pair = dtls.transport._connection._nominated.get(1)
    assert isinstance(sender._ssrc, int)
    assert f"a=ssrc:{sender._ssrc} " in pc.localDescription.sdp
    assert isinstance(dtls._tx_srtp, pylibsrtp.Session)
    transport = pair.protocol.transport
    assert callable(transport.sendto)
    assert transport.get_write_buffer_size() == 0
    assert pair.remote_addr[0] == "127.0.0.1"
    outbound = worker._origins[space].members["listener"].peer.outbound
    assert outbound is not None
    assert outbound.ready
    assert outbound.ssrc == sender._ssrc
    assert outbound.srtp is dtls._tx_srtp
    assert callable(transceiver.receiver._handle_rtp_packet)
