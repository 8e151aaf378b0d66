"""ICE configuration: no public STUN by default, TURN credentials in coturn's REST scheme.

aiortc replaces ``iceServers=None`` with Google's STUN server; an empty list is kept as it is
(checked in ``compat`` and ``tests/media/test_ice.py``), so the worker always passes a list.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aioice import ice as aioice_ice
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy


@dataclass(frozen=True)
class TurnCredentials:
    username: str
    credential: str
    ttl: int
    expires_at: int


def turn_credentials(
    user_id: int | str, secret: str, ttl: int, *, now: float | None = None
) -> TurnCredentials:
    """Time-limited TURN credentials in coturn's shared-secret (REST API) scheme.

    username = "<unix expiry>:<user_id>", credential = base64(HMAC-SHA1(secret, username)).
    coturn checks them with ``use-auth-secret`` + ``static-auth-secret=<secret>``.
    """
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    expires_at = int(time.time() if now is None else now) + int(ttl)
    username = f"{expires_at}:{user_id}"
    digest = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return TurnCredentials(
        username=username,
        credential=base64.b64encode(digest).decode("ascii"),
        ttl=int(ttl),
        expires_at=expires_at,
    )


def client_ice_servers(
    user_id: int | str,
    *,
    turn_urls: Sequence[str] = (),
    turn_secret: str = "",
    ttl: int = 86_400,
    stun_urls: Sequence[str] = (),
    now: float | None = None,
) -> list[dict[str, Any]]:
    """The ``iceServers`` list a client gets in its join response (browser dictionary shape).

    Empty unless TURN or STUN is configured: nothing public is contacted by default.
    """
    servers: list[dict[str, Any]] = []
    if stun_urls:
        servers.append({"urls": list(stun_urls)})
    if turn_urls and turn_secret:
        creds = turn_credentials(user_id, turn_secret, ttl, now=now)
        servers.append(
            {"urls": list(turn_urls), "username": creds.username, "credential": creds.credential}
        )
    return servers


def with_turn_tcp(urls: Sequence[str]) -> list[str]:
    """Each ``turn:`` URL that names no transport, offered over UDP and over TCP.

    coturn listens on both by default on the same port; TCP is what gets through a network that
    blocks UDP. Browsers try every URL; aiortc (and so ``media.client``) uses the first TURN URL
    only, so UDP comes first. URLs that name a transport, and ``turns:``, are kept as they are.
    """
    out: list[str] = []
    for url in urls:
        if url.startswith("turn:") and "?" not in url:
            out += [f"{url}?transport=udp", f"{url}?transport=tcp"]
        else:
            out.append(url)
    return out


def rtc_configuration(
    ice_servers: Sequence[RTCIceServer] = (), *, relay_only: bool = False
) -> RTCConfiguration:
    """An RTCConfiguration that never falls back to aiortc's default (Google) STUN server.

    ``relay_only``: iceTransportPolicy "relay", every path through the TURN server (a client on
    a network that lets nothing else out, or a test proving TURN works)."""
    policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=list(ice_servers), iceTransportPolicy=policy)


def configured_stun_turn(pc_or_gatherer_connection: Any) -> tuple[Any, Any]:
    """(stun_server, turn_server) an aioice Connection will contact; both None means none."""
    return pc_or_gatherer_connection.stun_server, pc_or_gatherer_connection.turn_server


_original_get_host_addresses = aioice_ice.get_host_addresses


def restrict_host_addresses(addresses: Sequence[str] | None) -> None:
    """Gather host candidates only on these local addresses (process-wide), or undo with None.

    aioice has no per-connection option for this and skips 127.0.0.1 by default; tests and
    benchmarks use it to stay on loopback, a multi-homed media host to pick its interface.
    """
    if addresses is None:
        aioice_ice.get_host_addresses = _original_get_host_addresses
        return
    chosen = [str(ipaddress.ip_address(a)) for a in addresses]

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [
            a
            for a in chosen
            if (use_ipv4 and ipaddress.ip_address(a).version == 4)
            or (use_ipv6 and ipaddress.ip_address(a).version == 6)
        ]

    aioice_ice.get_host_addresses = get_host_addresses
