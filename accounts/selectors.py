"""Reads for accounts. Each list is one query per page, whatever its length.

Blocks are read here and nowhere else: whether someone blocked someone (`is_blocked`, and its
subquery forms `blocks`, `blocked_ids`, `blocker_ids` for lists that must stay one query). Every
app asks these, so "blocked by the host" means the same on a live Space, a scheduled one, a
ticket sale and a share.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Value
from django.shortcuts import get_object_or_404

from accounts.models import Block, Follow, Notification, User
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
        raise Forbidden("This user has blocked you.", code="blocked")
    return user


def user_get_active(*, username: str) -> User:
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
