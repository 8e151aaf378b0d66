"""The handshake's Origin check: a browser's socket must come from this very site, scheme, host
and port alike (issue 16, item 4). Another port of the same host is another site: a page served
there must not open a socket with the victim's cookie."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from tests.factories import SpaceFactory, UserFactory
from tests.realtime.conftest import Socket, application, session_key_for, space_path
from tests.realtime.helpers import db

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def browser_socket(
    path: str, *, host: str, origin: str, cookie: str, scheme: str | None = None
) -> Socket:
    headers = [
        (b"host", host.encode()),
        (b"origin", origin.encode()),
        (b"cookie", f"sessionid={cookie}".encode()),
    ]
    comm = WebsocketCommunicator(application, path, headers=headers)
    if scheme is not None:
        comm.scope["scheme"] = scheme
    return Socket(comm)


async def handshake(sock: Socket) -> bool:
    try:
        return await sock.connect()
    finally:
        await sock.close()


async def signed_in() -> tuple[str, str]:
    space = await db(SpaceFactory)()
    user = await db(UserFactory)()
    return space_path(space.pk), await db(session_key_for)(user)


async def test_a_cookie_from_another_port_of_the_same_host_is_refused_at_the_handshake():
    path, key = await signed_in()
    sock = browser_socket(path, host="localhost:8000", origin="http://localhost:6666", cookie=key)
    assert not await handshake(sock)


async def test_an_origin_without_the_servers_port_is_refused():
    path, key = await signed_in()
    sock = browser_socket(path, host="localhost:8000", origin="http://localhost", cookie=key)
    assert not await handshake(sock)


async def test_an_http_origin_on_a_tls_socket_is_refused():
    path, key = await signed_in()
    sock = browser_socket(
        path, host="localhost", origin="http://localhost", cookie=key, scheme="wss"
    )
    assert not await handshake(sock)


async def test_the_same_origin_with_its_port_is_accepted():
    path, key = await signed_in()
    sock = browser_socket(path, host="localhost:8000", origin="http://localhost:8000", cookie=key)
    try:
        assert await sock.connect()
        state = await sock.next()
    finally:
        await sock.close()
    assert state["type"] == "space.state"


async def test_a_tls_origin_on_a_tls_socket_is_accepted_without_the_default_port():
    path, key = await signed_in()
    sock = browser_socket(
        path, host="localhost:443", origin="https://localhost", cookie=key, scheme="wss"
    )
    try:
        assert await sock.connect()
        assert (await sock.next())["type"] == "space.state"
    finally:
        await sock.close()


async def test_a_host_outside_allowed_hosts_is_refused_even_with_a_matching_origin(settings):
    settings.ALLOWED_HOSTS = ["spaces.example"]
    path, key = await signed_in()
    sock = browser_socket(path, host="evil.example", origin="http://evil.example", cookie=key)
    assert not await handshake(sock)


async def test_a_csrf_trusted_origin_is_accepted_with_its_exact_port(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.spaces.example:8443"]
    path, key = await signed_in()
    sock = browser_socket(
        path, host="localhost", origin="https://app.spaces.example:8443", cookie=key
    )
    try:
        assert await sock.connect()
        assert (await sock.next())["type"] == "space.state"
    finally:
        await sock.close()
    other_port = browser_socket(
        path, host="localhost", origin="https://app.spaces.example:9443", cookie=key
    )
    assert not await handshake(other_port)


async def test_an_app_without_origin_still_signs_in_with_its_token(open_socket):
    space = await db(SpaceFactory)()
    user = await db(UserFactory)()
    async with open_socket(user, space_path(space.pk), how="token") as ws:
        state = await ws.next()
    assert state["me"]["user"]["id"] == user.pk
