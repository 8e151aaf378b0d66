"""Comments and the host's live controls over REST: the same services as the socket's
`comment`, `comment_delete`, `comments`, `speaking_policy`, `stage_lock`, `mute_all`, `guests`
and `noise_suppression`."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
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
from spaces.models import COMMENT_MAX_LENGTH, Space
from spaces.serializers import CommentSerializer, SpaceUserSerializer
from spaces_project.api import (
    StrictBooleanField,
    StrictCharField,
    StrictInputSerializer,
    StrictIntegerField,
    request_user,
)

_COMMENT_400 = (
    "`invalid`: blank, longer than 280 characters, or a control character; "
    "`html_not_allowed`: comments are plain text."
)


class CommentListApi(Api):
    pagination_class = OldestFirstPagination

    class InputSerializer(StrictInputSerializer):
        # The service checks the text (blank, length, tags); this only bounds the work.
        text = StrictCharField(
            max_length=4 * COMMENT_MAX_LENGTH, allow_blank=True, trim_whitespace=False
        )

        class Meta:
            ref_name = "SpaceCommentCreate"

    @extend_schema(
        operation_id="spaces_comments_list",
        tags=TAGS,
        summary="The comments, in order",
        description=(
            "The comments of a Space, oldest first, cursor-paged, for anyone who can see it, live "
            "and after; deleted ones and those of people you blocked are left out. "
            "403 `blocked` when the host blocked you."
        ),
        responses={200: CommentSerializer(many=True), **errors(401, 404, e403="`blocked`")},
    )
    def get(self, request: Request, space_id: int) -> Response:
        qs = selectors.space_comments(viewer=request_user(request), space_id=space_id)
        return self.paginated(qs, lambda rows: CommentSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="spaces_comments_create",
        tags=TAGS,
        summary="Post a comment (anyone in the Space)",
        description=(
            "Post a text comment of at most 280 characters, one line, plain text: `@username` "
            "of someone who has been in the Space and http(s) links come back as `parts` to draw "
            "as links. Everyone gets `comment.added`. Slow mode (set by the host) allows one "
            "comment per `comment_slow_mode_seconds` (429 `slow_mode` with `retry_after`); over "
            "every socket and request a person also has a flood limit (429 `rate_limited`)."
        ),
        request=InputSerializer,
        responses={
            201: CommentSerializer,
            **write_errors(
                e400=_COMMENT_400,
                e403="`not_in_space`: join the Space first.",
                e409=f"`comments_off`: the host turned comments off; {NOT_LIVE}.",
                e429="`slow_mode`; `rate_limited`.",
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        comment = services.comment_post(
            user=request_user(request), space_id=space_id, text=data.validated_data["text"]
        )
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


class CommentDetailApi(Api):
    @extend_schema(
        operation_id="spaces_comments_delete",
        tags=TAGS,
        summary="Delete a comment (its author, the host or a co-host)",
        description=(
            "Delete a comment: its author, the host or a co-host (403 `not_comment_author` for "
            "anyone else); the host also after the end. Everyone gets `comment.deleted`. "
            "Idempotent: 204 also when it was already deleted."
        ),
        responses={
            204: None,
            **write_errors(
                e403="`not_comment_author`",
                e404="`space_not_found`; `comment_not_found`: not a comment of this Space.",
                e409="`space_not_started`, `space_cancelled`.",
            ),
        },
    )
    def delete(self, request: Request, space_id: int, comment_id: int) -> Response:
        services.comment_delete(
            actor=request_user(request), space_id=space_id, comment_id=comment_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class CommentSettingsApi(Api):
    class InputSerializer(StrictInputSerializer):
        enabled = StrictBooleanField(required=False)
        slow_mode_seconds = StrictIntegerField(
            required=False, help_text="One comment per this many seconds per person; 0: off."
        )

        class Meta:
            ref_name = "SpaceCommentSettings"

    class OutputSerializer(serializers.Serializer):
        comments_enabled = serializers.BooleanField()
        slow_mode_seconds = serializers.IntegerField()

        class Meta:
            ref_name = "SpaceCommentSettingsState"

    @extend_schema(
        operation_id="spaces_comments_settings",
        tags=TAGS,
        summary="Turn comments on or off, or set slow mode (host or co-host)",
        description=(
            "Give `enabled`, `slow_mode_seconds` (0 to 3600; 0: off), or both. Everyone gets "
            "`comments.changed`; setting what is set changes nothing."
        ),
        request=InputSerializer,
        responses={200: OutputSerializer, **write_errors(e403=MODERATE_403, e409=NOT_LIVE)},
    )
    def put(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        space = services.comments_configure(
            actor=request_user(request), space_id=space_id, **data.validated_data
        )
        return Response(
            {
                "comments_enabled": space.comments_enabled,
                "slow_mode_seconds": space.comment_slow_mode_seconds,
            }
        )


class SpeakingPolicyApi(Api):
    class InputSerializer(StrictInputSerializer):
        speaking_policy = serializers.ChoiceField(choices=Space.SpeakingPolicy.choices)

        class Meta:
            ref_name = "SpaceSpeakingPolicySet"

    @extend_schema(
        operation_id="spaces_speaking_policy_set",
        tags=TAGS,
        summary="Change who can ask to speak, while live (host or co-host)",
        description=(
            "Everyone gets `speaking_policy.changed`; hands already raised stay for the host to "
            "answer. Setting the current value changes nothing."
        ),
        request=InputSerializer,
        responses={200: InputSerializer, **write_errors(e403=MODERATE_403, e409=NOT_LIVE)},
    )
    def put(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        space = services.speaking_policy_set(
            actor=request_user(request),
            space_id=space_id,
            policy=data.validated_data["speaking_policy"],
        )
        return Response({"speaking_policy": space.speaking_policy})


class StageLockApi(Api):
    class InputSerializer(StrictInputSerializer):
        locked = StrictBooleanField()

        class Meta:
            ref_name = "SpaceStageLock"

    @extend_schema(
        operation_id="spaces_stage_lock",
        tags=TAGS,
        summary="Lock or unlock the stage (host or co-host)",
        description=(
            "A locked stage takes no new raised hands (409 `stage_locked`); invitations still "
            "bring people up. Everyone gets `stage.lock_changed`."
        ),
        request=InputSerializer,
        responses={200: InputSerializer, **write_errors(e403=MODERATE_403, e409=NOT_LIVE)},
    )
    def put(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        space = services.stage_lock_set(
            actor=request_user(request), space_id=space_id, locked=data.validated_data["locked"]
        )
        return Response({"locked": space.stage_locked})


class MuteAllApi(Api):
    class OutputSerializer(serializers.Serializer):
        muted = SpaceUserSerializer(many=True, help_text="Who was muted now.")

        class Meta:
            ref_name = "SpaceMutedAll"

    @extend_schema(
        operation_id="spaces_stage_mute_all",
        tags=TAGS,
        summary="Mute everyone on stage (host or co-host)",
        description=(
            "Mutes every unmuted stage member but you and the host, as a host's mute: each "
            "unmutes themselves. Each gets `participant.muted`."
        ),
        request=None,
        responses={200: OutputSerializer, **write_errors(e403=MODERATE_403, e409=NOT_LIVE)},
    )
    def post(self, request: Request, space_id: int) -> Response:
        muted = services.mute_all(actor=request_user(request), space_id=space_id)
        return Response({"muted": SpaceUserSerializer([p.user for p in muted], many=True).data})


class GuestsApi(Api):
    class InputSerializer(StrictInputSerializer):
        allowed = StrictBooleanField(
            help_text="true: people without an account may listen (over live HLS)."
        )

        class Meta:
            ref_name = "SpaceGuests"

    @extend_schema(
        operation_id="spaces_guests",
        tags=TAGS,
        summary="Let guests (no account) listen, or stop them (host or co-host)",
        description=(
            "A public, non-ticketed live Space is open to listeners without an account unless "
            "the host turns this off. Everyone gets `guests.changed`; when turned off, open "
            "guest sockets close with `guests_off` (4401)."
        ),
        request=InputSerializer,
        responses={
            200: InputSerializer,
            **write_errors(
                e403=MODERATE_403,
                e409="`space_ended`, `space_not_started`, `space_cancelled`: the Space is not "
                "live; `ticketed`: a ticketed Space never has guests.",
            ),
        },
    )
    def put(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        space = services.guests_allowed_set(
            actor=request_user(request), space_id=space_id, allowed=data.validated_data["allowed"]
        )
        return Response({"allowed": space.guests_allowed})


class NoiseSuppressionApi(Api):
    class InputSerializer(StrictInputSerializer):
        enabled = StrictBooleanField(
            help_text="true: the media server suppresses background noise in every speaker's "
            "audio before mixing it."
        )

        class Meta:
            ref_name = "SpaceNoiseSuppression"

    @extend_schema(
        operation_id="spaces_noise_suppression",
        tags=TAGS,
        summary="Turn noise suppression of the speakers on or off (host or co-host)",
        description=(
            "Server-side noise suppression (RNNoise) of each speaker's audio before the mix, "
            "from the next 20 ms. Off by default. Everyone gets `noise_suppression.changed`. "
            "On a media server without the suppressor the switch is kept but has no effect."
        ),
        request=InputSerializer,
        responses={200: InputSerializer, **write_errors(e403=MODERATE_403, e409=NOT_LIVE)},
    )
    def put(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        space = services.noise_suppression_set(
            actor=request_user(request), space_id=space_id, enabled=data.validated_data["enabled"]
        )
        return Response({"enabled": space.noise_suppression})
