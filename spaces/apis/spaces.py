"""The Spaces API: the lists, starting a Space, one Space, joining, leaving and ending it, and
a stage member's consent to be recorded."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from spaces import selectors, services
from spaces.apis.base import (
    NOT_LIVE,
    TAGS,
    Api,
    EndedPagination,
    LivePagination,
    ParticipantPagination,
    errors,
    participant_data,
    write_errors,
)
from spaces.models import (
    MAX_TOPICS,
    TITLE_MAX_LENGTH,
    TOPIC_MAX_LENGTH,
    ListenMode,
    Participant,
    Recording,
    Space,
)
from spaces.serializers import (
    BubbleSpaceSerializer,
    LiveSpaceSerializer,
    ParticipantSerializer,
    SpaceDetailSerializer,
    SpaceSerializer,
    bubbles_data,
    live_spaces_data,
)
from spaces_project.api import (
    StrictBooleanField,
    StrictCharField,
    StrictInputSerializer,
    StrictIntegerField,
    request_user,
)


class SpaceListApi(Api):
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
        recording_enabled = StrictBooleanField(
            required=False,
            default=True,
            help_text="Record the Space (each stage member may still keep their voice out).",
        )
        clips_enabled = StrictBooleanField(
            required=False, default=True, help_text="Let people who hear it clip it."
        )

        class Meta:
            ref_name = "SpaceStart"

    @extend_schema(
        operation_id="spaces_live_list",
        tags=TAGS,
        summary="Live Spaces, most listeners first",
        description=(
            "Every live Space you can see, most listeners first, paged by `limit` and `offset` "
            "(counts move all the time, so there is no cursor). Spaces whose host blocked you, or "
            "whom you blocked, are left out. `q` matches part of the title or a topic. A "
            "ticketed Space carries its tickets as you stand (`ticket`, formatted for people; "
            "null when free), as in the following list."
        ),
        parameters=[
            OpenApiParameter(
                "q", OpenApiTypes.STR, description="Search in titles and topics (substring)."
            )
        ],
        responses={200: LiveSpaceSerializer(many=True), **errors(400, 401)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        viewer = request_user(request)
        qs = selectors.space_list_live(viewer=viewer, query=filters.validated_data.get("q"))
        return self.paginated(qs, lambda rows: live_spaces_data(rows, viewer))

    @extend_schema(
        operation_id="spaces_start",
        tags=TAGS,
        summary="Start a live Space now",
        description=(
            "Start a live Space now; you become its host. Needs `SPACES_HOST_MIN_FOLLOWERS` "
            "followers (403 `not_enough_followers`) and no other live Space of yours (409 "
            "`already_live`). To start later, schedule it (`POST /api/v1/spaces/scheduled`). "
            "It is recorded (`recording_enabled`) and may be clipped (`clips_enabled`) unless "
            "you say otherwise; the choice holds for the whole Space."
        ),
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


class SpaceFollowingApi(Api):
    pagination_class = LivePagination

    @extend_schema(
        operation_id="spaces_following_list",
        tags=TAGS,
        summary="Live now from people you follow (the bubble)",
        description=(
            "Live Spaces hosted, co-hosted or spoken in by people you follow: the most people you "
            "follow on stage first, then the most listeners; paged by `limit` and `offset`. Each "
            "item carries the Space, the people you follow on stage and, for a ticketed Space, "
            "its tickets as you stand (`ticket`, formatted for people; null when free). The home "
            "socket sends the same list as it changes."
        ),
        responses={200: BubbleSpaceSerializer(many=True), **errors(401)},
    )
    def get(self, request: Request) -> Response:
        viewer = request_user(request)
        qs = selectors.space_list_following(viewer=viewer)
        return self.paginated(qs, lambda rows: bubbles_data(rows, viewer))


class EndedReplaySerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=Recording.Status.choices,
        help_text="`ready`: listen at `url`; `recording`: being made into a replay; "
        "`deleted`: the page answers 410.",
    )
    url = serializers.CharField(help_text="The replay's page on the site.")

    class Meta:
        ref_name = "EndedSpaceReplay"


# SpaceSerializer under its own name: the schema names a paginated list after the item
# serializer, so the cursor-paged ended list shared `PaginatedSpaceList` (limit/offset, with
# `count`) with the live list and its answers did not match the schema.
class EndedSpaceSerializer(SpaceSerializer):
    """A Space that has ended: the fields of `Space`, with `ended_at` set and the final counts."""

    replay = serializers.SerializerMethodField(
        help_text="Its recording, as `space_list_ended` annotates it; null if it was not recorded."
    )

    class Meta:
        ref_name = "EndedSpace"

    @extend_schema_field(EndedReplaySerializer(allow_null=True))
    def get_replay(self, space: Space) -> dict[str, str] | None:
        status = getattr(space, "replay_status", None)
        if status is None:
            return None
        # The site's replay page (replays/site_urls.py): Spaces sits below replays and names
        # the path rather than reversing a route of the app above it.
        return {"status": status, "url": f"/spaces/{space.pk}/replay/"}


class SpaceEndedApi(Api):
    pagination_class = EndedPagination

    class FilterSerializer(serializers.Serializer):
        # Bounded: a larger id made SQLite raise OverflowError (a 500) instead of matching none.
        host = serializers.IntegerField(required=False, min_value=1, max_value=2**53 - 1)

    @extend_schema(
        operation_id="spaces_ended_list",
        tags=TAGS,
        summary="Ended Spaces, most recent first",
        description=(
            "Ended Spaces you can see, most recently ended first, cursor-paged; `host` keeps one "
            "host's. Spaces whose host blocked you, or whom you blocked, are left out. `replay` "
            "says whether each has a replay (null when it was not recorded)."
        ),
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
        return self.paginated(qs, lambda rows: EndedSpaceSerializer(rows, many=True).data)


class SpaceDetailApi(Api):
    @extend_schema(
        operation_id="spaces_retrieve",
        tags=TAGS,
        summary="A Space: who is where, pins, your role and what you may do",
        description=(
            "Everything to draw a Space, in any state: the stage (host, co-hosts, speakers, with "
            "mute flags), the latest listeners, pins, reaction counts, your place, raised hand and "
            "open invitations, and `can`: what the server would accept from you now. The Space "
            "socket sends the same shape as `space.state` and keeps it current. 403 `blocked` when "
            "the host blocked you."
        ),
        responses={
            200: SpaceDetailSerializer,
            **errors(401, 404, e403="`blocked`: the host blocked you."),
        },
    )
    def get(self, request: Request, space_id: int) -> Response:
        detail = selectors.space_detail(viewer=request_user(request), space_id=space_id)
        return Response(SpaceDetailSerializer(detail).data)


class SpaceEndApi(Api):
    @extend_schema(
        operation_id="spaces_end",
        tags=TAGS,
        summary="End the Space (host or staff)",
        description=(
            "End the Space for everyone: its host, or staff (403 `host_only` for anyone else). "
            "Answers with the ended Space; a Space that is no longer live is 409."
        ),
        request=None,
        responses={
            200: SpaceSerializer,
            **write_errors(e403="`host_only`: only the host ends a Space.", e409=NOT_LIVE),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        space = services.space_end(actor=request_user(request), space_id=space_id)
        return Response(SpaceSerializer(space).data)


class SpaceJoinApi(Api):
    @extend_schema(
        operation_id="spaces_join",
        tags=TAGS,
        summary="Join as a listener",
        description=(
            "Join the Space as a listener; answers with your place. Joining while in the Space "
            "changes nothing (200 with your place). Refused when the host blocked you (403 "
            "`blocked`) or removed you from this Space (403 `removed`), when the Space is "
            "ticketed and you hold no paid ticket and are neither on stage, invited to speak nor "
            "a guest of the host (403 `ticket_required`), and when the Space is not live (409). "
            "Opening the Space socket joins the same way: these refusals close it (4403, 4409)."
        ),
        request=None,
        responses={
            200: ParticipantSerializer,
            **write_errors(
                e403=(
                    "`blocked`: the host blocked you; `removed`: you were removed; "
                    "`ticket_required`: a ticketed Space and you have no ticket."
                ),
                e409=NOT_LIVE,
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        participant = services.space_join(user=request_user(request), space_id=space_id)
        return Response(participant_data(participant))


class SpaceLeaveApi(Api):
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
            "Leave the Space: your stage slot, if any, is freed. Idempotent: 204 also when you "
            "were not in the Space. The host of a live Space leaves by handing it over at once to "
            "a connected co-host (`successor_id`, or the longest-serving one; `host.changed`, "
            "reason `left`), and gets the host role back on rejoining while it is live; with no "
            "co-host to take over it is 409 `host_cannot_leave` (end it instead)."
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


class SpaceHeartbeatApi(Api):
    @extend_schema(
        operation_id="spaces_heartbeat",
        tags=TAGS,
        summary="Presence heartbeat: you are still in the Space",
        description=(
            "Say you are still in the Space. A client without the Space socket open sends it "
            "periodically: a participant whose heartbeat stops is swept out of the Space, and a "
            "co-host who is not connected cannot be handed the Space. 403 `not_in_space` when you "
            "have not joined."
        ),
        request=None,
        responses={204: None, **write_errors(e403="`not_in_space`")},
    )
    def post(self, request: Request, space_id: int) -> Response:
        services.participant_heartbeat(user=request_user(request), space_id=space_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ParticipantListApi(Api):
    pagination_class = ParticipantPagination

    class FilterSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=Participant.Role.choices, required=False)

    @extend_schema(
        operation_id="spaces_participants_list",
        tags=TAGS,
        summary="Who is in the Space now, latest to join first",
        description=(
            "Who is in the Space now, latest to join first, cursor-paged; `role` keeps one role. "
            "403 `blocked` when the host blocked you."
        ),
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


class RecordingConsentApi(Api):
    class InputSerializer(StrictInputSerializer):
        recorded = StrictBooleanField(
            help_text="false: keep your voice out of the recording from now on; true: let it in."
        )

        class Meta:
            ref_name = "SpaceRecordingConsent"

    @extend_schema(
        operation_id="spaces_recording_consent",
        tags=TAGS,
        summary="Keep your voice out of the recording, or let it back in (stage)",
        description=(
            "A stage member of a recorded live Space chooses whether their voice is recorded: "
            "with `recorded: false` the recording mixes without them from the next 20 ms while "
            "listeners still hear them; `true` lets them back in. The choice stays with you if "
            "you leave the stage and come back, is written in the moderation log, and the replay "
            "lists who was left out. Answers with your place (`voice_recorded`); sending the "
            "current value changes nothing. Everyone gets `recording.consent_changed`; the "
            "socket's `recording.consent` action does the same."
        ),
        request=InputSerializer,
        responses={
            200: ParticipantSerializer,
            **write_errors(
                e403="`not_in_space`: join the Space first.",
                e409=f"{NOT_LIVE}; `recording_off`: the host does not record this Space; "
                "`not_on_stage`: only the stage is recorded.",
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        participant = services.recording_consent_set(
            actor=request_user(request),
            space_id=space_id,
            recorded=data.validated_data["recorded"],
        )
        return Response(participant_data(participant))


class ListenModeApi(Api):
    class InputSerializer(StrictInputSerializer):
        mode = serializers.ChoiceField(
            choices=ListenMode.choices,
            help_text="`hls`: listen with a delay of a few seconds, using less data; "
            "`webrtc`: real time.",
        )

        class Meta:
            ref_name = "SpaceListenMode"

    @extend_schema(
        operation_id="spaces_listen_mode",
        tags=TAGS,
        summary="Listen in real time or with a delay (listeners)",
        description=(
            "A listener chooses how to hear a live Space: `webrtc` in real time, or `hls`, "
            "a few seconds behind over live HLS (the playlist is `hls.url` of the Space's "
            "detail), using less data. Past `SPACES_WEBRTC_LISTENERS_MAX` real-time listeners "
            "a Space seats new listeners on HLS; switching back to `webrtc` then answers 409 "
            "`webrtc_full`. On stage everyone is real time. Answers with your place "
            "(`listen_mode`); choosing the mode you have changes nothing. Everyone gets "
            "`listen_mode.changed`; the socket's `listen_mode` action does the same."
        ),
        request=InputSerializer,
        responses={
            200: ParticipantSerializer,
            **write_errors(
                e403="`not_in_space`: join the Space first.",
                e409=f"{NOT_LIVE}; `not_listener`: the stage is always real time; "
                "`webrtc_full`: no real-time room left; `hls_unavailable`: this server has "
                "no live HLS.",
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        participant = services.listen_mode_set(
            actor=request_user(request), space_id=space_id, mode=data.validated_data["mode"]
        )
        return Response(participant_data(participant))
