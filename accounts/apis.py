"""The accounts API under /api/v1/: me, profiles, the follow graph, blocks, notifications,
direct messages.

Thin entry points: each view validates its input with a nested `InputSerializer`, calls one
service (writes) or selector (reads), and renders with a nested `OutputSerializer`. Every 4xx
leaves through `spaces_project.api.exception_handler` as `{"error": {"code", "message",
"fields"}}`; the codes each endpoint can answer are listed in its schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils.text import Truncator
from django.utils.translation import gettext
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
from accounts.models import DirectMessage, Notification, User
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
from spaces_project.errors import NotFound

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
        language = serializers.CharField(
            help_text="The language you chose (`en`, `es`), or empty: then each request's "
            "Accept-Language decides."
        )
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
        # Checked by the service (400 `invalid_language`), not by a ChoiceField here.
        language = StrictCharField(max_length=16, allow_blank=True, required=False)

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
        summary="Change your display name, bio, e-mail preference or language",
        description=(
            "Change any of `display_name`, `bio`, `email_notifications` and `language` (a code "
            "of the site's languages, `en` or `es`, or empty to follow Accept-Language; anything "
            "else is refused with 400 `invalid_language`); what you leave out stays as it is, "
            "and unknown or read-only fields are refused (400 `invalid`). Answers with your "
            "whole account, as `GET /api/v1/me` does."
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
                raise serializers.ValidationError(gettext('Send either "ids" or "all": true.'))
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


# --- Direct messages ------------------------------------------------------------------------

PREVIEW_CHARS = 120  # as the site's inbox (templates/accounts/messages.html)


def _partner(find: Callable[..., User], **kwargs: Any) -> User:
    """The person a messages endpoint names, or 404 `user_not_found`: the code the send service
    gives for an inactive account, so a client meets one code for "no one to talk to"."""
    try:
        return find(**kwargs)
    except Http404 as exc:
        raise NotFound(gettext("No such account."), code="user_not_found") from exc


class MessageUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField()
    name = serializers.CharField(help_text="The display name, or the username when it is blank.")

    class Meta:
        ref_name = "MessageUser"


class MessageSpaceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField(help_text="The Space's page on the site (a path).")
    title = serializers.CharField()
    state = serializers.ChoiceField(choices=["live", "scheduled", "ended", "cancelled"])
    host_name = serializers.CharField()
    host_username = serializers.CharField()
    listeners = serializers.IntegerField()
    when = serializers.DateTimeField(
        allow_null=True,
        help_text="When it starts (scheduled), started (live) or ended (ended, cancelled).",
    )

    class Meta:
        ref_name = "MessageSpace"


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sender = MessageUserSerializer()
    mine = serializers.BooleanField(help_text="You sent it.")
    body = serializers.CharField()
    created_at = serializers.DateTimeField()
    is_read = serializers.BooleanField(help_text="The recipient has opened the thread since.")
    space_id = serializers.IntegerField(
        allow_null=True, help_text="The Space the message shares, if any."
    )
    space = MessageSpaceSerializer(
        allow_null=True,
        help_text=(
            "The shared Space as a card; null when the message shares none, or shares one you "
            "cannot see (its host blocked you) or that was deleted: show it as unavailable."
        ),
    )

    class Meta:
        ref_name = "DirectMessage"


def _messages_data(viewer: User, partner: User, rows: list[DirectMessage]) -> Any:
    people = {viewer.pk: viewer, partner.pk: partner}
    cards = selectors.shared_space_cards(viewer, map(selectors.shared_space_id, rows))
    items = []
    for message in rows:
        space_id = selectors.shared_space_id(message)
        card = cards.get(space_id) if space_id is not None else None
        items.append(
            {
                "id": message.pk,
                "sender": people[message.sender_id],
                "mine": message.sender_id == viewer.pk,
                "body": message.body,
                "created_at": message.created_at,
                "is_read": message.is_read,
                "space_id": space_id,
                "space": None if card is None else {"id": space_id, **vars(card)},
            }
        )
    return MessageSerializer(items, many=True).data


class ConversationPagination(CreatedCursorPagination):
    """Newest conversation first, by its newest message (whose id is unique to it, so the cursor
    is exact), plus the unread count over all conversations, for a badge."""

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> tuple[str, ...]:
        return ("-last_id",)

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"]["unread_count"] = {"type": "integer", "minimum": 0}
        paginated["required"] = [*paginated.get("required", []), "unread_count"]
        return paginated


class LastMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    mine = serializers.BooleanField(help_text="You sent it.")
    preview = serializers.CharField(help_text=f"The text, cut at {PREVIEW_CHARS} characters.")
    created_at = serializers.DateTimeField()
    is_read = serializers.BooleanField()
    space_id = serializers.IntegerField(allow_null=True, help_text="It shares a Space.")

    class Meta:
        ref_name = "ConversationLastMessage"


class ConversationListApi(APIView):
    pagination_class = ConversationPagination

    class OutputSerializer(serializers.Serializer):
        user = MessageUserSerializer(help_text="The other person.")
        last_message = LastMessageSerializer(help_text="The newest message, either way.")
        unread_count = serializers.IntegerField(
            min_value=0, help_text="Their messages in this conversation you have not opened."
        )
        updated_at = serializers.DateTimeField(help_text="When the newest message was sent.")

        class Meta:
            ref_name = "Conversation"

    @extend_schema(
        operation_id="message_conversation_list",
        tags=["messages"],
        summary="Your conversations, newest first",
        description=(
            "One row per person you exchanged direct messages with, the conversation with the "
            "newest message first: the other person, a preview of the newest message (either "
            "way), how many of theirs you have not read, and when it was sent. Cursor-paged "
            "(`cursor`, `page_size`); each page carries `unread_count` over every conversation, "
            "for a badge. Conversations with deactivated accounts are left out. A new message "
            "also arrives live on the home socket as `notification.created` (kind `message`)."
        ),
        responses={
            200: OutputSerializer(many=True),
            **errors(401, e404="`not_found`: the `cursor` is not one this list gave."),
        },
    )
    def get(self, request: Request) -> Response:
        user = request_user(request)

        def serialize(rows: list[dict[str, Any]]) -> Any:
            items = [
                {
                    "user": c.other,
                    "last_message": {
                        "id": c.last.pk,
                        "mine": c.last.sender_id == user.pk,
                        "preview": Truncator(c.last.body).chars(PREVIEW_CHARS),
                        "created_at": c.last.created_at,
                        "is_read": c.last.is_read,
                        "space_id": selectors.shared_space_id(c.last),
                    },
                    "unread_count": c.unread,
                    "updated_at": c.last.created_at,
                }
                for c in selectors.conversations_for_page(rows)
            ]
            return self.OutputSerializer(items, many=True).data

        return paginated_response(
            paginator=self.pagination_class(),
            queryset=selectors.conversation_list(user=user),
            request=request,
            view=self,
            serialize=serialize,
            extra={"unread_count": selectors.messages_unread_count(user=user)},
        )


class ThreadPartnerSerializer(MessageUserSerializer):
    can_send = serializers.BooleanField(help_text="Neither of you blocked the other.")
    is_blocked = serializers.BooleanField(help_text="You blocked them.")
    blocks_you = serializers.BooleanField(help_text="They blocked you.")

    class Meta:
        ref_name = "MessagePartner"


class ThreadPageSerializer(serializers.Serializer):
    """A thread's page as the schema shows it: a cursor page plus the person on the other side.
    Declared whole (not derived from the paginator) so `MessagePartner` is a real component."""

    next = serializers.URLField(allow_null=True, help_text="Older messages; null at the first.")
    previous = serializers.URLField(allow_null=True, help_text="Newer messages.")
    results = MessageSerializer(many=True, help_text="Newest first.")
    partner = ThreadPartnerSerializer()

    class Meta:
        ref_name = "MessageThreadPage"


_PAGE_PARAMETERS = [
    OpenApiParameter("cursor", OpenApiTypes.STR, description="The `next` or `previous` cursor."),
    OpenApiParameter(
        "page_size",
        OpenApiTypes.INT,
        description=f"Messages a page (default {CreatedCursorPagination.page_size}, at most "
        f"{CreatedCursorPagination.max_page_size}).",
    ),
]


_THREAD_404 = "`user_not_found`: no such active account (usernames match case-insensitively)."
_THREAD_GET_404 = f"{_THREAD_404} `not_found`: the `cursor` is not one this thread gave."


class MessageThreadApi(APIView):
    pagination_class = CreatedCursorPagination  # newest first; `next` leads to older ones

    class InputSerializer(StrictInputSerializer):
        body = StrictCharField(
            max_length=DirectMessage._meta.get_field("body").max_length,
            help_text="The text; blank after trimming is refused.",
        )
        space_id = StrictIntegerField(
            min_value=1, required=False, help_text="A Space to share with it, as a card."
        )

        class Meta:
            ref_name = "DirectMessageSend"

    @extend_schema(
        operation_id="message_thread",
        tags=["messages"],
        summary="Your conversation with a user, newest message first",
        description=(
            "Your messages with this user, both ways, newest first; cursor-paged (`cursor`, "
            "`page_size`), `next` leads to older messages. Only ever your own conversation: the "
            "path names the other person, never a thread. A message that shares a Space carries "
            "`space_id` and, when you may see that Space, its card in `space`. The page also "
            "carries `partner`: who they are and whether either of you blocked the other "
            "(`can_send`).\n\n"
            "Opening the thread marks their messages to you read, and the `message` "
            "notifications they raised, as opening it on the site does: a GET that changes only "
            "read marks, so asking again changes nothing (there is no separate `read` call). "
            "404 `user_not_found` for an unknown or deactivated account, or yourself."
        ),
        parameters=_PAGE_PARAMETERS,
        responses={200: ThreadPageSerializer, **errors(401, e404=_THREAD_GET_404)},
    )
    def get(self, request: Request, username: str) -> Response:
        user = request_user(request)
        partner = _partner(selectors.message_partner, user=user, username=username)
        services.direct_messages_mark_read(user=user, other=partner)
        blocks_you = bool(getattr(partner, "blocks_you", False))
        you_blocked = bool(getattr(partner, "is_blocked", False))
        brief = {
            "id": partner.pk,
            "username": partner.username,
            "display_name": partner.display_name,
            "name": partner.name,
            "can_send": not blocks_you and not you_blocked,
            "is_blocked": you_blocked,
            "blocks_you": blocks_you,
        }
        return paginated_response(
            paginator=self.pagination_class(),
            queryset=selectors.thread_messages(user=user, other=partner),
            request=request,
            view=self,
            serialize=lambda rows: _messages_data(user, partner, rows),
            extra={"partner": ThreadPartnerSerializer(brief).data},
        )

    @extend_schema(
        operation_id="message_send",
        tags=["messages"],
        summary="Send a direct message",
        description=(
            "Send `body` (up to 1000 characters, trimmed; control characters refused) to this "
            "user, optionally sharing a Space you can see (`space_id`). Answers 201 with the "
            "message as the thread shows it; the recipient gets a `message` notification, live "
            "on their home socket. A double submit (the same body and Space to the same person "
            "within 10 seconds) sends nothing new and answers 201 with the message already "
            "sent. At most 30 messages a minute (429 `rate_limited`, `Retry-After`)."
        ),
        request=InputSerializer,
        responses={
            201: MessageSerializer,
            **errors(
                401,
                413,
                415,
                429,
                e400=(
                    "`invalid`: see `fields` (`body`: blank, too long or control characters; "
                    "`space_id`: no such Space or one you cannot see); `cannot_message_self`; "
                    "`malformed_request`: the body is not valid JSON."
                ),
                e403=(
                    "`blocked`: either of you blocked the other; `forbidden`: site session "
                    "without the CSRF token."
                ),
                e404=_THREAD_404,
            ),
        },
    )
    def post(self, request: Request, username: str) -> Response:
        user = request_user(request)
        recipient = _partner(selectors.user_get_active, username=username)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        space_id = serializer.validated_data.get("space_id")
        message = services.direct_message_send(
            sender=user,
            recipient=recipient,
            body=serializer.validated_data["body"],
            attachment={"space_id": space_id} if space_id is not None else None,
        )
        data = _messages_data(user, recipient, [message])[0]
        return Response(data, status=status.HTTP_201_CREATED)
