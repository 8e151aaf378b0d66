"""The scheduling API under /api/v1/: schedule, edit, cancel and start a Space, set and remove
reminders, and the upcoming lists.

Thin entry points, as in spaces/apis/: a strict nested `InputSerializer` (unknown fields
refused), one service or selector, the one error shape. A write answers with the Space as the
upcoming lists show it (re-read through `scheduled_detail`, so counts are those after commit).

| method and path                               | does                                   |
|-----------------------------------------------|----------------------------------------|
| GET  spaces/scheduled                         | your own upcoming Spaces               |
| POST spaces/scheduled                         | schedule a Space                       |
| GET  spaces/scheduled/{id}                    | one scheduled Space (any state since)  |
| PATCH spaces/scheduled/{id}                   | edit title, topics, speaking, time...  |
| DELETE spaces/scheduled/{id}                  | cancel (idempotent)                    |
| POST spaces/scheduled/{id}/start              | go live now, same id                   |
| PUT  spaces/{id}/reminder                     | set a reminder (idempotent)            |
| DELETE spaces/{id}/reminder                   | remove it (idempotent)                 |
| GET  spaces/upcoming                          | upcoming Spaces of people you follow   |
| GET  users/{username}/upcoming                | one host's upcoming Spaces             |
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import user_get_active
from scheduling import selectors, services
from scheduling.models import SpaceSchedule
from spaces import hooks as spaces_hooks
from spaces.hooks import TICKET_BADGE_ATTR
from spaces.models import MAX_TOPICS, TITLE_MAX_LENGTH, TOPIC_MAX_LENGTH, Space
from spaces.serializers import SpaceUserSerializer, TicketBadgeSerializer
from spaces_project.api import (
    PagedApi,
    StrictBooleanField,
    StrictCharField,
    StrictDateTimeField,
    StrictInputSerializer,
    errors,
    request_user,
)

TAGS = ["scheduled spaces"]

_E400 = (
    "`invalid`: see `fields` (`scheduled_for` too soon or too far ahead, `title`, `topics`, "
    "`speaking_policy`, unknown fields); `malformed_request`: the body is not valid JSON."
)
_E404 = "`space_not_found`: no such scheduled Space."
_E409_STATE = "`space_started`, `space_ended`, `space_cancelled`: the Space is no longer scheduled."


# --- Output -------------------------------------------------------------------------------------


class ScheduledSpaceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    topics = serializers.ListField(child=serializers.CharField())
    state = serializers.ChoiceField(
        choices=Space.State.choices,
        help_text="`scheduled` until the host starts it (`live`, same id) or it is cancelled.",
    )
    speaking_policy = serializers.ChoiceField(choices=Space.SpeakingPolicy.choices)
    recording_enabled = serializers.BooleanField(help_text="It will be recorded once live.")
    clips_enabled = serializers.BooleanField(help_text="People who hear it may clip it.")
    is_ticketed = serializers.BooleanField()
    host = SpaceUserSerializer()
    scheduled_for = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    reminder_count = serializers.IntegerField(help_text="How many people set a reminder.")
    has_reminder = serializers.BooleanField(help_text="You set a reminder.")
    cancel_reason = serializers.ChoiceField(
        choices=SpaceSchedule.CancelReason.choices,
        allow_null=True,
        help_text="Why a cancelled Space was cancelled: `host` or `expired`.",
    )
    # Set by `spaces.hooks.ticket_badges_attach` (`_scheduled_data`): one read for a whole page.
    ticket = TicketBadgeSerializer(
        source=TICKET_BADGE_ATTR,
        allow_null=True,
        help_text="The Space's tickets as you stand (Buy, held, Sales...); null for a free Space.",
    )

    class Meta:
        ref_name = "ScheduledSpace"

    def to_representation(self, instance: Space) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["cancel_reason"] = selectors.cancel_reason_of(instance)
        return data


class ReminderSerializer(serializers.Serializer):
    has_reminder = serializers.BooleanField()
    space = ScheduledSpaceSerializer()

    class Meta:
        ref_name = "ScheduledSpaceReminder"


class UpcomingPagination(CursorPagination):
    ordering = ("scheduled_for", "id")
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


def _scheduled_data(request: Request, spaces: list[Space]) -> Any:
    """`spaces` as the viewer sees them: their ticket badges read in one go (the hook
    ticketing registers), then serialized."""
    spaces_hooks.ticket_badges_attach(viewer=request_user(request), spaces=spaces)
    return ScheduledSpaceSerializer(spaces, many=True).data


class _Api(PagedApi):
    def page(self, queryset: Any) -> Response:
        return self.paginated(queryset, lambda rows: _scheduled_data(self.request, rows))


def _fresh(request: Request, space_id: int) -> dict[str, Any]:
    space = selectors.scheduled_detail(viewer=request_user(request), space_id=space_id)
    data: dict[str, Any] = _scheduled_data(request, [space])[0]
    return data


# --- Schedule, list mine ------------------------------------------------------------------------


class ScheduledListApi(_Api):
    pagination_class = UpcomingPagination

    class InputSerializer(StrictInputSerializer):
        title = StrictCharField(max_length=TITLE_MAX_LENGTH)
        scheduled_for = StrictDateTimeField(
            help_text="ISO 8601, between 15 minutes and 14 days from now (settings)."
        )
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
            help_text="Who may ask to speak once it is live.",
        )
        recording_enabled = StrictBooleanField(
            required=False,
            default=True,
            help_text="Record it once live (each stage member may still keep their voice out).",
        )
        clips_enabled = StrictBooleanField(
            required=False, default=True, help_text="Let people who hear it clip it."
        )

        class Meta:
            ref_name = "ScheduledSpaceCreate"

    @extend_schema(
        operation_id="scheduled_spaces_mine",
        tags=TAGS,
        summary="Your upcoming Spaces, soonest first",
        description="The Spaces you scheduled that are still to come, soonest first, cursor-paged.",
        responses={200: ScheduledSpaceSerializer(many=True), **errors(401)},
    )
    def get(self, request: Request) -> Response:
        return self.page(
            selectors.scheduled_list_for_host(
                viewer=request_user(request), host=request_user(request)
            )
        )

    @extend_schema(
        operation_id="scheduled_spaces_create",
        tags=TAGS,
        summary="Schedule a Space",
        description=(
            "Schedule a Space between 15 minutes and 14 days ahead; you become its host and are "
            "notified 30 minutes before and at the time. Needs `SPACES_HOST_MIN_FOLLOWERS` "
            "followers (403 `not_enough_followers`); at most `SPACES_MAX_UPCOMING_PER_HOST` "
            "upcoming Spaces (409 `too_many_upcoming`). It will be recorded "
            "(`recording_enabled`) and may be clipped (`clips_enabled`) unless you say otherwise."
        ),
        request=InputSerializer,
        responses={
            201: ScheduledSpaceSerializer,
            **errors(
                401,
                413,
                415,
                429,
                e400=_E400,
                e403="`not_enough_followers`",
                e409="`too_many_upcoming`: you have the most upcoming Spaces allowed.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        space = services.scheduled_space_create(host=request_user(request), **data.validated_data)
        return Response(_fresh(request, space.pk), status=status.HTTP_201_CREATED)


# --- One scheduled Space ------------------------------------------------------------------------


class ScheduledDetailApi(_Api):
    class InputSerializer(StrictInputSerializer):
        title = StrictCharField(max_length=TITLE_MAX_LENGTH, required=False)
        scheduled_for = StrictDateTimeField(
            required=False,
            help_text="A new time tells everyone with a reminder and re-arms the reminders.",
        )
        topics = serializers.ListField(
            child=StrictCharField(max_length=TOPIC_MAX_LENGTH),
            max_length=MAX_TOPICS,
            required=False,
        )
        speaking_policy = serializers.ChoiceField(
            choices=Space.SpeakingPolicy.choices, required=False
        )
        recording_enabled = StrictBooleanField(required=False)
        clips_enabled = StrictBooleanField(required=False)

        class Meta:
            ref_name = "ScheduledSpaceUpdate"

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if not attrs:
                raise serializers.ValidationError(_("Give at least one field to change."))
            return attrs

    @extend_schema(
        operation_id="scheduled_spaces_retrieve",
        tags=TAGS,
        summary="A scheduled Space, with its reminder count",
        description=(
            "One scheduled Space with its reminder count and whether you set one; also after it "
            "went live or was cancelled (see `state`, `cancel_reason`). 403 `blocked` when the "
            "host blocked you."
        ),
        responses={
            200: ScheduledSpaceSerializer,
            **errors(401, e403="`blocked`: the host blocked you.", e404=_E404),
        },
    )
    def get(self, request: Request, space_id: int) -> Response:
        return Response(_fresh(request, space_id))

    @extend_schema(
        operation_id="scheduled_spaces_update",
        tags=TAGS,
        summary="Edit a scheduled Space (host)",
        description=(
            "The host changes the title, topics, speaking setting, time, recording or clips of a "
            "Space that has not started; send only what changes (at least one field). A new "
            "time tells everyone with a reminder and re-arms the reminders. 409 once it "
            "started, ended or was cancelled."
        ),
        request=InputSerializer,
        responses={
            200: ScheduledSpaceSerializer,
            **errors(
                401,
                413,
                415,
                429,
                e400=_E400,
                e403="`not_host`: only the host edits it.",
                e404=_E404,
                e409=_E409_STATE,
            ),
        },
    )
    def patch(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.scheduled_space_update(
            actor=request_user(request), space_id=space_id, **data.validated_data
        )
        return Response(_fresh(request, space_id))

    @extend_schema(
        operation_id="scheduled_spaces_cancel",
        tags=TAGS,
        summary="Cancel a scheduled Space (host)",
        description=(
            "The host cancels a scheduled Space; everyone with a reminder is told. Cancelling a "
            "cancelled Space changes nothing (200); one that already started is 409."
        ),
        request=None,
        responses={
            200: ScheduledSpaceSerializer,
            **errors(
                401,
                429,
                e403="`not_host`: only the host cancels it.",
                e404=_E404,
                e409="`space_started`, `space_ended`: it already started.",
            ),
        },
    )
    def delete(self, request: Request, space_id: int) -> Response:
        services.scheduled_space_cancel(actor=request_user(request), space_id=space_id)
        return Response(_fresh(request, space_id))


class ScheduledStartApi(_Api):
    @extend_schema(
        operation_id="scheduled_spaces_start",
        tags=TAGS,
        summary="Start a scheduled Space now (host), early or late",
        description=(
            "The host starts a scheduled Space now, early or late. It becomes the live Space with "
            "the same id (see /api/v1/spaces/{id}); everyone with a reminder is told at once. 409 "
            "`already_live` when you already host a live Space."
        ),
        request=None,
        responses={
            200: ScheduledSpaceSerializer,
            **errors(
                401,
                429,
                e403="`not_host`: only the host starts it.",
                e404=_E404,
                e409=_E409_STATE + " `already_live`: you already host a live Space.",
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        services.scheduled_space_start(actor=request_user(request), space_id=space_id)
        return Response(_fresh(request, space_id))


# --- Reminders ----------------------------------------------------------------------------------


class ReminderApi(_Api):
    @extend_schema(
        operation_id="scheduled_spaces_reminder_set",
        tags=TAGS,
        summary="Set a reminder",
        description=(
            "Be reminded of a scheduled Space: you are notified 15 minutes before and when the "
            "host goes live (inbox, home socket, and e-mail if you allow it). Not for your own "
            "Space (403 `own_space`). Setting it twice changes nothing."
        ),
        request=None,
        responses={
            200: ReminderSerializer,
            **errors(
                401,
                429,
                e403="`own_space`: you host it; `blocked`: the host blocked you.",
                e404="`space_not_found`: no such Space.",
                e409=_E409_STATE,
            ),
        },
    )
    def put(self, request: Request, space_id: int) -> Response:
        services.reminder_set(user=request_user(request), space_id=space_id)
        return Response({"has_reminder": True, "space": _fresh(request, space_id)})

    @extend_schema(
        operation_id="scheduled_spaces_reminder_unset",
        tags=TAGS,
        summary="Remove your reminder",
        description=(
            "Remove your reminder. Idempotent: 204 also when you had none, in any state of the "
            "Space."
        ),
        request=None,
        responses={
            204: None,
            **errors(401, 429, e404="`space_not_found`: no such Space."),
        },
    )
    def delete(self, request: Request, space_id: int) -> Response:
        services.reminder_unset(user=request_user(request), space_id=space_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Discover -----------------------------------------------------------------------------------


class UpcomingFollowingApi(_Api):
    pagination_class = UpcomingPagination

    @extend_schema(
        operation_id="scheduled_spaces_following",
        tags=TAGS,
        summary="Upcoming Spaces of people you follow, soonest first",
        description=(
            "Scheduled Spaces of the people you follow, soonest first, cursor-paged, with their "
            "reminder counts, whether you set one and, for a ticketed Space, its tickets as you "
            "stand (`ticket`, formatted for people; null when free)."
        ),
        responses={200: ScheduledSpaceSerializer(many=True), **errors(401)},
    )
    def get(self, request: Request) -> Response:
        return self.page(selectors.scheduled_list_following(viewer=request_user(request)))


class UpcomingOfUserApi(_Api):
    pagination_class = UpcomingPagination

    @extend_schema(
        operation_id="scheduled_spaces_of_user",
        tags=TAGS,
        summary="A host's upcoming Spaces, soonest first",
        description=(
            "One host's scheduled Spaces by username, soonest first, cursor-paged. Empty when the "
            "host blocked you or you blocked them; 404 `not_found` for an unknown user."
        ),
        responses={200: ScheduledSpaceSerializer(many=True), **errors(401, 404)},
    )
    def get(self, request: Request, username: str) -> Response:
        host = user_get_active(username=username)
        return self.page(selectors.scheduled_list_for_host(viewer=request_user(request), host=host))
