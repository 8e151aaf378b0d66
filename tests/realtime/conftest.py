"""Sockets against the real ASGI application (origin check, auth, routing, consumers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from accounts.models import User
from spaces_project import ticker

# The periodic sweeps must not run on a thread of the test process against the test database:
# tests call the sweep themselves. (Marks the ticker as started before asgi.py starts it.)
ticker._started.set()

from spaces_project.asgi import application  # noqa: E402

ORIGIN = b"http://localhost"
TIMEOUT = 10


def session_key_for(user: User) -> str:
    """A signed-in session: its key is the site cookie and the app's X-Session-Token alike."""
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    assert store.session_key
    return store.session_key


class Socket:
    """A WebsocketCommunicator with the reads the tests need; every read is bounded."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.comm = communicator
        self.seen: list[dict[str, Any]] = []
        self.closed_with: int | None = None

    async def connect(self) -> bool:
        connected, _ = await self.comm.connect(timeout=TIMEOUT)
        return bool(connected)

    async def send(self, message: dict[str, Any]) -> None:
        await self.comm.send_json_to(message)

    async def send_text(self, text: str) -> None:
        await self.comm.send_to(text_data=text)

    async def next(self) -> dict[str, Any]:
        """The next message; a close becomes {"type": "closed", "code": ...}."""
        output = await self.comm.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            self.closed_with = output.get("code")
            message = {"type": "closed", "code": output.get("code")}
        else:
            import json

            message = json.loads(output["text"])
        self.seen.append(message)
        return message

    async def until(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Read until a message matches; fail on a close that does not."""
        while True:
            message = await self.next()
            if predicate(message):
                return message
            assert message["type"] != "closed", f"closed while waiting: {self.seen}"

    async def until_type(self, kind: str) -> dict[str, Any]:
        return await self.until(lambda m: m["type"] == kind)

    async def reply(self, request_id: Any) -> dict[str, Any]:
        return await self.until(
            lambda m: m["type"] in ("ack", "error") and m.get("id") == request_id
        )

    async def act(self, action: str, rid: Any = None, **fields: Any) -> dict[str, Any]:
        """Send an action and return its ack or error (other messages are kept in `seen`)."""
        rid = rid if rid is not None else f"{action}-{len(self.seen)}"
        await self.send({"action": action, "id": rid, **fields})
        return await self.reply(rid)

    async def close(self) -> None:
        await self.comm.disconnect()


def communicator(
    path: str, *, token: str | None = None, cookie: str | None = None, origin: bytes | None = None
) -> WebsocketCommunicator:
    headers: list[tuple[bytes, bytes]] = [(b"host", b"localhost")]
    if origin is not None:
        headers.append((b"origin", origin))
    if token is not None:
        headers.append((b"x-session-token", token.encode()))
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


@pytest.fixture
def open_socket() -> Callable[..., Any]:
    """`async with open_socket(user, "/ws/spaces/1/") as ws:` connects with an app token, and
    always disconnects."""

    @asynccontextmanager
    async def make(
        user: User | None, path: str, *, how: str = "token", origin: bytes | None = None
    ) -> AsyncIterator[Socket]:
        token = cookie = None
        if user is not None:
            key = await database_sync_to_async(session_key_for)(user)
            token, cookie = (key, None) if how == "token" else (None, key)
        sock = Socket(communicator(path, token=token, cookie=cookie, origin=origin))
        try:
            assert await sock.connect()
            yield sock
        finally:
            await sock.close()

    return make


def space_path(space_id: int) -> str:
    return f"/ws/spaces/{space_id}/"


@pytest.fixture(scope="session", autouse=True)
def _close_database_pools_last(django_db_setup: None, django_db_blocker: Any) -> Any:
    """Socket work runs on its own threads; their pooled PostgreSQL connections must be closed
    before the test database is dropped."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for conn in connections.all():
            close_pool = getattr(conn, "close_pool", None)
            if close_pool is not None:
                close_pool()
