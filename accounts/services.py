"""Every write to accounts: profiles, the follow graph, blocks, notifications, messages."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from accounts import hooks
from accounts.models import Block, DirectMessage, Follow, Notification, User
from accounts.selectors import is_blocked, is_blocked_between, shared_space_cards
from spaces_project import bus, ws_auth
from spaces_project.counters import rate_limit
from spaces_project.errors import Forbidden, NotFound, ValidationFailed
from spaces_project.languages import clean_language
from spaces_project.text import clean_text
from spaces_project.timezones import clean_time_zone

logger = logging.getLogger(__name__)

NOTIFICATION_BATCH = 1000
# Events on a user's group that close their sockets (spaces/realtime/consumers.py, feed.py).
SESSION_REVOKED = "session.revoked"
USER_BANNED = "user.banned"


def user_update_profile(
    *,
    user: User,
    display_name: str | None = None,
    bio: str | None = None,
    email_notifications: bool | None = None,
    time_zone: str | None = None,
    language: str | None = None,
) -> User:
    changed: list[str] = []
    if time_zone is not None:
        user.time_zone = clean_time_zone(time_zone)
        changed.append("time_zone")
    if language is not None:
        # "" is a choice too: the browser's language from now on.
        user.language = clean_language(language)
        changed.append("language")
    if display_name is not None:
        user.display_name = clean_text(display_name, field="display_name", strip_bidi=True)
        changed.append("display_name")
    if bio is not None:
        user.bio = clean_text(bio, field="bio", multiline=True)
        changed.append("bio")
    if email_notifications is not None:
        user.email_notifications = email_notifications
        changed.append("email_notifications")
    if changed:
        # Only the fields being changed are validated: an old row's odd e-mail or username must
        # not block someone from editing their bio.
        untouched = [f.name for f in User._meta.concrete_fields if f.name not in changed]
        try:
            user.full_clean(validate_unique=False, exclude=untouched)
        except DjangoValidationError as exc:
            raise ValidationFailed(
                gettext("The profile has invalid fields."), fields=exc.message_dict
            ) from exc
        user.save(update_fields=changed)
    return user


def user_time_zone_guess(*, user: User, time_zone: str) -> str:
    """Store the zone the browser reports (static/js/time.js) for a user who has none yet, and
    return the user's zone. A zone already set (guessed before, or chosen in the settings)
    is kept: a guess never overrides a choice. One conditional UPDATE, so two tabs sending
    their guess at once store one. ValidationFailed(`invalid_time_zone`) for a bad name."""
    name = clean_time_zone(time_zone)
    if User.objects.filter(pk=user.pk, time_zone="").update(time_zone=name):
        user.time_zone = name
    else:
        user.time_zone = User.objects.values_list("time_zone", flat=True).get(pk=user.pk)
    return user.time_zone


def _lock_pair(a_id: int, b_id: int) -> None:
    """Serialise every follow, block and message write between the same two people.

    Caller is inside a transaction. Without this, a follow and a block racing under READ
    COMMITTED can both commit: the block deletes the follows it can see, the follow checks for
    a block it cannot see yet. The lock is a transaction-scoped advisory lock on the unordered
    pair rather than the two user rows, so a crowd following one host does not queue on the
    host's row. SQLite needs nothing: its writers already queue at BEGIN IMMEDIATE (settings).
    """
    if connection.vendor != "postgresql":
        return
    low, high = sorted((a_id, b_id))
    digest = hashlib.blake2b(f"accounts.pair:{low}:{high}".encode(), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)]
        )


@transaction.atomic
def follow_create(*, follower: User, followee: User) -> tuple[Follow, bool]:
    """Follow `followee`. Idempotent: following twice returns the existing row, created=False."""
    if follower.pk == followee.pk:
        raise ValidationFailed(gettext("You cannot follow yourself."), code="cannot_follow_self")
    _lock_pair(follower.pk, followee.pk)
    if is_blocked(blocker_id=followee.pk, blocked_id=follower.pk):
        raise Forbidden(gettext("This user has blocked you."), code="blocked")
    if is_blocked(blocker_id=follower.pk, blocked_id=followee.pk):
        raise Forbidden(gettext("Unblock this user before following them."), code="you_blocked")
    existing = Follow.objects.filter(follower=follower, followee=followee).first()
    if existing:
        return existing, False
    try:
        # A savepoint, so a concurrent double-click that loses the race does not poison the
        # outer transaction; the unique constraint decides the winner.
        with transaction.atomic():
            follow = Follow.objects.create(follower=follower, followee=followee)
    except IntegrityError:
        return Follow.objects.get(follower=follower, followee=followee), False
    notification_create(
        recipient=followee,
        kind=Notification.Kind.FOLLOW,
        payload={"user": follower.username, "name": follower.name},
    )
    return follow, True


@transaction.atomic
def follow_delete(*, follower: User, followee: User) -> bool:
    """Stop following. Idempotent: returns whether a follow existed."""
    deleted, _ = Follow.objects.filter(follower=follower, followee=followee).delete()
    return deleted > 0


@transaction.atomic
def block_create(*, blocker: User, blocked: User) -> tuple[Block, bool]:
    """Block `blocked`: removes follows both ways. Idempotent."""
    if blocker.pk == blocked.pk:
        raise ValidationFailed(gettext("You cannot block yourself."), code="cannot_block_self")
    _lock_pair(blocker.pk, blocked.pk)
    Follow.objects.filter(
        Q(follower=blocker, followee=blocked) | Q(follower=blocked, followee=blocker)
    ).delete()
    try:
        with transaction.atomic():
            return Block.objects.create(blocker=blocker, blocked=blocked), True
    except IntegrityError:
        return Block.objects.get(blocker=blocker, blocked=blocked), False


@transaction.atomic
def block_delete(*, blocker: User, blocked: User) -> bool:
    deleted, _ = Block.objects.filter(blocker=blocker, blocked=blocked).delete()
    return deleted > 0


def _notification_event(notification: Notification) -> dict[str, Any]:
    return {
        "type": "notification.created",
        "notification": {
            "id": notification.pk,
            "kind": notification.kind,
            "payload": notification.payload,
            "created_at": notification.created_at.isoformat() if notification.created_at else None,
        },
    }


def notification_create(
    *, recipient: User, kind: str, payload: dict[str, Any] | None = None
) -> Notification:
    """Write one notification and push it to the recipient's home socket after commit."""
    notification = Notification.objects.create(
        recipient=recipient, kind=kind, payload=payload or {}
    )
    bus.publish(bus.user_group(recipient.pk), _notification_event(notification))
    return notification


