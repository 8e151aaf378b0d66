"""A socket's `error` frames are in its person's language: their own setting, else the
handshake's Accept-Language; the `code` does not change. Both kinds of refusal are checked: one
the consumer writes itself (a malformed message) and one a service raises in a database thread
(which inherits the socket's language)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from spaces_project.asgi import application
from tests.factories import SpaceFactory, UserFactory
from tests.realtime.conftest import Socket, session_key_for, space_path
from tests.realtime.helpers import db

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@asynccontextmanager
async def socket(user: Any, path: str, *, accept_language: str | None = None) -> Any:
    key = await database_sync_to_async(session_key_for)(user)
    headers = [(b"host", b"localhost"), (b"x-session-token", key.encode())]
    if accept_language is not None:
        headers.append((b"accept-language", accept_language.encode()))
    sock = Socket(WebsocketCommunicator(application, path, headers=headers))
    try:
        assert await sock.connect()
        yield sock
    finally:
        await sock.close()


async def _refusals(sock: Socket) -> tuple[dict[str, Any], dict[str, Any]]:
    await sock.next()
    unknown = await sock.act("fly", rid="u1")
    # A listener may not approve: refused by the service, in a database thread.
    refused = await sock.act("approve", rid="a1", request_id=987654)
    return unknown, refused


async def test_a_person_who_chose_spanish_gets_spanish_error_frames():
    space = await db(SpaceFactory)()
    person = await db(UserFactory)(language="es")
    async with socket(person, space_path(space.pk)) as sock:
        unknown, refused = await _refusals(sock)
    assert unknown["code"] == "unknown_action"
    assert unknown["message"] == "Acción desconocida 'fly'."
    assert refused["code"] == "not_moderator"
    assert refused["message"] == "Solo el anfitrión o un coanfitrión puede hacer esto."


async def test_without_a_setting_the_handshake_accept_language_decides():
    space = await db(SpaceFactory)()
    person = await db(UserFactory)(language="")
    async with socket(person, space_path(space.pk), accept_language="es-ES,es;q=0.9") as sock:
        unknown, _ = await _refusals(sock)
    assert unknown["message"] == "Acción desconocida 'fly'."
    async with socket(person, space_path(space.pk)) as sock:
        unknown, _ = await _refusals(sock)
    assert unknown["message"] == "Unknown action 'fly'."
    assert unknown["code"] == "unknown_action"


async def test_a_service_refusal_on_the_socket_is_translated_with_its_code():
    space = await db(SpaceFactory)()
    english = await db(UserFactory)(language="en")
    spanish = await db(UserFactory)(language="es")
    async with socket(english, space_path(space.pk)) as sock:
        _, in_english = await _refusals(sock)
    async with socket(spanish, space_path(space.pk)) as sock:
        _, in_spanish = await _refusals(sock)
    assert in_english["code"] == in_spanish["code"]
    assert in_english["message"] == "Only the host or a co-host can do this."
    assert in_spanish["message"] == "Solo el anfitrión o un coanfitrión puede hacer esto."
