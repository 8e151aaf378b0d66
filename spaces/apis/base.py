"""What every Spaces API module shares: the tag, the error texts of the schema, the list
paginations and the base view."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework.pagination import CursorPagination, LimitOffsetPagination

from spaces.models import Participant
from spaces.serializers import ParticipantSerializer
from spaces_project.api import CreatedCursorPagination, PagedApi, error_responses

TAGS = ["spaces"]

# The usual texts of the error answers in a Space (the project's name no user, they name Spaces).
SPACE_ERRORS = {
    400: "`invalid`: see `fields`; `malformed_request`: the body is not JSON.",
    401: "`not_authenticated` or `authentication_failed`.",
    403: "`forbidden`",
    404: "`space_not_found`: no such Space.",
    409: "`space_ended`, `space_cancelled`, `space_not_started`: the Space is not live.",
    413: "`request_too_large`: the body exceeds 256 KiB.",
    415: "`unsupported_media_type`: send `Content-Type: application/json`.",
    429: "`rate_limited`: too many requests; see `Retry-After`.",
}
NOT_LIVE = "`space_ended`, `space_cancelled`, `space_not_started`: the Space is not live"
MODERATE_403 = "`not_moderator`: only the host or a co-host."


def errors(*codes: int, **described: str) -> dict[int, OpenApiResponse]:
    """Schema entries for error answers in a Space: `errors(401, e403="`not_moderator`")`."""
    return error_responses(SPACE_ERRORS, codes, described)


def write_errors(**described: str) -> dict[int, OpenApiResponse]:
    """What every write in a Space can answer (400, 401, 404, 413, 415, 429), plus the
    endpoint's own codes in `described`."""
    return {**errors(400, 401, 404, 413, 415, 429), **errors(**described)}


class LivePagination(LimitOffsetPagination):
    """Listener counts move all the time, so the live lists page by offset, not by cursor."""

    default_limit = 20
    max_limit = 100


class EndedPagination(CreatedCursorPagination):
    ordering = ("-ended_at", "-id")
    page_size = 20


class ParticipantPagination(CreatedCursorPagination):
    ordering = ("-joined_at", "-id")


class OldestFirstPagination(CursorPagination):
    ordering = ("created_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


Api = PagedApi


def participant_data(p: Participant) -> dict[str, Any]:
    return ParticipantSerializer(p).data
