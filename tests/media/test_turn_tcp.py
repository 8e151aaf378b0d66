"""A relay-only client through Debian's coturn over TCP joins a Space's audio and hears (#23).

coturn runs on loopback with ``use-auth-secret``/``static-auth-secret`` set to the project's
``TURN_SECRET``; the client takes its iceServers from the bridge (what the site hands a browser)
and keeps the ``?transport=tcp`` URL, with iceTransportPolicy "relay".
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from aiortc import RTCIceServer

from bench.network_paths import Coturn, nominated_pair, turnserver_missing
from media.client import MediaClient, ToneTrack, tone_amplitude
from media.worker import MediaWorker
from spaces.audio.bridge import ice_servers_for
from tests.media.conftest import ClientFactory
from tests.media.mixcheck import FRAME_HAS_TONE, until

pytestmark = [pytest.mark.media, pytest.mark.asyncio, pytest.mark.timeout(90)]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def coturn_binary() -> None:
    missing = turnserver_missing()
    if missing:
        if IN_CI:
            pytest.fail(f"CI=true and this test {missing}", pytrace=False)
        pytest.skip(missing)


def frames_with_tone(client: MediaClient, frequency: float) -> int:
    return sum(tone_amplitude(f.pcm, frequency) > FRAME_HAS_TONE for f in client.frames)


def tcp_servers(servers: list[dict[str, Any]]) -> list[RTCIceServer]:
    return [
        RTCIceServer(
            [u for u in s["urls"] if u.endswith("?transport=tcp")], s["username"], s["credential"]
        )
        for s in servers
    ]


@pytest.mark.usefixtures("coturn_binary")
async def test_a_relay_only_client_joins_through_turn_over_tcp_and_hears_the_mix(
    join: ClientFactory, worker: MediaWorker, space: str, settings: Any
) -> None:
    with Coturn("turn-test-secret") as turn:
        settings.TURN_URL = f"turn:127.0.0.1:{turn.port}"
        settings.TURN_SECRET = turn.secret
        servers = ice_servers_for(7)
        # A URL without a transport is handed out over UDP and TCP.
        assert servers[0]["urls"] == [
            f"turn:127.0.0.1:{turn.port}?transport=udp",
            f"turn:127.0.0.1:{turn.port}?transport=tcp",
        ]
        await join("talker", "speaker", send=ToneTrack(440), receive="none")
        client = await join(
            "7", "listener", ice_servers=tcp_servers(servers), relay_only=True, receive="decode"
        )
        ice = client.pc.getTransceivers()[0].receiver.transport.transport
        gathered = ice.iceGatherer.getLocalCandidates()
        assert {c.type for c in gathered} == {"relay"}
        assert ice.iceGatherer._connection.turn_transport == "tcp"
        pair = nominated_pair(client)
        assert pair is not None
        assert pair.local_candidate.type == "relay"
        assert await until(lambda: frames_with_tone(client, 440) >= 25), (
            f"nothing heard through TURN; coturn said:\n{turn.log_tail()}"
        )


@pytest.mark.usefixtures("coturn_binary")
async def test_turn_refuses_credentials_signed_with_another_secret(
    worker: MediaWorker, space: str, settings: Any
) -> None:
    with Coturn("the-real-secret") as turn:
        settings.TURN_URL = f"turn:127.0.0.1:{turn.port}"
        settings.TURN_SECRET = "not-the-secret"
        client = MediaClient(
            lambda offer: worker.join(space, "7", "listener", offer),
            ice_servers=tcp_servers(ice_servers_for(7)),
            relay_only=True,
        )
        try:
            # aioice's own error for the 401, or no connection in time: either is a refusal.
            with pytest.raises(Exception):  # noqa: B017
                await client.connect(within=10)
            assert not client.connected.is_set()
        finally:
            await client.close()
