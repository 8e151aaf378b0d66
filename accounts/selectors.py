"""Reads for accounts. Each list is one query per page, whatever its length.

Blocks are read here and nowhere else: whether someone blocked someone (`is_blocked`, and its
subquery forms `blocks`, `blocked_ids`, `blocker_ids` for lists that must stay one query). Every
app asks these, so "blocked by the host" means the same on a live Space, a scheduled one, a
ticket sale and a share.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from accounts import hooks
from accounts.models import Block, DirectMessage, Follow, Notification, User
from spaces_project.errors import Forbidden

# Who a block names: a user, their id, or an outer column of a subquery (`OuterRef("host")`).
UserRef = User | int | OuterRef


def blocks(*, blocker: UserRef, blocked: UserRef) -> QuerySet[Block]:
    """The block of `blocker` on `blocked` (none or one row): `Exists(blocks(...))` is the
    subquery form of `is_blocked`."""
    return Block.objects.filter(blocker=blocker, blocked=blocked)


def is_blocked(*, blocker_id: int, blocked_id: int) -> bool:
    """Whether `blocker_id` blocked `blocked_id`. Nobody blocks themselves (`block_not_self`),
    so that case costs no query."""
    if blocker_id == blocked_id:
        return False
    return blocks(blocker=blocker_id, blocked=blocked_id).exists()


def is_blocked_between(a_id: int, b_id: int) -> bool:
    """True when either user blocked the other."""
    return Block.objects.filter(
        Q(blocker_id=a_id, blocked_id=b_id) | Q(blocker_id=b_id, blocked_id=a_id)
    ).exists()


def blocked_ids(*, blocker: UserRef) -> QuerySet[Block, int]:
    """The ids of the users `blocker` blocked, as a subquery (`pk__in=`)."""
    return Block.objects.filter(blocker=blocker).values_list("blocked_id", flat=True)


def blocker_ids(*, blocked: UserRef) -> QuerySet[Block, int]:
    """The ids of the users who blocked `blocked`, as a subquery (`pk__in=`)."""
    return Block.objects.filter(blocked=blocked).values_list("blocker_id", flat=True)


def user_get_profile(*, username: str, viewer: User | None) -> User:
    """An active user by case-insensitive username, with counts and how `viewer` relates to
    them, including `blocks_you` (they blocked the viewer). One query; 404 when missing."""
    blocks_you: Exists | Value = Value(False)
    if viewer is not None and viewer.is_authenticated:
        blocks_you = Exists(blocks(blocker=OuterRef("pk"), blocked=viewer))
    return get_object_or_404(
        User.objects.filter(is_active=True)
        .with_follow_counts()
        .with_viewer_flags(viewer)
        .annotate(blocks_you=blocks_you),
        username__iexact=username,
    )


def user_get_for_follow_lists(*, username: str, viewer: User | None) -> User:
    """The user whose followers or following `viewer` asks to see: 404 when missing, 403
    (code `blocked`) when they blocked the viewer, as on any social network."""
    user = user_get_profile(username=username, viewer=viewer)
    if user.blocks_you:  # type: ignore[attr-defined]  # annotated by user_get_profile
        raise Forbidden(_("This user has blocked you."), code="blocked")
    return user


def user_get_active(*, username: str) -> User:
    if "\x00" in username:  # no username holds one, and PostgreSQL refuses it in a query
        raise Http404
    return get_object_or_404(User.objects.filter(is_active=True), username__iexact=username)


def user_me(*, user: User) -> User:
    return User.objects.with_follow_counts().get(pk=user.pk)


def _with_users(qs: QuerySet[Follow], field: str, viewer: User | None) -> QuerySet[Follow]:
    """Follow rows, newest first, with the other side's user, its counts and the viewer's
    relation to it fetched in one more query for the whole page (never one per row)."""
    users = User.objects.with_follow_counts().with_viewer_flags(viewer)
    return qs.order_by("-created_at", "-id").prefetch_related(Prefetch(field, queryset=users))


def followers_of(*, user: User, viewer: User | None) -> QuerySet[Follow]:
    qs = Follow.objects.filter(followee=user, follower__is_active=True)
    return _with_users(qs, "follower", viewer)


def following_of(*, user: User, viewer: User | None) -> QuerySet[Follow]:
    qs = Follow.objects.filter(follower=user, followee__is_active=True)
    return _with_users(qs, "followee", viewer)


def follower_ids(*, user_id: int) -> QuerySet[Follow, int]:
    return Follow.objects.filter(followee_id=user_id).values_list("follower_id", flat=True)


def users_to_follow(*, viewer: User, limit: int) -> list[User]:
    """Active people with the most followers (at least one) whom the viewer does not follow
    and who are not blocked either way: one query. It sorts by a per-user count, fine for
    thousands of users; at scale it would read a denormalised follower count instead."""
    follows = Follow.objects.filter(follower=viewer, followee=OuterRef("pk"))
    return list(
        User.objects.filter(is_active=True)
        .exclude(pk=viewer.pk)
        .exclude(Exists(follows))
        .exclude(Exists(blocks(blocker=viewer, blocked=OuterRef("pk"))))
        .exclude(Exists(blocks(blocker=OuterRef("pk"), blocked=viewer)))
        .with_follow_counts()
        .with_viewer_flags(viewer)
        .filter(follower_count__gt=0)
        .order_by("-follower_count", "username")[:limit]
    )


def notifications_for(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user)


def notification_list(*, user: User, unread: bool | None = None) -> QuerySet[Notification]:
    """The user's inbox, newest first; `unread` True/False keeps only unread/read ones."""
    qs = Notification.objects.filter(recipient=user)
    if unread is not None:
        qs = qs.filter(is_read=not unread)
    return qs.order_by("-created_at", "-id")


