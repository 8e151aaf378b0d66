"""ICE: nothing public is contacted by default; TURN credentials in coturn's REST scheme."""

from __future__ import annotations

import pytest
from aiortc import RTCIceServer
from aiortc.rtcicetransport import RTCIceGatherer

from media.client import MediaClient
from media.config import MediaConfig
from media.ice import client_ice_servers, rtc_configuration, turn_credentials
from media.worker import MediaWorker
from tests.media.conftest import ClientFactory


def test_an_empty_server_list_is_kept_while_none_means_googles_stun() -> None:
    """Why the worker always passes a list: aiortc's fallback is keyed on None alone."""
    assert RTCIceGatherer(iceServers=None)._connection.stun_server == (
        "stun.l.google.com",
        19302,
    )
    gatherer = RTCIceGatherer(iceServers=rtc_configuration().iceServers)
    assert gatherer._connection.stun_server is None
    assert gatherer._connection.turn_server is None


def test_the_default_media_config_has_no_ice_servers() -> None:
    assert MediaConfig().ice_servers == ()
    assert rtc_configuration(MediaConfig().ice_servers).iceServers == []


@pytest.mark.media
@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_no_stun_server_is_contacted_by_default(
    join: ClientFactory, worker: MediaWorker, space: str
) -> None:
    client = await join("listener", "listener", sendrecv=False, receive="count")
    for pc in (worker.connection(space, "listener"), client.pc):
        assert pc is not None
        for transceiver in pc.getTransceivers():
            ice = transceiver.receiver.transport.transport
            assert ice.iceGatherer._connection.stun_server is None
            assert ice.iceGatherer._connection.turn_server is None
            candidate_types = {c.type for c in ice.iceGatherer.getLocalCandidates()}
            assert candidate_types == {"host"}


def test_a_configured_turn_server_reaches_the_ice_agent() -> None:
    creds = turn_credentials("alice", "north", 600, now=1_700_000_000)
    server = RTCIceServer(
        "turn:turn.example.org:3478", username=creds.username, credential=creds.credential
    )
    gatherer = RTCIceGatherer(iceServers=rtc_configuration([server]).iceServers)
    assert gatherer._connection.turn_server == ("turn.example.org", 3478)
    assert gatherer._connection.stun_server is None


def test_turn_credentials_match_coturns_rest_scheme_on_a_known_vector() -> None:
    # Independently computed: printf '1700086400:alice' | openssl dgst -sha1 -hmac north
    # -binary | base64
    creds = turn_credentials("alice", "north", 86_400, now=1_700_000_000)
    assert creds.username == "1700086400:alice"
    assert creds.credential == "SXua5ne/+mDhiHTp0pQJzRO4ESg="
    assert creds.expires_at == 1_700_086_400
    # And a second vector: expiry 1433895918, user "guest", secret "secret".
    assert turn_credentials("guest", "secret", 18, now=1_433_895_900).credential == (
        "RcBIokUDz8+LcPjes+BCiMNxuVg="
    )


def test_turn_credentials_refuse_a_non_positive_ttl() -> None:
    with pytest.raises(ValueError, match="ttl"):
        turn_credentials(1, "s", 0)


def test_clients_get_no_ice_servers_unless_turn_is_configured() -> None:
    assert client_ice_servers(7) == []
    servers = client_ice_servers(
        7, turn_urls=["turn:turn.example.org:3478"], turn_secret="north", ttl=60, now=100
    )
    assert servers == [
        {
            "urls": ["turn:turn.example.org:3478"],
            "username": "160:7",
            "credential": turn_credentials(7, "north", 60, now=100).credential,
        }
    ]


def test_the_client_defaults_to_no_ice_servers() -> None:
    async def never(offer: str) -> str:
        raise AssertionError

    client = MediaClient(never)
    assert client.pc._RTCPeerConnection__configuration.iceServers == []  # type: ignore[attr-defined]
