"""The accounts API under /api/v1/: me, profiles, the follow graph, blocks, notifications.

Thin entry points: each view validates its input with a nested `InputSerializer`, calls one
service (writes) or selector (reads), and renders with a nested `OutputSerializer`. Every 4xx
leaves through `spaces_project.api.exception_handler` as `{"error": {"code", "message",
"fields"}}`; the codes each endpoint can answer are listed in its schema.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.models import Notification, User
from spaces_project.api import (
    WRITE_ERRORS,
    CreatedCursorPagination,
    StrictBooleanField,
    StrictCharField,
    StrictInputSerializer,
    StrictIntegerField,
    errors,
    paginated_response,
    request_user,
)

# --- Me -------------------------------------------------------------------------------------


class MeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(
            help_text="Your user id: the `user_id` of socket actions and the `user.id` in events."
        )
        username = serializers.CharField()
        display_name = serializers.CharField()
        bio = serializers.CharField()
        email = serializers.EmailField()
        email_notifications = serializers.BooleanField()
        follower_count = serializers.IntegerField()
        following_count = serializers.IntegerField()
        can_host = serializers.BooleanField(
            help_text="Enough followers to start a Space (SPACES_HOST_MIN_FOLLOWERS)."
        )

        class Meta:
            ref_name = "Me"

    class InputSerializer(StrictInputSerializer):
        display_name = StrictCharField(max_length=50, allow_blank=True, required=False)
        bio = StrictCharField(max_length=160, allow_blank=True, required=False)
        email_notifications = StrictBooleanField(required=False)

        class Meta:
            ref_name = "MeUpdate"

    @extend_schema(
        operation_id="me_retrieve",
        tags=["me"],
        summary="Your own account",
        description=(
            "Your own account: your user `id` (the `user_id` that Space actions take and the "
            "`user.id` events name you by), profile fields, e-mail preference, follower and "
            "following counts, and `can_host` (whether you have the followers to start a "
            "Space). Call it after signing in to learn who you are."
        ),
        responses={200: OutputSerializer, **errors(401)},
    )
    def get(self, request: Request) -> Response:
        account = selectors.user_me(user=request_user(request))
        return Response(self.OutputSerializer(account).data)

    @extend_schema(
        operation_id="me_update",
        tags=["me"],
        summary="Change your display name, bio or e-mail preference",
        description=(
            "Change any of `display_name`, `bio` and `email_notifications`; what you leave out "
            "stays as it is, and unknown or read-only fields are refused (400 `invalid`). Answers "
            "with your whole account, as `GET /api/v1/me` does."
        ),
        request=InputSerializer,
        responses={200: OutputSerializer, **errors(*WRITE_ERRORS)},
    )
    def patch(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_update_profile(user=request_user(request), **serializer.validated_data)
        account = selectors.user_me(user=request_user(request))
        return Response(self.OutputSerializer(account).data)


# --- Profiles, follow, block ----------------------------------------------------------------


class UserDetailApi(APIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(help_text="The user id Space actions and events use.")
        username = serializers.CharField()
        display_name = serializers.CharField()
        bio = serializers.CharField()
        follower_count = serializers.IntegerField()
        following_count = serializers.IntegerField()
        can_host = serializers.BooleanField()
        is_followed = serializers.BooleanField(help_text="You follow them.")
        follows_you = serializers.BooleanField(help_text="They follow you.")
        is_blocked = serializers.BooleanField(help_text="You blocked them.")
        blocks_you = serializers.BooleanField(help_text="They blocked you.")

        class Meta:
            ref_name = "Profile"

    @extend_schema(
        operation_id="user_retrieve",
        tags=["users"],
        summary="A user's profile and how you relate to them",
        description=(
            "A public profile by username (case-insensitive), with its counts and how you relate: "
            "whether you follow each other and whether either of you blocked the other. 404 "
            "`not_found` for an unknown or deactivated account."
        ),
        responses={200: OutputSerializer, **errors(401, 404)},
    )
    def get(self, request: Request, username: str) -> Response:
        user = selectors.user_get_profile(username=username, viewer=request_user(request))
        return Response(self.OutputSerializer(user).data)


def _profile(username: str, viewer: User) -> dict[str, Any]:
    user = selectors.user_get_profile(username=username, viewer=viewer)
    return UserDetailApi.OutputSerializer(user).data


class UserFollowApi(APIView):
    @extend_schema(
        operation_id="user_follow",
        tags=["users"],
        summary="Follow a user",
        description=(
            "Follow a user; answers with their profile as you now see it. Idempotent: 201 when the "
            "follow is new, 200 when you already followed. Refused for yourself (400 "
            "`cannot_follow_self`) and when either of you blocked the other (403 `blocked`, "
            "`you_blocked`)."
        ),
        request=None,
        responses={
            201: OpenApiResponse(UserDetailApi.OutputSerializer, "Now following."),
            200: OpenApiResponse(UserDetailApi.OutputSerializer, "Already following."),
            **errors(
                401,
                404,
                429,
                e400="`cannot_follow_self`",
                e403=(
                    "`blocked`: they blocked you; `you_blocked`: unblock them first; "
                    "`forbidden`: site session without the CSRF token."
                ),
            ),
        },
    )
    def post(self, request: Request, username: str) -> Response:
        followee = selectors.user_get_active(username=username)
        _, created = services.follow_create(follower=request_user(request), followee=followee)
        return Response(
            _profile(followee.username, request_user(request)),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        operation_id="user_unfollow",
        tags=["users"],
        summary="Stop following a user",
        description="Stop following a user. Idempotent: 204 whether or not you followed them.",
        responses={204: None, **errors(401, 403, 404, 429)},
    )
    def delete(self, request: Request, username: str) -> Response:
        followee = selectors.user_get_active(username=username)
        services.follow_delete(follower=request_user(request), followee=followee)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserBlockApi(APIView):
    @extend_schema(
        operation_id="user_block",
        tags=["users"],
        summary="Block a user",
        description=(
            "Block a user: follows both ways are removed, they can no longer follow you, and they "
            "no longer see or join your Spaces. Answers with their profile. Idempotent: 201 when "
            "the block is new, 200 when you had already blocked them."
        ),
        request=None,
        responses={
            201: OpenApiResponse(UserDetailApi.OutputSerializer, "Blocked."),
            200: OpenApiResponse(UserDetailApi.OutputSerializer, "Already blocked."),
            **errors(401, 403, 404, 429, e400="`cannot_block_self`"),
        },
    )
    def post(self, request: Request, username: str) -> Response:
        blocked = selectors.user_get_active(username=username)
        _, created = services.block_create(blocker=request_user(request), blocked=blocked)
        return Response(
            _profile(blocked.username, request_user(request)),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        operation_id="user_unblock",
        tags=["users"],
        summary="Unblock a user",
        description=(
            "Unblock a user. Follows the block removed are not restored. Idempotent: 204 whether "
            "or not you had blocked them."
        ),
        responses={204: None, **errors(401, 403, 404, 429)},
    )
    def delete(self, request: Request, username: str) -> Response:
        blocked = selectors.user_get_active(username=username)
        services.block_delete(blocker=request_user(request), blocked=blocked)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Follower and following lists ------------------------------------------------------------


class FollowListItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The user id Space actions and events use.")
    username = serializers.CharField()
    display_name = serializers.CharField()
    bio = serializers.CharField()
    follower_count = serializers.IntegerField()
    following_count = serializers.IntegerField()
    can_host = serializers.BooleanField()
    is_followed = serializers.BooleanField(help_text="You follow them.")
    follows_you = serializers.BooleanField(help_text="They follow you.")
    is_blocked = serializers.BooleanField(help_text="You blocked them.")
    followed_at = serializers.DateTimeField(help_text="When this follow began.")

    class Meta:
        ref_name = "FollowListItem"


class _FollowListApi(APIView):
    """Shared by followers and following: only the side of the Follow row differs."""

    pagination_class = CreatedCursorPagination
    side: str  # the Follow field that holds the listed user

    def rows(self, *, user: User, viewer: User) -> QuerySet[Any]:
        raise NotImplementedError

    def get(self, request: Request, username: str) -> Response:
        user = selectors.user_get_for_follow_lists(username=username, viewer=request_user(request))

        def serialize(follows: Iterable[Any]) -> Any:
            people = []
            for follow in follows:
                person = getattr(follow, self.side)
                person.followed_at = follow.created_at
                people.append(person)
            return FollowListItemSerializer(people, many=True).data

        return paginated_response(
            paginator=self.pagination_class(),
            queryset=self.rows(user=user, viewer=request_user(request)),
            request=request,
            view=self,
            serialize=serialize,
        )


_LIST_ERRORS = errors(
    401,
    404,
    e403="`blocked`: this user blocked you.",
)


class UserFollowersApi(_FollowListApi):
    side = "follower"

    def rows(self, *, user: User, viewer: User) -> QuerySet[Any]:
        return selectors.followers_of(user=user, viewer=viewer)

    @extend_schema(
        operation_id="user_followers_list",
        tags=["users"],
        summary="Who follows this user, newest first",
        description=(
            "The people who follow this user, newest follow first, each with how you relate to "
            "them; cursor-paged (`cursor`, `page_size`). Deactivated accounts are left out. 403 "
            "`blocked` when this user blocked you."
        ),
        responses={200: FollowListItemSerializer(many=True), **_LIST_ERRORS},
    )
    def get(self, request: Request, username: str) -> Response:
        return super().get(request, username)


class UserFollowingApi(_FollowListApi):
    side = "followee"

    def rows(self, *, user: User, viewer: User) -> QuerySet[Any]:
        return selectors.following_of(user=user, viewer=viewer)

    @extend_schema(
        operation_id="user_following_list",
        tags=["users"],
        summary="Whom this user follows, newest first",
        description=(
            "The people this user follows, newest follow first, each with how you relate to them; "
            "cursor-paged (`cursor`, `page_size`). Deactivated accounts are left out. 403 "
            "`blocked` when this user blocked you."
        ),
        responses={200: FollowListItemSerializer(many=True), **_LIST_ERRORS},
    )
    def get(self, request: Request, username: str) -> Response:
        return super().get(request, username)


# --- Notifications --------------------------------------------------------------------------


class NotificationPagination(CreatedCursorPagination):
    """A cursor page plus the inbox's unread count, for the badge."""

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"]["unread_count"] = {"type": "integer", "minimum": 0}
        paginated["required"] = [*paginated.get("required", []), "unread_count"]
        return paginated


