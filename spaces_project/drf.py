"""The classes the REST_FRAMEWORK setting names: authentication, throttling, parsing.

DRF imports these while `rest_framework.views` is still loading, so nothing here may import it.
"""

from __future__ import annotations

from typing import Any

from allauth.headless.contrib.rest_framework.authentication import XSessionTokenAuthentication
from django.utils.translation import gettext
from rest_framework import exceptions
from rest_framework.exceptions import ParseError
from rest_framework.metadata import SimpleMetadata
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.throttling import UserRateThrottle

from spaces_project.languages import activate_for


class SessionTokenAuthentication(XSessionTokenAuthentication):
    """allauth's `X-Session-Token`, answering 401 (not 403) when it is missing or stale."""

    def authenticate(self, request: Request) -> Any:
        token = self.get_session_token(request)
        if not token:
            return None
        result = super().authenticate(request)
        if result is None:
            raise exceptions.AuthenticationFailed(
                gettext("The session token is invalid or expired.")
            )
        # The middleware saw no user for a token client: their own language now applies.
        activate_for(request, result[0])
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


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, answering 400 instead of crashing on pathologically nested JSON."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(gettext("JSON parse error - nested too deeply.")) from exc


class PlainMetadata(SimpleMetadata):
    """`OPTIONS` answers name, description, renders and parses, without `actions`.

    DRF builds `actions` from `get_serializer()`, which our APIViews (nested Input/Output
    serializers) do not have: every write endpoint answered OPTIONS with a 500. The schema at
    /api/schema/ is where clients learn the fields."""

    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        return {}
