"""The Spaces API in the room: reactions, pins, captions and the transcript (as JSON pages
and as files)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response

from spaces import selectors, services
from spaces.apis.base import (
    MODERATE_403,
    NOT_LIVE,
    TAGS,
    Api,
    OldestFirstPagination,
    errors,
    write_errors,
)
from spaces.audio import captions
from spaces.models import PIN_TEXT_MAX_LENGTH, Reaction
from spaces.serializers import CaptionLineSerializer, PinSerializer
from spaces_project.api import (
    StrictBooleanField,
    StrictCharField,
    StrictInputSerializer,
    request_user,
)


class ReactionApi(Api):
    class InputSerializer(StrictInputSerializer):
        emoji = StrictCharField(
            max_length=16,
            help_text="A code (" + ", ".join(f"`{c}` {e}" for c, e in Reaction.choices) + ") "
            "or the emoji itself.",
        )

        class Meta:
            ref_name = "ReactionSend"

    class OutputSerializer(serializers.Serializer):
        code = serializers.ChoiceField(choices=Reaction.choices)
        emoji = serializers.CharField()

        class Meta:
            ref_name = "ReactionSent"

    @extend_schema(
        operation_id="spaces_reactions_send",
        tags=TAGS,
        summary="React with an emoji",
        description=(
            "React with an emoji (a code or the emoji itself): broadcast to the room and counted "
            "for the Space. For people in the Space (403 `not_in_space`). Rate-limited per user "
            "per Space: 429 `rate_limited` with `retry_after` (seconds) and a `Retry-After` "
            "header."
        ),
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **write_errors(e403="`not_in_space`", e409=NOT_LIVE),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        code = services.reaction_send(
            user=request_user(request), space_id=space_id, emoji=data.validated_data["emoji"]
        )
        return Response({"code": code, "emoji": Reaction(code).label})


class PinListApi(Api):
    class InputSerializer(StrictInputSerializer):
        text = StrictCharField(max_length=PIN_TEXT_MAX_LENGTH)
        url = StrictCharField(
            max_length=500, required=False, allow_blank=True, default="", help_text="http(s)"
        )

        class Meta:
            ref_name = "PinCreate"

    @extend_schema(
        operation_id="spaces_pins_create",
        tags=TAGS,
        summary="Pin a post (host, co-hosts, speakers)",
        description=(
            "Pin a short post, with an optional http(s) link, to the top of the Space: the host, "
            "co-hosts and speakers (403 `not_on_stage` for listeners). At most 3 pins at once (409 "
            "`too_many_pins`)."
        ),
        request=InputSerializer,
        responses={
            201: PinSerializer,
            **write_errors(
                e403="`not_in_space`; `not_on_stage`: only the stage pins.",
                e409=f"`too_many_pins`: at most 3 at once; {NOT_LIVE}.",
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pin = services.pin_create(
            user=request_user(request), space_id=space_id, **data.validated_data
        )
        return Response(PinSerializer(pin).data, status=status.HTTP_201_CREATED)


class PinDetailApi(Api):
    @extend_schema(
        operation_id="spaces_pins_remove",
        tags=TAGS,
        summary="Unpin (the author, the host or a co-host)",
        description=(
            "Unpin a post: its author, the host or a co-host (403 `not_pin_author` for anyone "
            "else). Idempotent: 204 also when it was already unpinned."
        ),
        responses={
            204: None,
            **write_errors(
                e403="`not_pin_author`",
                e404="`space_not_found`; `pin_not_found`: not a pin of this Space.",
                e409=NOT_LIVE,
            ),
        },
    )
    def delete(self, request: Request, space_id: int, pin_id: int) -> Response:
        services.pin_remove(user=request_user(request), space_id=space_id, pin_id=pin_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CaptionsApi(Api):
    class InputSerializer(StrictInputSerializer):
        enabled = StrictBooleanField()

        class Meta:
            ref_name = "CaptionsSetting"

    class OutputSerializer(serializers.Serializer):
        enabled = serializers.BooleanField()

        class Meta:
            ref_name = "CaptionsState"

    @extend_schema(
        operation_id="spaces_captions_set",
        tags=TAGS,
        summary="Turn captions on or off (host or co-host)",
        description=(
            "The host or a co-host turns live captions on or off for everyone in the Space. "
            "Setting the current value again changes nothing."
        ),
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **write_errors(e403=MODERATE_403, e409=NOT_LIVE),
        },
    )
    def put(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        space = services.captions_toggle(
            actor=request_user(request), space_id=space_id, enabled=data.validated_data["enabled"]
        )
        return Response({"enabled": space.captions_enabled})


class TranscriptApi(Api):
    pagination_class = OldestFirstPagination

    @extend_schema(
        operation_id="spaces_transcript",
        tags=TAGS,
        summary="The captions so far, in order",
        description=(
            "The caption lines stored so far, oldest first, cursor-paged: for anyone who can see "
            "the Space, while it is live and after. 403 `blocked` when the host blocked you."
        ),
        responses={
            200: CaptionLineSerializer(many=True),
            **errors(401, 404, e403="`blocked`"),
        },
    )
    def get(self, request: Request, space_id: int) -> Response:
        qs = selectors.caption_transcript(viewer=request_user(request), space_id=space_id)
        return self.paginated(qs, lambda rows: CaptionLineSerializer(rows, many=True).data)


class JsonErrorsOnly(BaseContentNegotiation):
    """For file downloads: the file is returned as is, whatever the `Accept` header, and an
    error is JSON like everywhere else (DRF would answer `Accept: text/vtt` with a 406)."""

    def select_parser(self, request: Any, parsers: Any) -> Any:
        return parsers[0]

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


_TRANSCRIPT_403 = "`not_moderator`: only the host, co-hosts and staff; `blocked`."


class _TranscriptFileApi(Api):
    content_negotiation_class = JsonErrorsOnly
    fmt = "vtt"

    def get(self, request: Request, space_id: int) -> HttpResponse:
        space, lines = selectors.caption_transcript_download(
            viewer=request_user(request), space_id=space_id
        )
        return captions.transcript_response(space, lines, self.fmt)


class TranscriptVttApi(_TranscriptFileApi):
    fmt = "vtt"

    @extend_schema(
        operation_id="spaces_transcript_vtt",
        tags=TAGS,
        summary="The transcript as a WebVTT file (host, co-hosts, staff)",
        description=(
            "Every stored caption line as a WebVTT cue (`text/vtt`, `Content-Disposition: "
            "attachment`): times from when the Space went live, the speaker as a `<v Name>` voice "
            "span, `&`, `<` and `>` escaped. While the Space is live: the transcript so far. A "
            "line's end is estimated (when it was stored, bounded by the speaker's next line). For "
            "the host, whoever co-hosted it, and staff (403 `not_moderator`)."
        ),
        responses={
            (200, "text/vtt"): OpenApiTypes.STR,
            **errors(401, 404, e403=_TRANSCRIPT_403),
        },
    )
    def get(self, request: Request, space_id: int) -> HttpResponse:
        return super().get(request, space_id)


class TranscriptTextApi(_TranscriptFileApi):
    fmt = "txt"

    @extend_schema(
        operation_id="spaces_transcript_txt",
        tags=TAGS,
        summary="The transcript as plain text (host, co-hosts, staff)",
        description=(
            "One line per caption, `[HH:MM:SS] Speaker: text`, times from when the Space went live "
            "(`text/plain`, `Content-Disposition: attachment`). While the Space is live: the "
            "transcript so far. For the host, whoever co-hosted it, and staff (403 "
            "`not_moderator`)."
        ),
        responses={
            (200, "text/plain"): OpenApiTypes.STR,
            **errors(401, 404, e403=_TRANSCRIPT_403),
        },
    )
    def get(self, request: Request, space_id: int) -> HttpResponse:
        return super().get(request, space_id)
