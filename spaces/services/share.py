"""Sharing a Space: as direct messages to chosen people, or as an inbox notification to all of
one's followers, written in batches.

Blocks decide who is skipped: anyone the host blocked (they cannot see the Space) and anyone
with whom the sharer cannot exchange messages (a block either way). Posting to followers is
rate-limited per Space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext

from accounts import services as accounts_services
from accounts.models import Notification, User
from accounts.selectors import blocked_ids, blocker_ids, follower_ids
from spaces.access import access_space
from spaces.permissions import check_share, ensure
from spaces.services.common import _blocked_by_host, _rate_limit
from spaces_project.errors import ValidationFailed
from spaces_project.text import clean_text

MAX_SHARE_RECIPIENTS = 20


@dataclass
class ShareResult:
    messages_sent: int = 0
    notifications_sent: int = 0
    skipped_user_ids: list[int] = field(default_factory=list)


def space_share(
    *,
    user: User,
    space_id: int,
    user_ids: Sequence[int] = (),
    to_followers: bool = False,
    message: str = "",
) -> ShareResult:
    """Send the Space to chosen users as direct messages (at most MAX_SHARE_RECIPIENTS), and/or
    to all your followers as an inbox notification each, written in batches.

    Recipients who cannot see the Space (blocked by the host) or with whom you cannot exchange
    messages (a block either way), inactive accounts and yourself are skipped and listed.
    Posting to followers is limited to once per Space every 10 minutes.
    """
    message = clean_text(message, field="message", multiline=True)
    requested = list(dict.fromkeys(user_ids))
    if not requested and not to_followers:
        raise ValidationFailed(
            gettext("Choose people to send the Space to, or your followers."),
            fields={"non_field_errors": [gettext("Give user_ids or followers=true.")]},
        )
    if len(requested) > MAX_SHARE_RECIPIENTS:
        raise ValidationFailed(
            gettext("Too many recipients."),
            fields={
                "user_ids": [
                    gettext("At most %(count)s people at once.") % {"count": MAX_SHARE_RECIPIENTS}
                ]
            },
        )
    result = ShareResult()
    with transaction.atomic():
        space, _ = access_space(user=None, space_id=space_id)
        ensure(check_share(space, blocked_by_host=_blocked_by_host(space, user)))
        if to_followers:
            _rate_limit(
                f"spaces:share:{space.pk}:{user.pk}",
                limit=1,
                period=600,
                message=gettext("You already shared this Space with your followers."),
            )
        blocked_by_host = blocked_ids(blocker=space.host_id)
        if requested:
            recipients = list(
                User.objects.filter(pk__in=requested, is_active=True)
                .exclude(pk=user.pk)
                .exclude(pk__in=blocked_by_host)
                .exclude(pk__in=blocked_ids(blocker=user))
                .exclude(pk__in=blocker_ids(blocked=user))
                .order_by("pk")
            )
            body = message or gettext("Listen to “%(title)s” with me.") % {"title": space.title}
            for recipient in recipients:
                accounts_services.direct_message_send(
                    sender=user, recipient=recipient, body=body, attachment={"space_id": space.pk}
                )
            sent = {r.pk for r in recipients}
            result.messages_sent = len(sent)
            result.skipped_user_ids = [pk for pk in requested if pk not in sent]
        if to_followers:
            audience = (
                follower_ids(user_id=user.pk)
                .exclude(follower_id__in=blocked_by_host)
                .exclude(follower_id=space.host_id)
            )
            result.notifications_sent = accounts_services.notifications_create_bulk(
                recipient_ids=list(audience),
                kind=Notification.Kind.SPACE_SHARED,
                payload={
                    "space_id": space.pk,
                    "title": space.title,
                    "from": user.username,
                    "from_name": user.name,
                    # The sharer's own words, if any, quoted in the inbox.
                    **({"message": message} if message else {}),
                },
            )
    return result
