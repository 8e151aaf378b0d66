"""The Spaces API under /api/v1/spaces.

Thin entry points: each view validates its input with a nested `InputSerializer` (unknown fields
refused), calls one service (writes) or selector (reads) and renders the result. No rule lives
here: the services raise the documented errors, which leave in the one error shape
`{"error": {"code", "message", "fields"}}` (spaces_project/api.py). Each operation's schema lists
the error codes it can answer.

Idempotency: joining, leaving, raising a hand again, withdrawing with no hand up, muting a muted
speaker, removing a removed participant, unpinning an unpinned post and setting captions to their
current value all succeed and change nothing. Answering a request or an invitation that was
already answered is 409 (`request_not_pending`, `invitation_not_pending`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import CursorPagination, LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response

from spaces import selectors, services
from spaces.audio import captions
from spaces.models import (
    MAX_TOPICS,
    PIN_TEXT_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    TOPIC_MAX_LENGTH,
    Invitation,
    ModerationAction,
    Participant,
    Reaction,
    Report,
    Space,
    SpeakerRequest,
)
from spaces.permissions import CAN_KEYS
from spaces_project.api import (
    CreatedCursorPagination,
    ErrorSerializer,
    StrictBooleanField,
    StrictCharField,
    StrictInputSerializer,
    StrictIntegerField,
    request_user,
)

TAGS = ["spaces"]


# --- Errors in the schema ---------------------------------------------------------------------

_DEFAULT_ERRORS = {
    400: "`invalid`: see `fields`; `malformed_request`: the body is not JSON.",
    401: "`not_authenticated` or `authentication_failed`.",
    403: "`forbidden`",
    404: "`space_not_found`: no such Space.",
    409: "`space_ended`, `space_cancelled`, `space_not_started`: the Space is not live.",
    413: "`request_too_large`: the body exceeds 256 KiB.",
    415: "`unsupported_media_type`: send `Content-Type: application/json`.",
    429: "`rate_limited`: too many requests; see `Retry-After`.",
}
_NOT_LIVE = "`space_ended`, `space_cancelled`, `space_not_started`: the Space is not live"


def errors(*codes: int, **described: str) -> dict[int, OpenApiResponse]:
    """Schema entries for error answers: `errors(401, e403="`not_moderator`")`."""
    out = {code: OpenApiResponse(ErrorSerializer, _DEFAULT_ERRORS[code]) for code in codes}
    for key, description in described.items():
        out[int(key.removeprefix("e"))] = OpenApiResponse(ErrorSerializer, description)
    return out


def write_errors(**described: str) -> dict[int, OpenApiResponse]:
    """What every write in a Space can answer (400, 401, 404, 413, 415, 429), plus the
    endpoint's own codes in `described`."""
    return {**errors(400, 401, 404, 413, 415, 429), **errors(**described)}


# --- Output ------------------------------------------------------------------------------------


class SpaceUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()

    class Meta:
        ref_name = "SpaceUser"


class SpaceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    topics = serializers.ListField(child=serializers.CharField())
    state = serializers.ChoiceField(choices=Space.State.choices)
    speaking_policy = serializers.ChoiceField(choices=Space.SpeakingPolicy.choices)
    captions_enabled = serializers.BooleanField()
    is_ticketed = serializers.BooleanField()
    host = SpaceUserSerializer()
    listener_count = serializers.IntegerField(help_text="Listeners present now.")
    speaker_count = serializers.IntegerField(help_text="Speakers on stage (not host, co-hosts).")
    cohost_count = serializers.IntegerField()
    max_speakers = serializers.IntegerField()
    max_cohosts = serializers.IntegerField()
    peak_listener_count = serializers.IntegerField()
    total_joined_count = serializers.IntegerField()
    scheduled_for = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "Space"


class ParticipantSerializer(serializers.Serializer):
    user = SpaceUserSerializer()
    role = serializers.ChoiceField(choices=Participant.Role.choices)
    state = serializers.ChoiceField(choices=Participant.State.choices)
    is_muted = serializers.BooleanField()
    muted_by_host = serializers.BooleanField(help_text="Muted by the host or a co-host.")
    joined_at = serializers.DateTimeField()
    role_since = serializers.DateTimeField()
    cohost_since = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "SpaceParticipant"


