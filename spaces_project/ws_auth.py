"""Who is on the other end of a WebSocket: browsers by session cookie, apps by session token.

Browsers always send an `Origin` header, and it must be this very site: the same scheme, host
and port as the socket's own request (the Host header, which must be one of ALLOWED_HOSTS), or one
of CSRF_TRUSTED_ORIGINS, exactly as Django's CSRF check judges a POST. That is what stops another
site from opening a socket with the user's cookies; another port of the same host is another site
(issue 16: Channels' AllowedHostsOriginValidator compared host names only). Native apps send no
Origin; for them the cookie is ignored and only the `X-Session-Token` header (allauth headless,
the same token as the API) authenticates. A page cannot set that header on a browser WebSocket, so
a cross-site page gains nothing from omitting Origin.

The socket remembers which session signed it in (`scope["auth_session"]`, a digest of the session
key): a logout of that session closes exactly its sockets (accounts/services.py,
`user_session_revoked`; spaces/realtime/revocation.py).
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

from allauth.headless.internal.sessionkit import authenticate_by_x_session_token
from channels.auth import AuthMiddlewareStack
from channels.middleware import BaseMiddleware
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from spaces_project.dbthreads import socket_db

Scope = dict[str, Any]

DEFAULT_PORTS = {"http": 80, "https": 443}


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def session_digest(session_key: str) -> str:
    """How a session is named on the channel layer: never the key itself (it signs the user in)."""
    return hashlib.sha256(f"spaces-ws-session:{session_key}".encode()).hexdigest()[:32]


def client_address(scope: Scope) -> str:
    """The address a socket comes from, by the rule every address limit follows
    (SPACES_TRUSTED_PROXIES, settings.py; DRF's NUM_PROXIES): with N trusted proxies, the N-th
    X-Forwarded-For entry from the right (the one our outermost proxy saw; what a client wrote
    further left is not believed), else the peer's address. Daphne's own --proxy-headers takes
    the leftmost entry, which the client writes itself, so the header is read here."""
    proxies = int(getattr(settings, "SPACES_TRUSTED_PROXIES", 0))
    if proxies > 0:
        forwarded = header(scope, b"x-forwarded-for")
        if forwarded:
            entries = [e.strip() for e in forwarded.split(",") if e.strip()]
            if entries:
                return entries[-min(proxies, len(entries))]
    client = scope.get("client")
    if client and client[0]:
        return str(client[0])
    return "unknown"


# --- Origin ---------------------------------------------------------------------------------


def _allowed_hosts() -> list[str]:
    # Django's own rule (HttpRequest.get_host): DEBUG with no ALLOWED_HOSTS serves localhost.
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return allowed


def _own_host(scope: Scope) -> str | None:
    """The Host this socket was asked for, as Django's get_host reads it, if it is ours."""
    host = None
    if settings.USE_X_FORWARDED_HOST:
        host = header(scope, b"x-forwarded-host")
    host = host or header(scope, b"host")
    if not host:
        return None
    domain, _ = split_domain_port(host)
    return host if domain and validate_host(domain, _allowed_hosts()) else None


def _own_scheme(scope: Scope) -> str:
    """http or https: the page scheme a same-site socket comes from (as request.is_secure)."""
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, value = proxy
        name = name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin1")
        sent = header(scope, name)
        if sent is not None:
            return "https" if sent.split(",", 1)[0].strip() == value else "http"
    return "https" if scope.get("scheme") in ("wss", "https") else "http"


def _origin_parts(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the scheme's default port filled in; None if unreadable."""
    try:
        parsed = urlsplit(url)
        port = parsed.port
    except ValueError:
        return None
    scheme = parsed.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parsed.hostname:
        return None
    return scheme, parsed.hostname.lower(), port or DEFAULT_PORTS[scheme]


def origin_allowed(scope: Scope, origin: str) -> bool:
    """Django's CSRF origin rule (CsrfViewMiddleware._origin_verified) for a socket: the same
    scheme, host and port as this request, or a CSRF_TRUSTED_ORIGINS entry (exact, or
    `scheme://*.domain[:port]`)."""
    parts = _origin_parts(origin)
    if parts is None:
        return False
    host = _own_host(scope)
    if host is not None and parts == _origin_parts(f"{_own_scheme(scope)}://{host}"):
        return True
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "*" in trusted:
            scheme, _, netloc = trusted.partition("://")
            if scheme.lower() == parts[0] and is_same_domain(
                urlsplit(origin).netloc.lower(), netloc.replace("*", "", 1).lower()
            ):
                return True
        elif parts == _origin_parts(trusted):
            return True
    return False


class BrowserOriginOrNativeApp(BaseMiddleware):
    """Origin must be this site when present (else HTTP 403 at the handshake); when absent,
    cookies are dropped (token-only auth)."""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        if scope.get("type") != "websocket":
            return await super().__call__(scope, receive, send)
        origin = header(scope, b"origin")
        if origin is None:
            headers = [(k, v) for k, v in scope.get("headers", []) if k != b"cookie"]
            # A cookie dropped is a credential that did not count: such a socket is refused
            # as not signed in, never taken for a guest with no account (consumers.py).
            dropped = len(headers) != len(scope.get("headers", []))
            scope = {**scope, "headers": headers, "native_client": True}
            if dropped:
                scope["credentials_refused"] = True
        elif not origin_allowed(scope, origin):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await super().__call__(scope, receive, send)


# --- Sign-in ----------------------------------------------------------------------------------


@socket_db
def _user_for_token(token: str) -> tuple[Any, str | None]:
    result = authenticate_by_x_session_token(token)
    if result is None or not result[0].is_active:
        return AnonymousUser(), None
    user, session = result
    return user, session.session_key


class SessionTokenMiddleware(BaseMiddleware):
    """An `X-Session-Token` header, when sent, decides the user (a bad token means anonymous).
    Either way the scope learns which session signed the socket in (`auth_session`)."""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        token = header(scope, b"x-session-token")
        if token:
            user, key = await _user_for_token(token)
            scope = {**scope, "user": user, "auth_method": "token"}
            if not getattr(user, "is_authenticated", False):
                scope["credentials_refused"] = True
        else:
            session = scope.get("session")
            key = getattr(session, "session_key", None) if session is not None else None
        scope = {**scope, "auth_session": session_digest(key) if key else None}
        return await super().__call__(scope, receive, send)


def websocket_stack(inner: Any) -> Any:
    return BrowserOriginOrNativeApp(AuthMiddlewareStack(SessionTokenMiddleware(inner)))