class NotificationListApi(APIView):
    pagination_class = NotificationPagination

    class FilterSerializer(serializers.Serializer):
        unread = serializers.BooleanField(required=False, allow_null=True, default=None)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        kind = serializers.ChoiceField(choices=Notification.Kind.choices)
        payload = serializers.JSONField()
        is_read = serializers.BooleanField()
        created_at = serializers.DateTimeField()

        class Meta:
            ref_name = "Notification"

    @extend_schema(
        operation_id="notification_list",
        tags=["notifications"],
        summary="Your notifications, newest first",
        description=(
            "Your inbox, newest first, cursor-paged; `unread` keeps only unread (true) or read "
            "(false) ones. Each page carries `unread_count` over all your notifications, for a "
            "badge. New notifications also arrive live on the home socket."
        ),
        parameters=[
            OpenApiParameter(
                "unread",
                OpenApiTypes.BOOL,
                description="true: only unread ones; false: only read ones; absent: all.",
            )
        ],
        responses={
            200: OutputSerializer(many=True),
            **errors(401, e400="`invalid`: `unread` is not a boolean."),
        },
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return paginated_response(
            paginator=self.pagination_class(),
            queryset=selectors.notification_list(
                user=request_user(request), unread=filters.validated_data["unread"]
            ),
            request=request,
            view=self,
            serialize=lambda rows: self.OutputSerializer(rows, many=True).data,
            extra={
                "unread_count": selectors.notifications_unread_count(user=request_user(request))
            },
        )


class UnreadCountSerializer(serializers.Serializer):
    unread_count = serializers.IntegerField(min_value=0)


class NotificationUnreadCountApi(APIView):
    @extend_schema(
        operation_id="notification_unread_count",
        tags=["notifications"],
        summary="How many of your notifications are unread",
        description="How many of your notifications are unread: one cheap count, for a badge.",
        responses={200: UnreadCountSerializer, **errors(401)},
    )
    def get(self, request: Request) -> Response:
        count = selectors.notifications_unread_count(user=request_user(request))
        return Response(UnreadCountSerializer({"unread_count": count}).data)


class NotificationReadApi(APIView):
    class InputSerializer(StrictInputSerializer):
        ids = serializers.ListField(
            child=StrictIntegerField(min_value=1),
            max_length=1000,
            required=False,
            help_text="Notifications to mark read. Ids that are not yours are ignored.",
        )
        all = StrictBooleanField(required=False, help_text="true: mark every one read.")

        class Meta:
            ref_name = "NotificationRead"

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if ("ids" in attrs) == bool(attrs.get("all")):
                raise serializers.ValidationError('Send either "ids" or "all": true.')
            return attrs

    class OutputSerializer(serializers.Serializer):
        marked_read = serializers.IntegerField(
            min_value=0, help_text="How many were unread and are now read."
        )
        unread_count = serializers.IntegerField(min_value=0)

        class Meta:
            ref_name = "NotificationReadResult"

    @extend_schema(
        operation_id="notification_mark_read",
        tags=["notifications"],
        summary="Mark notifications read",
        description=(
            "Mark notifications read: the ones in `ids` (up to 1000) or, with `all: true`, every "
            "one; send exactly one of the two. Ids that are not yours are ignored, and marking a "
            "read one again changes nothing. Answers how many changed and the unread count after."
        ),
        request=InputSerializer,
        responses={200: OutputSerializer, **errors(*WRITE_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        marked = services.notifications_mark_read(
            user=request_user(request), ids=serializer.validated_data.get("ids")
        )
        count = selectors.notifications_unread_count(user=request_user(request))
        return Response(self.OutputSerializer({"marked_read": marked, "unread_count": count}).data)