class BubbleSpaceSerializer(serializers.Serializer):
    space = SpaceSerializer(source="*")
    followed_on_stage_count = serializers.IntegerField(
        help_text="How many people you follow are on stage."
    )
    followed_on_stage = ParticipantSerializer(
        many=True, help_text="The people you follow on stage, host first."
    )

    class Meta:
        ref_name = "SpaceInBubble"


class SpeakerRequestSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    user = SpaceUserSerializer()
    state = serializers.ChoiceField(choices=SpeakerRequest.State.choices)
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "SpeakerRequest"


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Invitation.Kind.choices)
    state = serializers.ChoiceField(choices=Invitation.State.choices)
    inviter = SpaceUserSerializer(allow_null=True)
    invitee = SpaceUserSerializer()
    created_at = serializers.DateTimeField()
    responded_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "SpaceInvitation"


class PinSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    url = serializers.CharField(allow_blank=True)
    author = SpaceUserSerializer()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "SpacePin"


CanSerializer = type(
    "CanSerializer",
    (serializers.Serializer,),
    {
        **{key: serializers.BooleanField() for key in CAN_KEYS},
        "Meta": type("Meta", (), {"ref_name": "SpaceCan"}),
        "__doc__": (
            "For each action, whether the server would accept it from you now (and it would "
            "change something). `moderate`: approve/deny, invite speakers, demote, mute, "
            "remove, unpin others' pins; `manage_cohosts`: invite and revoke co-hosts."
        ),
    },
)


class SpaceDetailSerializer(serializers.Serializer):
    space = SpaceSerializer()
    stage = ParticipantSerializer(
        many=True, help_text="Host, then co-hosts by seniority, then speakers, with mute flags."
    )
    listeners_sample = ParticipantSerializer(many=True, help_text="Latest listeners to join.")
    pins = PinSerializer(many=True)
    reaction_counts = serializers.DictField(
        child=serializers.IntegerField(), help_text="Reactions so far by code."
    )
    me = ParticipantSerializer(allow_null=True, help_text="Your place in the Space, if any.")
    pending_request_id = serializers.IntegerField(
        allow_null=True, help_text="Your raised hand, if any."
    )
    invitations = InvitationSerializer(many=True, help_text="Your open invitations.")
    can = CanSerializer()

    class Meta:
        ref_name = "SpaceDetail"


class ModerationActionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.ChoiceField(choices=ModerationAction.Action.choices)
    actor = SpaceUserSerializer(allow_null=True)
    target = SpaceUserSerializer(allow_null=True)
    details = serializers.JSONField()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "ModerationAction"


class CaptionLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    speaker = SpaceUserSerializer(allow_null=True)
    text = serializers.CharField()
    started_at = serializers.DateTimeField()

    class Meta:
        ref_name = "CaptionLine"


# --- Pagination --------------------------------------------------------------------------------


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


class _Api(GenericAPIView):
    """An APIView with GenericAPIView's pagination helpers, for the lists."""

    def paginated(self, queryset: Any, render: Callable[[Any], Any]) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(render(page if page is not None else []))


def _participant(p: Participant) -> dict[str, Any]:
    return ParticipantSerializer(p).data


# --- Lists and start ---------------------------------------------------------------------------


