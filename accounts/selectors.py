"""Reads for accounts. Each list is one query per page, whatever its length."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import Follow, Notification, User


def user_get_profile(*, username: str, viewer: User | None) -> User:
    return get_object_or_404(
        User.objects.filter(is_active=True).with_follow_counts().with_viewer_flags(viewer),
        username__iexact=username,
    )


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


def notifications_for(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user)


def notifications_unread_count(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, is_read=False).count()
