"""Who is on the other end of a WebSocket: browsers by session cookie, apps by session token.

Browsers always send an `Origin` header, and it must be one of ours: that is what stops another
site from opening a socket with the user's cookies. Native apps send no Origin; for them the
cookie is ignored and only the `X-Session-Token` header (allauth headless, the same token as the
API) authenticates. A page cannot set that header on a browser WebSocket, so a cross-site page
gains nothing from omitting Origin.
"""

from __future__ import annotations

from typing import Any

from allauth.headless.internal.sessionkit import authenticate_by_x_session_token
from channels.auth import AuthMiddlewareStack
from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from spaces_project.dbthreads import socket_db

Scope = dict[str, Any]


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


class BrowserOriginOrNativeApp(OriginValidator):
    """Origin must be ours when present; when absent, cookies are dropped (token-only auth)."""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        if header(scope, b"origin") is None:
            headers = [(k, v) for k, v in scope.get("headers", []) if k != b"cookie"]
            scope = {**scope, "headers": headers, "native_client": True}
        return await super().__call__(scope, receive, send)

    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None:
            return True
        return bool(self.validate_origin(parsed_origin))


@socket_db
def _user_for_token(token: str) -> Any:
    result = authenticate_by_x_session_token(token)
    if result is None or not result[0].is_active:
        return AnonymousUser()
    return result[0]


class SessionTokenMiddleware(BaseMiddleware):
    """An `X-Session-Token` header, when sent, decides the user (a bad token means anonymous)."""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        token = header(scope, b"x-session-token")
        if token:
            scope = {**scope, "user": await _user_for_token(token), "auth_method": "token"}
        return await super().__call__(scope, receive, send)


def websocket_stack(inner: Any) -> Any:
    allowed = settings.ALLOWED_HOSTS or ["localhost", "127.0.0.1", "[::1]"]
    if settings.DEBUG:
        allowed = [*allowed, "localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginOrNativeApp(
        AuthMiddlewareStack(SessionTokenMiddleware(inner)), allowed_origins=allowed
    )