def notifications_unread_count(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, is_read=False).count()


# --- Direct messages ------------------------------------------------------------------------


@dataclass(frozen=True)
class Conversation:
    """One row of the inbox: the other person, the newest message either way, and how many
    of theirs are unread."""

    other: User
    last: DirectMessage
    unread: int


def _messages_of(user: User) -> QuerySet[DirectMessage]:
    """Every message `user` sent or received, with an active person on the other side: a
    banned account's conversations leave the inbox (and its unread count) with it."""
    return DirectMessage.objects.filter(
        Q(sender=user, recipient__is_active=True) | Q(recipient=user, sender__is_active=True)
    )


def conversation_list(*, user: User) -> QuerySet[DirectMessage, Any]:
    """The user's conversations, newest message first, one row per other person: `other_id`,
    `last_id` (the newest message) and `unread`. One grouped query a page (and its COUNT);
    `conversations_for_page` turns a page of rows into `Conversation`s."""
    other = Case(
        When(sender=user, then=F("recipient_id")),
        default=F("sender_id"),
        output_field=IntegerField(),
    )
    return (
        _messages_of(user)
        .annotate(other_id=other)
        .values("other_id")
        .annotate(last_id=Max("id"), unread=Count("id", filter=Q(recipient=user, is_read=False)))
        .order_by("-last_id")
    )


def conversations_for_page(rows: Iterable[dict[str, Any]]) -> list[Conversation]:
    """A page of `conversation_list` rows with their people and last messages: two queries
    whatever the page's length."""
    rows = list(rows)
    people = User.objects.in_bulk([r["other_id"] for r in rows])
    last = DirectMessage.objects.in_bulk([r["last_id"] for r in rows])
    return [
        Conversation(other=people[r["other_id"]], last=last[r["last_id"]], unread=r["unread"])
        for r in rows
        if r["other_id"] in people and r["last_id"] in last
    ]


def thread_messages(*, user: User, other: User) -> QuerySet[DirectMessage]:
    """The messages between `user` and `other`, newest first (a page is shown oldest first).
    Only these two people's: whoever asks sees their own conversation and no one else's."""
    return DirectMessage.objects.filter(
        Q(sender=user, recipient=other) | Q(sender=other, recipient=user)
    ).order_by("-created_at", "-id")


def message_partner(*, user: User, username: str) -> User:
    """The active person on the other side of a thread, with how each relates to the other
    (`is_blocked`: `user` blocked them; `blocks_you`): 404 when missing, inactive or `user`."""
    partner = user_get_profile(username=username, viewer=user)
    if partner.pk == user.pk:
        raise Http404("You have no conversation with yourself.")
    return partner


def messages_unread_count(*, user: User) -> int:
    return _messages_of(user).filter(recipient=user, is_read=False).count()


def nav_counts(*, user: User) -> tuple[int, int]:
    """Unread notifications and unread direct messages, for the navigation's badges: one
    query for both, each count read from its recipient index."""
    notifications = (
        Notification.objects.filter(recipient=OuterRef("pk"), is_read=False)
        .order_by()
        .values("recipient")
        .annotate(n=Count("*"))
        .values("n")
    )
    unread_messages = (
        DirectMessage.objects.filter(
            recipient=OuterRef("pk"), is_read=False, sender__is_active=True
        )
        .order_by()
        .values("recipient")
        .annotate(n=Count("*"))
        .values("n")
    )
    row = (
        User.objects.filter(pk=user.pk)
        .annotate(
            unread_n=Coalesce(Subquery(notifications), 0),
            unread_m=Coalesce(Subquery(unread_messages), 0),
        )
        .values_list("unread_n", "unread_m")
        .first()
    )
    return row or (0, 0)


def shared_space_id(message: DirectMessage) -> int | None:
    """The Space a direct message shares, if any."""
    attachment = message.attachment if isinstance(message.attachment, dict) else {}
    space_id = attachment.get("space_id")
    return space_id if isinstance(space_id, int) and not isinstance(space_id, bool) else None


def shared_space_cards(
    viewer: User, space_ids: Iterable[int | None]
) -> dict[int, hooks.SharedSpace]:
    """The Spaces shared in messages, as Spaces draws them for `viewer` (accounts.hooks): one
    query for a whole page; the ones the viewer may not see are left out."""
    wanted = {i for i in space_ids if i is not None}
    cards: dict[int, hooks.SharedSpace] = {}
    if wanted:
        for hook in hooks.shared_spaces:
            cards.update(hook(viewer, wanted))
    return cards
