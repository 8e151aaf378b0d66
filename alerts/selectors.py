"""Reads for go-live alerts: who a go-live reaches, and each person's bell and switches."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Follow, User
from accounts.selectors import blocked_ids, blocker_ids
from spaces import hooks as spaces_hooks


def golive_audience(
    *, host_id: int, space_id: int, after_id: int, last_id: int
) -> QuerySet[Follow, int]:
    """The ids of the followers of `host_id` with after_id < id <= last_id whom the go-live of
    `space_id` alerts, as one query (a subquery for the inbox INSERT ... SELECT).

    Left out: a follow whose bell is off, a follower whose global switch is off or whose
    account is deactivated, a block either way (a block also removes the follows; this is for a
    block made after the fan-out started), and whoever another app tells of this go-live itself
    (spaces/hooks.py `live_notified_elsewhere`: reminder holders get scheduling's "live now")."""
    follows = (
        Follow.objects.filter(
            followee_id=host_id,
            follower_id__gt=after_id,
            follower_id__lte=last_id,
            alerts=Follow.Alerts.ALL,
            follower__is_active=True,
            follower__live_alerts=True,
        )
        .exclude(follower_id__in=blocked_ids(blocker=host_id))
        .exclude(follower_id__in=blocker_ids(blocked=host_id))
    )
    for told_elsewhere in spaces_hooks.live_notified_elsewhere:
        follows = follows.exclude(follower_id__in=told_elsewhere(space_id=space_id))
    return follows.values_list("follower_id", flat=True)


def golive_email_recipients(*, audience: QuerySet[Follow, int]) -> QuerySet[User]:
    """Of `audience`, who chose e-mail for go-live alerts (opt-in) and gets e-mail at all."""
    return (
        User.objects.filter(
            pk__in=audience,
            live_alert_emails=True,
            email_notifications=True,
        )
        .exclude(email="")
        .only("pk", "email", "username", "display_name", "language")
        .order_by("pk")
    )


def follow_alerts_get(*, follower: User, followee: User) -> str | None:
    """The bell of `follower` on `followee` (`all` or `none`), or None when not following."""
    value: str | None = (
        Follow.objects.filter(follower=follower, followee=followee)
        .values_list("alerts", flat=True)
        .first()
    )
    return value
