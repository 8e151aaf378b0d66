"""The Spaces API around a Space: sharing it, reporting it, and its moderation log."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from spaces import selectors, services
from spaces.apis.base import TAGS, Api, errors, write_errors
from spaces.models import Report
from spaces.serializers import ModerationActionSerializer
from spaces_project.api import (
    CreatedCursorPagination,
    StrictBooleanField,
    StrictCharField,
    StrictInputSerializer,
    StrictIntegerField,
    request_user,
)


class ShareApi(Api):
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
        description=(
            "Share the Space: by direct message to `user_ids` and/or, with `followers`, to all "
            "your followers' inboxes (once per Space every 10 minutes, else 429). Recipients who "
            "are unknown, inactive, yourself or behind a block are skipped and listed in "
            "`skipped_user_ids`. Not once the Space ended or was cancelled (409)."
        ),
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


class ReportApi(Api):
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
        comment_id = StrictIntegerField(
            min_value=1,
            required=False,
            allow_null=True,
            default=None,
            help_text="A comment of the Space to report (deleted or not): its author is the "
            "person reported, so `user_id` may be left out.",
        )

        class Meta:
            ref_name = "SpaceReportCreate"

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        reason = serializers.ChoiceField(choices=Report.Reason.choices)
        details = serializers.CharField()
        target_id = serializers.IntegerField(allow_null=True)
        comment_id = serializers.IntegerField(allow_null=True, help_text="The reported comment.")
        status = serializers.ChoiceField(choices=Report.Status.choices)
        created_at = serializers.DateTimeField()

        class Meta:
            ref_name = "SpaceReport"

    @extend_schema(
        operation_id="spaces_reports_create",
        tags=TAGS,
        summary="Report the Space, a participant or a comment to staff",
        description=(
            "Report the Space, one of its participants (`user_id`) or one of its comments "
            "(`comment_id`, deleted or not: its author is reported), to staff with a reason; "
            "`details` is required for `other`. Staff see the comments and captions of a minute "
            "around it with the report. Only people who were in the Space (403 `not_in_space`); "
            "you cannot report yourself or your own comment (400 `cannot_target_self`)."
        ),
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            **write_errors(
                e400="`invalid` (`details` required for `other`; a `user_id` who did not write "
                "the comment); `cannot_target_self`.",
                e403="`not_in_space`: only people who were in the Space.",
                e404="`space_not_found`; `participant_not_found`; `comment_not_found`: no such "
                "comment in this Space.",
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
            comment_id=data.validated_data["comment_id"],
        )
        return Response(self.OutputSerializer(report).data, status=status.HTTP_201_CREATED)


class ModerationLogApi(Api):
    pagination_class = CreatedCursorPagination

    @extend_schema(
        operation_id="spaces_moderation_log",
        tags=TAGS,
        summary="The moderation log, newest first (host, co-hosts, staff)",
        description=(
            "What the host, co-hosts and staff did in the Space (approvals, invitations, "
            "demotions, mutes, removals, blocks, unpins, handovers), newest first, cursor-paged: "
            "for the host, co-hosts and staff (403 `not_moderator`)."
        ),
        responses={
            200: ModerationActionSerializer(many=True),
            **errors(401, 404, e403="`not_moderator`"),
        },
    )
    def get(self, request: Request, space_id: int) -> Response:
        qs = selectors.moderation_log_for(viewer=request_user(request), space_id=space_id)
        return self.paginated(qs, lambda rows: ModerationActionSerializer(rows, many=True).data)