class SpaceListApi(_Api):
    pagination_class = LivePagination

    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(required=False, allow_blank=True, max_length=100)

    class InputSerializer(StrictInputSerializer):
        title = StrictCharField(max_length=TITLE_MAX_LENGTH)
        topics = serializers.ListField(
            child=StrictCharField(max_length=TOPIC_MAX_LENGTH),
            max_length=MAX_TOPICS,
            required=False,
            default=list,
        )
        speaking_policy = serializers.ChoiceField(
            choices=Space.SpeakingPolicy.choices,
            required=False,
            default=Space.SpeakingPolicy.EVERYONE,
            help_text="Who may ask to speak.",
        )
        captions_enabled = StrictBooleanField(required=False, default=False)

        class Meta:
            ref_name = "SpaceStart"

    @extend_schema(
        operation_id="spaces_live_list",
        tags=TAGS,
        summary="Live Spaces, most listeners first",
        parameters=[
            OpenApiParameter(
                "q", OpenApiTypes.STR, description="Search in titles and topics (substring)."
            )
        ],
        responses={200: SpaceSerializer(many=True), **errors(400, 401)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        qs = selectors.space_list_live(
            viewer=request_user(request), query=filters.validated_data.get("q")
        )
        return self.paginated(qs, lambda rows: SpaceSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="spaces_start",
        tags=TAGS,
        summary="Start a live Space now",
        description="You become its host. Needs `SPACES_HOST_MIN_FOLLOWERS` followers.",
        request=InputSerializer,
        responses={
            201: SpaceSerializer,
            **errors(
                400,
                401,
                413,
                415,
                429,
                e403="`not_enough_followers`",
                e409="`already_live`: you already host a live Space.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        space = services.space_start(host=request_user(request), **data.validated_data)
        return Response(SpaceSerializer(space).data, status=status.HTTP_201_CREATED)


class SpaceFollowingApi(_Api):
    pagination_class = LivePagination

    @extend_schema(
        operation_id="spaces_following_list",
        tags=TAGS,
        summary="Live now from people you follow (the bubble)",
        description=(
            "Live Spaces hosted, co-hosted or spoken in by people you follow: the most people "
            "you follow on stage first, then the most listeners."
        ),
        responses={200: BubbleSpaceSerializer(many=True), **errors(401)},
    )
    def get(self, request: Request) -> Response:
        qs = selectors.space_list_following(viewer=request_user(request))
        return self.paginated(qs, lambda rows: BubbleSpaceSerializer(rows, many=True).data)


class EndedSpaceSerializer(SpaceSerializer):
    """SpaceSerializer under its own name: the schema names a paginated list after the item
    serializer, so the cursor-paged ended list shared `PaginatedSpaceList` (limit/offset, with
    `count`) with the live list and its answers did not match the schema."""

    class Meta:
        ref_name = "EndedSpace"


class SpaceEndedApi(_Api):
    pagination_class = EndedPagination

    class FilterSerializer(serializers.Serializer):
        # Bounded: a larger id made SQLite raise OverflowError (a 500) instead of matching none.
        host = serializers.IntegerField(required=False, min_value=1, max_value=2**53 - 1)

    @extend_schema(
        operation_id="spaces_ended_list",
        tags=TAGS,
        summary="Ended Spaces, most recent first",
        parameters=[
            OpenApiParameter(
                "host",
                {"type": "integer", "minimum": 1, "maximum": 2**53 - 1},
                description="A host's user id.",
            )
        ],
        responses={200: EndedSpaceSerializer(many=True), **errors(400, 401)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        qs = selectors.space_list_ended(
            viewer=request_user(request), host_id=filters.validated_data.get("host")
        )
        return self.paginated(qs, lambda rows: SpaceSerializer(rows, many=True).data)


# --- One Space ---------------------------------------------------------------------------------


class SpaceDetailApi(_Api):
    @extend_schema(
        operation_id="spaces_retrieve",
        tags=TAGS,
        summary="A Space: who is where, pins, your role and what you may do",
        responses={
            200: SpaceDetailSerializer,
            **errors(401, 404, e403="`blocked`: the host blocked you."),
        },
    )
    def get(self, request: Request, space_id: int) -> Response:
        detail = selectors.space_detail(viewer=request_user(request), space_id=space_id)
        return Response(SpaceDetailSerializer(detail).data)


class SpaceEndApi(_Api):
    @extend_schema(
        operation_id="spaces_end",
        tags=TAGS,
        summary="End the Space (host or staff)",
        request=None,
        responses={
            200: SpaceSerializer,
            **write_errors(e403="`host_only`: only the host ends a Space.", e409=_NOT_LIVE),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        space = services.space_end(actor=request_user(request), space_id=space_id)
        return Response(SpaceSerializer(space).data)


class SpaceJoinApi(_Api):
    @extend_schema(
        operation_id="spaces_join",
        tags=TAGS,
        summary="Join as a listener",
        description="Joining while in the Space changes nothing (200 with your place).",
        request=None,
        responses={
            200: ParticipantSerializer,
            **write_errors(
                e403="`blocked`: the host blocked you; `removed`: you were removed.",
                e409=_NOT_LIVE,
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        participant = services.space_join(user=request_user(request), space_id=space_id)
        return Response(_participant(participant))


class SpaceLeaveApi(_Api):
    class InputSerializer(StrictInputSerializer):
        successor_id = StrictIntegerField(
            min_value=1,
            required=False,
            help_text="The host only: the co-host who takes over (default: the longest-serving "
            "connected co-host).",
        )

        class Meta:
            ref_name = "SpaceLeave"

    @extend_schema(
        operation_id="spaces_leave",
        tags=TAGS,
        summary="Leave (frees your stage slot; the host hands the Space to a co-host)",
        description=(
            "Idempotent: 204 also when you were not in the Space. The host of a live Space "
            "leaves by handing it over at once (`host.changed`, reason `left`); they get the "
            "host role back if they rejoin while it is live."
        ),
        request=InputSerializer,
        responses={
            204: None,
            **write_errors(
                e403="`host_only`: only the host names a successor.",
                e409="`host_cannot_leave`: no connected co-host can take over (end it "
                "instead); `successor_not_cohost`, `successor_not_connected`, "
                "`successor_hosts_elsewhere`: the named successor cannot take over.",
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.space_leave(
            user=request_user(request),
            space_id=space_id,
            successor_id=data.validated_data.get("successor_id"),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class SpaceHeartbeatApi(_Api):
    @extend_schema(
        operation_id="spaces_heartbeat",
        tags=TAGS,
        summary="Presence heartbeat: you are still in the Space",
        request=None,
        responses={204: None, **write_errors(e403="`not_in_space`")},
    )
    def post(self, request: Request, space_id: int) -> Response:
        services.participant_heartbeat(user=request_user(request), space_id=space_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ParticipantListApi(_Api):
    pagination_class = ParticipantPagination

    class FilterSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=Participant.Role.choices, required=False)

    @extend_schema(
        operation_id="spaces_participants_list",
        tags=TAGS,
        summary="Who is in the Space now, latest to join first",
        parameters=[
            OpenApiParameter(
                "role", OpenApiTypes.STR, enum=Participant.Role.values, description="Only one role."
            )
        ],
        responses={
            200: ParticipantSerializer(many=True),
            **errors(400, 401, 404, e403="`blocked`"),
        },
    )
    def get(self, request: Request, space_id: int) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        qs = selectors.space_participants(
            viewer=request_user(request), space_id=space_id, role=filters.validated_data.get("role")
        )
        return self.paginated(qs, lambda rows: ParticipantSerializer(rows, many=True).data)


# --- Requests to speak -------------------------------------------------------------------------


class RequestListApi(_Api):
    pagination_class = OldestFirstPagination

    @extend_schema(
        operation_id="spaces_requests_list",
        tags=TAGS,
        summary="Raised hands, oldest first (host and co-hosts)",
        responses={
            200: SpeakerRequestSerializer(many=True),
            **errors(401, 404, e403="`not_moderator`", e409=_NOT_LIVE),
        },
    )
    def get(self, request: Request, space_id: int) -> Response:
        qs = selectors.speaker_requests_pending(viewer=request_user(request), space_id=space_id)
        return self.paginated(qs, lambda rows: SpeakerRequestSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="spaces_requests_create",
        tags=TAGS,
        summary="Raise your hand (request to speak)",
        description="201 when raised, 200 with the open request when your hand was already up.",
        request=None,
        responses={
            201: SpeakerRequestSerializer,
            200: SpeakerRequestSerializer,
            **write_errors(
                e403=(
                    "`not_in_space`: join first; `speaking_invite_only`, "
                    "`speaking_followed_only`: the Space's speaking setting refuses you."
                ),
                e409=f"`already_speaker`: you are on stage; {_NOT_LIVE}.",
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        speaker_request, created = services.speaker_request_create(
            user=request_user(request), space_id=space_id
        )
        return Response(
            SpeakerRequestSerializer(speaker_request).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class RequestMineApi(_Api):
    @extend_schema(
        operation_id="spaces_requests_withdraw",
        tags=TAGS,
        summary="Lower your hand",
        description="Idempotent: 204 also when your hand was not up.",
        responses={204: None, **write_errors(e403="`not_in_space`", e409=_NOT_LIVE)},
    )
    def delete(self, request: Request, space_id: int) -> Response:
        services.speaker_request_withdraw(user=request_user(request), space_id=space_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


_MODERATE_403 = "`not_moderator`: only the host or a co-host."


class RequestApproveApi(_Api):
    @extend_schema(
        operation_id="spaces_requests_approve",
        tags=TAGS,
        summary="Bring a requester on stage (host or co-host)",
        description=(
            "Answers 409 `request_not_pending` for a request already answered (by anyone), so "
            "two moderators approving at once learn who won."
        ),
        request=None,
        responses={
            200: ParticipantSerializer,
            **write_errors(
                e403=_MODERATE_403,
                e404="`space_not_found`; `request_not_found`: not a request of this Space.",
                e409=(
                    f"`stage_full`; `request_not_pending`; `not_in_space`: the requester left; "
                    f"`already_speaker`; {_NOT_LIVE}."
                ),
            ),
        },
    )
    def post(self, request: Request, space_id: int, request_id: int) -> Response:
        participant = services.speaker_request_approve(
            actor=request_user(request), space_id=space_id, request_id=request_id
        )
        return Response(_participant(participant))


class RequestDenyApi(_Api):
    @extend_schema(
        operation_id="spaces_requests_deny",
        tags=TAGS,
        summary="Deny a request to speak (host or co-host)",
        request=None,
        responses={
            200: SpeakerRequestSerializer,
            **write_errors(
                e403=_MODERATE_403,
                e404="`space_not_found`; `request_not_found`.",
                e409=f"`request_not_pending`; {_NOT_LIVE}.",
            ),
        },
    )
    def post(self, request: Request, space_id: int, request_id: int) -> Response:
        speaker_request = services.speaker_request_deny(
            actor=request_user(request), space_id=space_id, request_id=request_id
        )
        return Response(SpeakerRequestSerializer(speaker_request).data)


# --- Invitations -------------------------------------------------------------------------------


class InvitationCreateApi(_Api):
    class InputSerializer(StrictInputSerializer):
        user_id = StrictIntegerField(min_value=1, help_text="A participant present in the Space.")
        # Validated by the service; a plain string here keeps one `kind` enum in the schema.
        kind = StrictCharField(
            required=False,
            default=Invitation.Kind.SPEAKER,
            help_text="`speaker` (default) or `cohost`.",
        )

        class Meta:
            ref_name = "SpaceInvitationCreate"

    @extend_schema(
        operation_id="spaces_invitations_create",
        tags=TAGS,
        summary="Invite a participant to speak (host or co-host) or to co-host (host)",
        description="201 when new; 200 with the open invitation when one exists.",
        request=InputSerializer,
        responses={
            201: InvitationSerializer,
            200: InvitationSerializer,
            **write_errors(
                e400="`invalid`; `cannot_target_self`.",
                e403=f"{_MODERATE_403} `host_only`: only the host invites co-hosts.",
                e404="`space_not_found`; `participant_not_found`: never joined this Space.",
                e409=(
                    f"`stage_full`; `cohosts_full`; `already_speaker`; `already_cohost`; "
                    f"`not_in_space`: they left; {_NOT_LIVE}."
                ),
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, created = services.invitation_create(
            actor=request_user(request),
            space_id=space_id,
            invitee_id=data.validated_data["user_id"],
            kind=data.validated_data["kind"],
        )
        return Response(
            InvitationSerializer(invitation).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


_INVITATION_404 = "`space_not_found`; `invitation_not_found`: not your invitation in this Space."


class InvitationAcceptApi(_Api):
    @extend_schema(
        operation_id="spaces_invitations_accept",
        tags=TAGS,
        summary="Accept an invitation to speak or to co-host",
        request=None,
        responses={
            200: ParticipantSerializer,
            **write_errors(
                e403="`not_in_space`: join first.",
                e404=_INVITATION_404,
                e409=(
                    f"`invitation_not_pending`; `stage_full`; `cohosts_full`; `already_speaker`; "
                    f"`already_cohost`; {_NOT_LIVE}."
                ),
            ),
        },
    )
    def post(self, request: Request, space_id: int, invitation_id: int) -> Response:
        participant = services.invitation_accept(
            user=request_user(request), space_id=space_id, invitation_id=invitation_id
        )
        return Response(_participant(participant))


class InvitationDeclineApi(_Api):
    @extend_schema(
        operation_id="spaces_invitations_decline",
        tags=TAGS,
        summary="Decline an invitation",
        request=None,
        responses={
            200: InvitationSerializer,
            **write_errors(e404=_INVITATION_404, e409="`invitation_not_pending`"),
        },
    )
    def post(self, request: Request, space_id: int, invitation_id: int) -> Response:
        invitation = services.invitation_decline(
            user=request_user(request), space_id=space_id, invitation_id=invitation_id
        )
        return Response(InvitationSerializer(invitation).data)


class InvitationDetailApi(_Api):
    @extend_schema(
        operation_id="spaces_invitations_cancel",
        tags=TAGS,
        summary="Take back an open invitation (host or co-host; co-host ones: host)",
        responses={
            200: InvitationSerializer,
            **write_errors(
                e403=f"{_MODERATE_403} `host_only`.",
                e404="`space_not_found`; `invitation_not_found`.",
                e409=f"`invitation_not_pending`; {_NOT_LIVE}.",
            ),
        },
    )
    def delete(self, request: Request, space_id: int, invitation_id: int) -> Response:
        invitation = services.invitation_cancel(
            actor=request_user(request), space_id=space_id, invitation_id=invitation_id
        )
        return Response(InvitationSerializer(invitation).data)


# --- Acting on participants --------------------------------------------------------------------


class _ParticipantActionApi(_Api):
    service: Callable[..., Participant]

    def post(self, request: Request, space_id: int, user_id: int) -> Response:
        participant = type(self).service(
            actor=request_user(request), space_id=space_id, user_id=user_id
        )
        return Response(_participant(participant))


_TARGET_ERRORS = {
    "e400": "`cannot_target_self`.",
    "e404": "`space_not_found`; `participant_not_found`: never joined this Space.",
}


def _participant_action(
    operation_id: str, summary: str, *, e403: str, e409: str, description: str = ""
) -> Any:
    return extend_schema_view(
        post=extend_schema(
            operation_id=operation_id,
            tags=TAGS,
            summary=summary,
            description=description,
            request=None,
            responses={
                200: ParticipantSerializer,
                **write_errors(**_TARGET_ERRORS, e403=e403, e409=e409),
            },
        )
    )


_ACT_ON_403 = "`not_moderator`; `cannot_target_host`; `host_only`: only the host acts on a co-host."


@_participant_action(
    "spaces_participants_demote",
    "Move a speaker (or, for the host, a co-host) to the audience",
    e403=_ACT_ON_403,
    e409=f"`not_on_stage`; {_NOT_LIVE}.",
)
class ParticipantDemoteApi(_ParticipantActionApi):
    service = staticmethod(services.participant_demote)


@_participant_action(
    "spaces_participants_mute",
    "Mute someone on stage (host or co-host)",
    description="Only they can unmute themselves. Muting someone muted changes nothing.",
    e403=_ACT_ON_403,
    e409=f"`not_on_stage`; {_NOT_LIVE}.",
)
class ParticipantMuteApi(_ParticipantActionApi):
    service = staticmethod(services.participant_mute)


@_participant_action(
    "spaces_participants_unmute",
    "Unmute: only for yourself",
    description="Anyone else, the host included, gets 403 `only_self_unmute` (as on X).",
    e403="`only_self_unmute`; `not_in_space`.",
    e409=f"`not_on_stage`; {_NOT_LIVE}.",
)
class ParticipantUnmuteApi(_ParticipantActionApi):
    service = staticmethod(services.participant_unmute)


@_participant_action(
    "spaces_participants_remove",
    "Remove a participant; they cannot rejoin this Space (host or co-host)",
    description="Removing someone already removed changes nothing.",
    e403=_ACT_ON_403,
    e409=_NOT_LIVE,
)
class ParticipantRemoveApi(_ParticipantActionApi):
    service = staticmethod(services.participant_remove)


@_participant_action(
    "spaces_participants_block",
    "Remove a participant and block them account-wide (host)",
    e403="`host_only`; `cannot_target_host`.",
    e409=_NOT_LIVE,
)
class ParticipantBlockApi(_ParticipantActionApi):
    service = staticmethod(services.participant_block)


class CohostDetailApi(_Api):
    @extend_schema(
        operation_id="spaces_cohosts_revoke",
        tags=TAGS,
        summary="Take the co-host role back (host)",
        description="The former co-host stays on stage as a speaker if a slot is free.",
        responses={
            200: ParticipantSerializer,
            **write_errors(
                e403="`host_only`",
                e404="`space_not_found`; `participant_not_found`.",
                e409=f"`not_cohost`; {_NOT_LIVE}.",
            ),
        },
    )
    def delete(self, request: Request, space_id: int, user_id: int) -> Response:
        participant = services.cohost_revoke(
            actor=request_user(request), space_id=space_id, user_id=user_id
        )
        return Response(_participant(participant))


# --- Me ----------------------------------------------------------------------------------------

_SELF_AUDIO_ERRORS = write_errors(
    e403="`not_in_space`", e409=f"`not_on_stage`: only people on stage; {_NOT_LIVE}."
)


class MeMuteApi(_Api):
    @extend_schema(
        operation_id="spaces_me_mute",
        tags=TAGS,
        summary="Mute yourself",
        request=None,
        responses={200: ParticipantSerializer, **_SELF_AUDIO_ERRORS},
    )
    def post(self, request: Request, space_id: int) -> Response:
        return Response(
            _participant(
                services.participant_mute_self(user=request_user(request), space_id=space_id)
            )
        )


class MeUnmuteApi(_Api):
    @extend_schema(
        operation_id="spaces_me_unmute",
        tags=TAGS,
        summary="Unmute yourself",
        request=None,
        responses={200: ParticipantSerializer, **_SELF_AUDIO_ERRORS},
    )
    def post(self, request: Request, space_id: int) -> Response:
        user = request_user(request)
        participant = services.participant_unmute(actor=user, space_id=space_id, user_id=user.pk)
        return Response(_participant(participant))


class MeStepDownApi(_Api):
    @extend_schema(
        operation_id="spaces_me_step_down",
        tags=TAGS,
        summary="Leave the stage for the audience (speakers and co-hosts)",
        request=None,
        responses={
            200: ParticipantSerializer,
            **write_errors(
                e403="`not_in_space`",
                e409=f"`not_on_stage`; `host_cannot_step_down`; {_NOT_LIVE}.",
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        return Response(
            _participant(
                services.participant_step_down(user=request_user(request), space_id=space_id)
            )
        )


# --- Reactions, pins, captions -----------------------------------------------------------------


class ReactionApi(_Api):
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
            "Broadcast to the room and counted for the Space. Rate-limited per user per Space: "
            "429 `rate_limited` with `retry_after` (seconds) and a `Retry-After` header."
        ),
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **write_errors(e403="`not_in_space`", e409=_NOT_LIVE),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        code = services.reaction_send(
            user=request_user(request), space_id=space_id, emoji=data.validated_data["emoji"]
        )
        return Response({"code": code, "emoji": Reaction(code).label})


class PinListApi(_Api):
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
        request=InputSerializer,
        responses={
            201: PinSerializer,
            **write_errors(
                e403="`not_in_space`; `not_on_stage`: only the stage pins.",
                e409=f"`too_many_pins`: at most 3 at once; {_NOT_LIVE}.",
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


class PinDetailApi(_Api):
    @extend_schema(
        operation_id="spaces_pins_remove",
        tags=TAGS,
        summary="Unpin (the author, the host or a co-host)",
        description="Idempotent: 204 also when it was already unpinned.",
        responses={
            204: None,
            **write_errors(
                e403="`not_pin_author`",
                e404="`space_not_found`; `pin_not_found`: not a pin of this Space.",
                e409=_NOT_LIVE,
            ),
        },
    )
    def delete(self, request: Request, space_id: int, pin_id: int) -> Response:
        services.pin_remove(user=request_user(request), space_id=space_id, pin_id=pin_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CaptionsApi(_Api):
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
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **write_errors(e403=_MODERATE_403, e409=_NOT_LIVE),
        },
    )
    def put(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        space = services.captions_toggle(
            actor=request_user(request), space_id=space_id, enabled=data.validated_data["enabled"]
        )
        return Response({"enabled": space.captions_enabled})


class TranscriptApi(_Api):
    pagination_class = OldestFirstPagination

    @extend_schema(
        operation_id="spaces_transcript",
        tags=TAGS,
        summary="The captions so far, in order",
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


class _TranscriptFileApi(_Api):
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
            "attachment`): times from when the Space went live, the speaker as a `<v Name>` "
            "voice span, `&`, `<` and `>` escaped. While the Space is live: the transcript "
            "so far. A line's end is estimated (when it was stored, bounded by the speaker's "
            "next line)."
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
            "One line per caption, `[HH:MM:SS] Speaker: text`, times from when the Space went "
            "live (`text/plain`, `Content-Disposition: attachment`)."
        ),
        responses={
            (200, "text/plain"): OpenApiTypes.STR,
            **errors(401, 404, e403=_TRANSCRIPT_403),
        },
    )
    def get(self, request: Request, space_id: int) -> HttpResponse:
        return super().get(request, space_id)


# --- Share, report, moderation log -------------------------------------------------------------


class ShareApi(_Api):
    class InputSerializer(StrictInputSerializer):
        user_ids = serializers.ListField(
            child=StrictIntegerField(min_value=1),
            max_length=services.MAX_SHARE_RECIPIENTS,
            required=False,
            default=list,
            help_text="Send as a direct message to these users.",
        )
        followers = StrictBooleanField(
            required=False, default=False, help_text="Post to all your followers' inboxes."
        )
        message = StrictCharField(max_length=500, required=False, allow_blank=True, default="")

        class Meta:
            ref_name = "SpaceShare"

    class OutputSerializer(serializers.Serializer):
        messages_sent = serializers.IntegerField()
        notifications_sent = serializers.IntegerField()
        skipped_user_ids = serializers.ListField(
            child=serializers.IntegerField(),
            help_text="Not sent: unknown, inactive, yourself, or a block in the way.",
        )

        class Meta:
            ref_name = "SpaceShareResult"

    @extend_schema(
        operation_id="spaces_share",
        tags=TAGS,
        summary="Share the Space by direct message or with your followers",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **write_errors(
                e403="`blocked`: the host blocked you.",
                e409="`space_ended`, `space_cancelled`.",
                e429="`rate_limited`: posting to followers is once per Space every 10 minutes.",
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.space_share(
            user=request_user(request),
            space_id=space_id,
            user_ids=data.validated_data["user_ids"],
            to_followers=data.validated_data["followers"],
            message=data.validated_data["message"],
        )
        return Response(self.OutputSerializer(result).data)


class ReportApi(_Api):
    class InputSerializer(StrictInputSerializer):
        reason = serializers.ChoiceField(choices=Report.Reason.choices)
        details = StrictCharField(max_length=1000, required=False, allow_blank=True, default="")
        user_id = StrictIntegerField(
            min_value=1,
            required=False,
            allow_null=True,
            default=None,
            help_text="A participant to report; leave out to report the Space.",
        )

        class Meta:
            ref_name = "SpaceReportCreate"

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        reason = serializers.ChoiceField(choices=Report.Reason.choices)
        details = serializers.CharField()
        target_id = serializers.IntegerField(allow_null=True)
        status = serializers.ChoiceField(choices=Report.Status.choices)
        created_at = serializers.DateTimeField()

        class Meta:
            ref_name = "SpaceReport"

    @extend_schema(
        operation_id="spaces_reports_create",
        tags=TAGS,
        summary="Report the Space or a participant to staff",
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            **write_errors(
                e400="`invalid` (`details` required for `other`); `cannot_target_self`.",
                e403="`not_in_space`: only people who were in the Space.",
                e404="`space_not_found`; `participant_not_found`.",
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = services.report_create(
            reporter=request_user(request),
            space_id=space_id,
            reason=data.validated_data["reason"],
            details=data.validated_data["details"],
            target_user_id=data.validated_data["user_id"],
        )
        return Response(self.OutputSerializer(report).data, status=status.HTTP_201_CREATED)


class ModerationLogApi(_Api):
    pagination_class = CreatedCursorPagination

    @extend_schema(
        operation_id="spaces_moderation_log",
        tags=TAGS,
        summary="The moderation log, newest first (host, co-hosts, staff)",
        responses={
            200: ModerationActionSerializer(many=True),
            **errors(401, 404, e403="`not_moderator`"),
        },
    )
    def get(self, request: Request, space_id: int) -> Response:
        qs = selectors.moderation_log_for(viewer=request_user(request), space_id=space_id)
        return self.paginated(qs, lambda rows: ModerationActionSerializer(rows, many=True).data)