def notifications_create_bulk(
    *, recipient_ids: Iterable[int], kind: str, payload: dict[str, Any] | None = None
) -> int:
    """Write the same notification to many users in batches (one INSERT per 1000).

    Pushes one event per recipient after commit; the home socket groups are per user.
    """
    payload = payload or {}
    total = 0
    batch: list[Notification] = []
    pushed: list[int] = []
    for recipient_id in recipient_ids:
        batch.append(Notification(recipient_id=recipient_id, kind=kind, payload=payload))
        if len(batch) >= NOTIFICATION_BATCH:
            Notification.objects.bulk_create(batch)
            pushed.extend(n.recipient_id for n in batch)
            total += len(batch)
            batch = []
    if batch:
        Notification.objects.bulk_create(batch)
        pushed.extend(n.recipient_id for n in batch)
        total += len(batch)
    event = {"type": "notification.created", "notification": {"kind": kind, "payload": payload}}

    def push() -> None:
        for uid in pushed:
            bus.deliver(bus.user_group(uid), event)

    transaction.on_commit(push)
    return total


def notifications_mark_read(*, user: User, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read: the given ids (others' ids are ignored), or all."""
    qs = Notification.objects.filter(recipient=user, is_read=False)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.update(is_read=True)


# Sending: at most this many direct messages a minute per sender (a share to many people
# counts one per recipient, so a full share of MAX_SHARE_RECIPIENTS still fits).
MESSAGE_RATE_LIMIT = 30
MESSAGE_RATE_PERIOD = 60
# The same text to the same person again within this many seconds is the same message sent
# twice (a double click, a form posted again): the first one is returned, nothing new is sent.
MESSAGE_REPEAT_SECONDS = 10


@transaction.atomic
def direct_message_send(
    *, sender: User, recipient: User, body: str, attachment: dict[str, Any] | None = None
) -> DirectMessage:
    """Send `body` (and `attachment`, e.g. `{"space_id": n}`) from `sender` to `recipient`,
    and notify the recipient. Refused to oneself, to inactive accounts, and with a block
    either way; the text is cleaned as all typed text is. Rate-limited per sender.
    Idempotent over a double submit: the same text to the same person within
    MESSAGE_REPEAT_SECONDS returns the message already sent."""
    if sender.pk == recipient.pk:
        raise ValidationFailed(gettext("You cannot message yourself."), code="cannot_message_self")
    if not recipient.is_active:
        raise NotFound(gettext("This account is not available."), code="user_not_found")
    body = clean_text(body, field="body", multiline=True)
    if not body:
        raise ValidationFailed(
            gettext("A message needs text."), fields={"body": [gettext("This field is required.")]}
        )
    max_length = DirectMessage._meta.get_field("body").max_length or 0
    if len(body) > max_length:
        limit = gettext("At most %(count)s characters.") % {"count": max_length}
        raise ValidationFailed(gettext("The message is too long."), fields={"body": [limit]})
    attachment = attachment or {}
    space_id = attachment.get("space_id")
    if space_id is not None and space_id not in shared_space_cards(sender, [space_id]):
        # Only a Space the sender can see is theirs to share.
        raise ValidationFailed(
            gettext("There is no such Space, or you cannot see it."),
            fields={"space_id": [gettext("No such Space, or you cannot see it.")]},
        )
    # The pair lock orders this send after a block being written between the two, and after
    # the first of two identical sends racing, which then finds it below.
    _lock_pair(sender.pk, recipient.pk)
    if is_blocked_between(sender.pk, recipient.pk):
        raise Forbidden(gettext("You cannot message this user."), code="blocked")
    since = timezone.now() - timedelta(seconds=MESSAGE_REPEAT_SECONDS)
    last = (
        DirectMessage.objects.filter(sender=sender, recipient=recipient, created_at__gte=since)
        .order_by("-created_at", "-id")
        .first()
    )
    if last is not None and last.body == body and last.attachment == attachment:
        return last
    rate_limit(
        f"accounts:dm:{sender.pk}",
        limit=MESSAGE_RATE_LIMIT,
        period=MESSAGE_RATE_PERIOD,
        message=gettext("You are sending messages too fast. Wait a minute and try again."),
    )
    message = DirectMessage.objects.create(
        sender=sender, recipient=recipient, body=body, attachment=attachment
    )
    notification_create(
        recipient=recipient,
        kind=Notification.Kind.MESSAGE,
        payload={
            "from": sender.username,
            "from_name": sender.name,
            "message_id": message.pk,
            **attachment,
        },
    )
    return message


def direct_messages_mark_read(*, user: User, other: User) -> int:
    """`user` opened the conversation with `other`: what `other` sent is read, and so are the
    "new message" notifications it raised. Returns how many messages were unread."""
    count = DirectMessage.objects.filter(sender=other, recipient=user, is_read=False).update(
        is_read=True
    )
    if count:
        Notification.objects.filter(
            recipient=user,
            kind=Notification.Kind.MESSAGE,
            is_read=False,
            payload__from=other.username,
        ).update(is_read=True)
    return count


def user_session_revoked(*, user_id: int, session_key: str) -> None:
    """A session ended (a logout): close the sockets it signed in, in every server process,
    with 4401; the user's other sessions (other devices) keep theirs. The event names the
    session by a digest (spaces_project/ws_auth.py), never by its key."""
    bus.publish(
        bus.user_group(user_id),
        {"type": SESSION_REVOKED, "session": ws_auth.session_digest(session_key)},
    )


def user_ban(*, user: User) -> None:
    """Deactivate the account and end every session it has (site and app tokens).

    After commit, every open socket of the user closes with 4403 in every process, and the
    `user_banned` hooks run: Spaces lets the user go from every live Space at once."""
    from django.contrib.sessions.models import Session

    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        bus.publish(bus.user_group(user.pk), {"type": USER_BANNED})
        transaction.on_commit(lambda: _run_ban_hooks(user.pk))
    # Sessions store the user id inside the encoded data, so they are scanned; bans are rare.
    doomed = [
        s.pk
        for s in Session.objects.iterator()
        if str(s.get_decoded().get("_auth_user_id")) == str(user.pk)
    ]
    Session.objects.filter(pk__in=doomed).delete()


def _run_ban_hooks(user_id: int) -> None:
    for hook in hooks.user_banned:
        try:
            hook(user_id)
        except Exception:
            logger.exception("ban of user %s: hook %r failed", user_id, hook)
