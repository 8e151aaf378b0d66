"""Text comments in a live Space: posting, deleting, and the host's switches (on, off, slow mode).

A comment is plain text of at most `COMMENT_MAX_LENGTH` characters, one line. It is checked here,
so the socket, the API and the site refuse the same things with the same codes: not text or a
control character (400 `invalid_text`), blank (400 `invalid`), too long (400 `invalid`), an
HTML tag (400 `html_not_allowed`: comments are plain text, and a tag is never what the author
meant to show). `<3` and `a < b` are text, not tags.

Two limits per person, both counted in the cache over every socket and process: slow mode (one
comment per `comment_slow_mode_seconds`, 429 `slow_mode`) and a flood limit
(`SPACES_COMMENT_RATE`, 429 `rate_limited`). Neither touches the Space row: a comment takes no
lock, so a busy room's comments never queue behind its joins.

Mentions (`@username` of someone who has been in the Space) and http(s) links are found here and
stored as `parts`, runs of text that clients draw as they are, links and mentions as links:
nothing is ever rendered as HTML, and no client parses the text again.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from accounts.models import User
from spaces import events
from spaces.access import access_space, lock_rows
from spaces.models import (
    COMMENT_MAX_LENGTH,
    COMMENT_SLOW_MODE_MAX_SECONDS,
    Comment,
    Participant,
    Space,
)
from spaces.permissions import check_comment, check_delete_comment, check_moderate, ensure
from spaces.services.common import Action, _log, _rate_limit
from spaces.services.reactions import _parse_rate
from spaces_project.errors import Forbidden, NotFound, ValidationFailed
from spaces_project.text import clean_text

# What a browser would read as a tag: `<` right before a name (or `/name`), up to `>`.
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?/?>")
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.+-]{1,150})")
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}'\""
_MAX_URL = 500
_url_valid = URLValidator(schemes=["http", "https"])
MAX_MENTIONS = 10
COMMENT_REPEAT_SECONDS = 10


def clean_comment(text: object) -> str:
    text = clean_text(text, field="text")
    if not text:
        raise ValidationFailed(
            gettext("A comment needs text."),
            fields={"text": [gettext("This field may not be blank.")]},
        )
    if len(text) > COMMENT_MAX_LENGTH:
        raise ValidationFailed(
            gettext("The comment is too long."),
            fields={
                "text": [gettext("At most %(count)s characters.") % {"count": COMMENT_MAX_LENGTH}]
            },
        )
    if _TAG.search(text):
        raise ValidationFailed(
            gettext("Comments are plain text: no HTML tags."),
            code="html_not_allowed",
            fields={"text": [gettext("Remove the HTML tags.")]},
        )
    return text


def comment_parts(text: str, *, space: Space) -> list[dict[str, object]]:
    """`text` as runs: plain, links (http and https only) and mentions of people who have been
    in `space` (a name that is not one stays plain text)."""
    found: list[tuple[int, int, dict[str, object]]] = []
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_URL_TRAILING)
        try:
            if len(url) > _MAX_URL:
                raise DjangoValidationError("too long")
            _url_valid(url)
        except DjangoValidationError:
            continue
        found.append((match.start(), match.start() + len(url), {"text": url, "url": url}))
    by_lower = _participants_named(space, text)
    for match in _MENTION.finditer(text):
        name = match.group(1).rstrip(".")
        hit = by_lower.get(name.lower())
        start, end = match.start(), match.start() + 1 + len(name)
        if hit is None or any(s < end and start < e for s, e, _ in found):
            continue
        found.append((start, end, {"text": text[start:end], "mention": hit[1]}))
    parts: list[dict[str, object]] = []
    at = 0
    for start, end, part in sorted(found, key=lambda f: f[0]):
        if start < at:
            continue
        if start > at:
            parts.append({"text": text[at:start]})
        parts.append(part)
        at = end
    if at < len(text):
        parts.append({"text": text[at:]})
    return parts


def _participants_named(space: Space, text: str) -> dict[str, tuple[str, int]]:
    """Lower-cased username -> (username, user id) of the people `text` mentions who have been
    in `space` (usernames match case-insensitively; a final dot ends a sentence, not a name)."""
    names = {m.group(1).rstrip(".").lower() for m in _MENTION.finditer(text)}
    names = set(sorted(names)[:MAX_MENTIONS])
    if not names:
        return {}
    query = Q()
    for name in names:
        query |= Q(user__username__iexact=name)
    rows = Participant.objects.filter(query, space=space).values_list("user__username", "user_id")
    return {username.lower(): (username, user_id) for username, user_id in rows}


def comment_post(*, user: User, space_id: int, text: object) -> Comment:
    """Post a comment to a live Space you are in, while the host has comments on.

    The same text from the same person within `COMMENT_REPEAT_SECONDS` is one comment (a double
    click, a retried request, two sockets): the second call returns the first, counted against
    no limit. The author's participant row orders their posts, so two at once cannot both
    miss each other; nobody else waits on it."""
    text = clean_comment(text)
    space, me = access_space(user=user, space_id=space_id)
    ensure(check_comment(space, me))
    assert me is not None  # check_comment refuses a missing participant
    parts = comment_parts(text, space=space)
    with transaction.atomic():
        _lock_author(me)
        repeat = (
            Comment.objects.filter(
                space=space,
                author=user,
                text=text,
                deleted_at__isnull=True,
                created_at__gte=timezone.now() - timedelta(seconds=COMMENT_REPEAT_SECONDS),
            )
            .select_related("author")
            .order_by("-id")
            .first()
        )
        if repeat is not None:
            return repeat
        _check_limits(space, user)
        comment = Comment.objects.create(space=space, author=user, text=text, parts=parts)
        events.publish(space, events.COMMENT_ADDED, comment=events.comment(comment))
    return comment


def _lock_author(me: Participant) -> None:
    Participant.objects.select_for_update().filter(pk=me.pk).values_list("pk").first()


def _check_limits(space: Space, user: User) -> None:
    if space.comment_slow_mode_seconds:
        _rate_limit(
            f"spaces:comment-slow:{space.pk}:{user.pk}",
            limit=1,
            period=space.comment_slow_mode_seconds,
            message=ngettext(
                "Slow mode: one comment every %(count)s second.",
                "Slow mode: one comment every %(count)s seconds.",
                space.comment_slow_mode_seconds,
            )
            % {"count": space.comment_slow_mode_seconds},
            code="slow_mode",
        )
    limit, period = _parse_rate(settings.SPACES_COMMENT_RATE)
    _rate_limit(
        f"spaces:comment:{space.pk}:{user.pk}",
        limit=limit,
        period=period,
        message=gettext("Too many comments; try again in a moment."),
    )


def comment_delete(*, actor: User, space_id: int, comment_id: int) -> Comment:
    """Delete a comment: its author, the host or a co-host. Idempotent."""
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        comment = (
            Comment.objects.select_for_update()
            .filter(pk=comment_id, space=space)
            .select_related("author")
            .first()
        )
        if comment is None:
            raise NotFound(gettext("No such comment in this Space."), code="comment_not_found")
        ensure(check_delete_comment(space, me, author_id=comment.author_id))
        if comment.deleted_at is not None:
            return comment
        comment.deleted_at = timezone.now()
        comment.deleted_by = actor
        comment.save(update_fields=["deleted_at", "deleted_by"])
        if comment.author_id != actor.pk:
            _log(
                space,
                actor,
                Action.COMMENT_DELETED,
                target=comment.author,
                comment_id=comment.pk,
                text=comment.text,
            )
        events.publish(
            space, events.COMMENT_DELETED, comment_id=comment.pk, by=events.user_brief(actor)
        )
    return comment


TAKE_DOWN_REASON_MAX_LENGTH = 500


def comment_take_down(*, staff: User, comment_id: int, reason: str = "") -> Comment:
    """Staff delete a comment in any Space, live or ended (the admin): logged in the Space's
    moderation log as staff, with the text and `reason`; while the Space is live everyone gets
    `comment.deleted`, with `by` null and `by_staff`, so a moderator's account is not shown to
    the room. Idempotent: a comment already deleted (by anyone) is returned as it is."""
    if not staff.is_staff:
        raise Forbidden(gettext("Only staff can take comments down."), code="staff_only")
    if isinstance(comment_id, bool) or not 0 < comment_id < 2**63:  # no row; SQLite would raise
        raise NotFound(gettext("No such comment."), code="comment_not_found")
    reason = clean_text(reason, field="reason", multiline=True)[:TAKE_DOWN_REASON_MAX_LENGTH]
    with transaction.atomic():
        comment = lock_rows(Comment.objects.filter(pk=comment_id).select_related("author")).first()
        if comment is None:
            raise NotFound(gettext("No such comment."), code="comment_not_found")
        if comment.deleted_at is not None:
            return comment
        comment.deleted_at = timezone.now()
        comment.deleted_by = staff
        comment.save(update_fields=["deleted_at", "deleted_by"])
        space = Space.objects.get(pk=comment.space_id)
        _log(
            space,
            staff,
            Action.COMMENT_DELETED,
            target=comment.author,
            comment_id=comment.pk,
            text=comment.text,
            by_staff=True,
            reason=reason,
        )
        if space.is_live:
            events.publish(
                space, events.COMMENT_DELETED, comment_id=comment.pk, by=None, by_staff=True
            )
    return comment


def comments_configure(
    *,
    actor: User,
    space_id: int,
    enabled: bool | None = None,
    slow_mode_seconds: int | None = None,
) -> Space:
    """The host or a co-host turns comments on or off, or sets slow mode (0: off). Setting
    what is already set publishes nothing; giving neither is refused."""
    if enabled is None and slow_mode_seconds is None:
        raise ValidationFailed(
            gettext("Say what to change."),
            fields={"enabled": [gettext("Give enabled or slow_mode_seconds.")]},
        )
    if (
        slow_mode_seconds is not None
        and not 0 <= slow_mode_seconds <= COMMENT_SLOW_MODE_MAX_SECONDS
    ):
        raise ValidationFailed(
            gettext("Slow mode is out of range."),
            fields={
                "slow_mode_seconds": [
                    gettext("From 0 to %(count)s seconds.")
                    % {"count": COMMENT_SLOW_MODE_MAX_SECONDS}
                ]
            },
        )
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_moderate(space, me))
        changed: list[str] = []
        if enabled is not None and enabled != space.comments_enabled:
            space.comments_enabled = enabled
            changed.append("comments_enabled")
        if slow_mode_seconds is not None and slow_mode_seconds != space.comment_slow_mode_seconds:
            space.comment_slow_mode_seconds = slow_mode_seconds
            changed.append("comment_slow_mode_seconds")
        if not changed:
            return space
        space.save(update_fields=changed)
        _log(
            space,
            actor,
            Action.COMMENTS_CHANGED,
            enabled=space.comments_enabled,
            slow_mode_seconds=space.comment_slow_mode_seconds,
        )
        events.publish(
            space,
            events.COMMENTS_CHANGED,
            comments_enabled=space.comments_enabled,
            slow_mode_seconds=space.comment_slow_mode_seconds,
            by=events.user_brief(actor),
        )
    return space
