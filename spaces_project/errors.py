"""Errors that services raise. Every surface maps them the same way.

A service refuses with one of these; the API turns it into `{"error": {...}}` with the status
below, the socket (realtime issue) into an `error` event with the same code. The code is the
stable, documented part; the message is for people.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext


class ApplicationError(Exception):
    status = 400
    default_code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.fields = fields or {}
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    status = 400
    default_code = "invalid"


class NotAuthenticated(ApplicationError):
    status = 401
    default_code = "not_authenticated"


class Forbidden(ApplicationError):
    status = 403
    default_code = "forbidden"


class NotFound(ApplicationError):
    status = 404
    default_code = "not_found"


class Conflict(ApplicationError):
    """The request is well formed and allowed, but the current state refuses it."""

    status = 409
    default_code = "conflict"


class Gone(ApplicationError):
    """It existed and was deleted on purpose (a replay, a clip): 410, so a shared link says so."""

    status = 410
    default_code = "gone"


class RateLimited(ApplicationError):
    status = 429
    default_code = "rate_limited"

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message or gettext("Too many requests."), **kwargs)
        self.retry_after = retry_after
