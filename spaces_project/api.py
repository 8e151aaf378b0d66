"""The API's shared pieces: the one error shape, its schema, strict input fields, pagination.

Every app's `apis` builds on these: `errors()` documents error answers in the schema (an app
passes its own `defaults` when its usual texts differ), the Strict fields refuse what DRF would
coerce, `PagedApi` and `paginated_response` render one page of a list.

Authentication, throttling and parsing live in `drf.py`: DRF imports those while
`rest_framework.views` is still loading, so they must not import it back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db.models import QuerySet
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from spaces_project.errors import ApplicationError, RateLimited


class CreatedCursorPagination(CursorPagination):
    """Stable paging over append-mostly lists: a new row never shifts the next page."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "invalid",
}


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten_fields(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF nests field errors arbitrarily; clients get one flat `field.path -> [messages]` map."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten_fields(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            out[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                out.update(_flatten_fields(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        # Django refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE when DRF reads it, with an
        # exception DRF would leave to Django's HTML 400 page.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = PayloadTooLarge(
            _("The request body is larger than %(limit)s bytes.") % {"limit": limit}
        )
    if isinstance(exc, ApplicationError):
        refusal = Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
        if exc.extra:
            refusal.data["error"].update(exc.extra)
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            refusal["Retry-After"] = str(math.ceil(exc.retry_after))
        return refusal
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(
            code, _("The request has invalid fields."), _flatten_fields(exc.detail)
        )
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        response.data = error_body(code, str(detail))
    return response


def json_error(code: str, message: str, status_code: int) -> JsonResponse:
    """The same shape for errors raised outside DRF (404/500 handlers, webhooks)."""
    return JsonResponse(error_body(code, message), status=status_code)


@csrf_exempt  # it changes nothing; without this a POST got the site's HTML CSRF page, not JSON
def api_not_found(request: Any, exception: Exception | None = None) -> JsonResponse:
    return json_error("not_found", _("No such endpoint."), status.HTTP_404_NOT_FOUND)


class SessionTokenScheme(OpenApiAuthenticationExtension):
    """Documents `X-Session-Token` under the scheme name the SPECTACULAR_SETTINGS use."""

    target_class = "spaces_project.drf.SessionTokenAuthentication"
    name = "sessionToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Session-Token",
            "description": "`meta.session_token` from the headless API under /_allauth/app/v1/.",
        }


class PayloadTooLarge(ApplicationError):
    status = 413
    default_code = "request_too_large"


class StrictCharField(serializers.CharField):
    """A JSON string only: DRF's CharField would quietly turn 5 or 1.5 into "5" or "1.5"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON true/false only: DRF's BooleanField would accept "yes", "on", 1 or "0"."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: not "12", 12.0 or true. At most 2**53 - 1 unless told otherwise,
    like the socket's ids: exact in every JSON client, and within the database's 64 bits (a
    larger id made SQLite raise OverflowError, a 500, instead of matching nothing)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_value", 2**53 - 1)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictDateTimeField(serializers.DateTimeField):
    """An ISO 8601 string only (with a time zone; a naive one is read as UTC)."""

    def to_internal_value(self, value: Any) -> Any:
        if not isinstance(value, str):
            self.fail("invalid", format="ISO 8601, e.g. 2030-01-01T18:00:00Z")
        return super().to_internal_value(value)


class StrictInputSerializer(serializers.Serializer):
    """Fields not in this schema are refused (400, `invalid`), so a typo is never silently lost."""

    def to_internal_value(self, data: Any) -> Any:
        unknown: dict[str, list[str]] = {}
        if isinstance(data, Mapping):
            unknown = {
                str(name): [_("Unknown or read-only field.")]
                for name in data
                if name not in self.fields
            }
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **unknown}) from exc
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class ErrorSerializer(serializers.Serializer):
    """The one shape of every 4xx answer."""

    # Built inline: a declared attribute named `fields` would shadow Serializer.fields.
    error = inline_serializer(
        name="ErrorDetail",
        fields={
            "code": serializers.CharField(
                help_text=gettext_lazy("Stable, machine-readable reason.")
            ),
            "message": serializers.CharField(help_text=gettext_lazy("For people; may change.")),
            "fields": serializers.DictField(
                child=serializers.ListField(child=serializers.CharField()),
                help_text=(
                    gettext_lazy(
                        "Invalid input by field path (`ids.0`); `non_field_errors` for the whole "
                        "body. Empty when the error is not about fields."
                    )
                ),
            ),
        },
    )


ERROR_DEFAULTS = {
    400: "`invalid`: see `fields`; `malformed_request`: the body is not valid JSON.",
    401: "`not_authenticated` (no credentials) or `authentication_failed` (stale token).",
    403: "`forbidden`: a write with the site session but without the CSRF token.",
    404: "`not_found`: no such active user (usernames match case-insensitively).",
    413: "`request_too_large`: the body exceeds 256 KiB.",
    415: "`unsupported_media_type`: send `Content-Type: application/json`.",
    429: "`rate_limited`: too many writes; see the `Retry-After` header.",
}


def error_responses(
    defaults: Mapping[int, str], codes: Iterable[int], described: Mapping[str, str]
) -> dict[int, OpenApiResponse]:
    """Schema entries for error answers, by status: the usual description (from `defaults`)
    for each of `codes`, or an endpoint's own for its codes, by name (`e403`)."""
    out = {code: OpenApiResponse(ErrorSerializer, defaults[code]) for code in codes}
    for name, description in described.items():
        out[int(name.removeprefix("e"))] = OpenApiResponse(ErrorSerializer, description)
    return out


def errors(*codes: int, **described: str) -> dict[int, OpenApiResponse]:
    """`error_responses` with the usual texts: `errors(401, e403="`blocked`")`."""
    return error_responses(ERROR_DEFAULTS, codes, described)


WRITE_ERRORS = (400, 401, 403, 413, 415, 429)


def paginated_response(
    *,
    paginator: CreatedCursorPagination,
    queryset: QuerySet[Any],
    request: Request,
    view: APIView,
    serialize: Callable[[list[Any]], Any],
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """One cursor page: `serialize(rows)` renders the page's rows, `extra` joins the body."""
    page = paginator.paginate_queryset(queryset, request, view=view)
    response = paginator.get_paginated_response(serialize(page or []))
    if extra:
        response.data.update(extra)
    return response


class PagedApi(GenericAPIView):
    # No docstring: drf-spectacular would take it as every subclass operation's description.

    def paginated(self, queryset: Any, render: Callable[[Any], Any]) -> Response:
        """One page of `queryset` by the view's `pagination_class`; `render(rows)` renders it."""
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(render(page if page is not None else []))


def request_user(request: Request) -> Any:
    """The signed-in user of a view behind IsAuthenticated: never anonymous there."""
    user = request.user
    assert isinstance(user, get_user_model())
    return user
