"""Authentication and throttling classes named in REST_FRAMEWORK settings."""

from __future__ import annotations

from typing import Any

from allauth.headless.contrib.rest_framework.authentication import XSessionTokenAuthentication
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.throttling import UserRateThrottle


class SessionTokenAuthentication(XSessionTokenAuthentication):
    """allauth's `X-Session-Token`, answering 401 (not 403) when it is missing or stale."""

    def authenticate(self, request: Request) -> Any:
        token = self.get_session_token(request)
        if not token:
            return None
        result = super().authenticate(request)
        if result is None:
            raise exceptions.AuthenticationFailed("The session token is invalid or expired.")
        return result

    def authenticate_header(self, request: Request) -> str:
        return 'SessionToken header="X-Session-Token"'


class WriteRateThrottle(UserRateThrottle):
    """Limits unsafe methods per user (or per IP when anonymous); reads are not counted."""

    scope = "write"

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return super().allow_request(request, view)
