"""Reactions: a tap is counted in the cache, not written, and flushed into ReactionCount at
most once per interval per Space, so the database sees one small UPDATE per emoji per interval
however many people tap (spaces/reactions.py holds the cache keys the selectors read too).
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F

from accounts.models import User
from spaces import events
from spaces.access import access_space
from spaces.models import Reaction, ReactionCount
from spaces.permissions import check_react, ensure
from spaces.reactions import pending_counts, pending_key, pending_keys
from spaces.services.common import _rate_limit
from spaces_project.errors import ValidationFailed

# Pending reaction taps live in the cache at most this long without a flush.
REACTION_PENDING_TTL = 2 * 24 * 3600


def _parse_rate(rate: str) -> tuple[int, int]:
    number, _, period = rate.partition("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period.strip()[0]]
    return int(number), seconds


def _reaction_rate() -> tuple[int, int]:
    return _parse_rate(settings.SPACES_REACTION_RATE)


def _reaction_code(value: str) -> str:
    if value in Reaction.values:
        return value
    by_emoji = {label: code for code, label in Reaction.choices}
    # Accept the emoji too, with or without the variation selector (❤ / ❤️).
    code = by_emoji.get(value) or by_emoji.get(value + "\ufe0f")
    if code is None:
        raise ValidationFailed(
            "Not one of the reactions.",
            code="invalid",
            fields={"emoji": [f"One of: {', '.join(Reaction.values)}."]},
        )
    return code


def reaction_send(*, user: User, space_id: int, emoji: str) -> str:
    """Send a reaction (a code like `clap`, or the emoji). Returns its code.

    Rate-limited per user per Space (`SPACES_REACTION_RATE`, else the `reaction` throttle rate;
    429 with `retry_after`). No database row per tap: the tap is counted in the cache and added
    to ReactionCount by `reaction_counts_flush`, which the first tap after each flush interval
    runs (and the end of the Space runs once more); so the database sees at most one small
    UPDATE per emoji per interval per Space however many people tap.
    """
    code = _reaction_code(emoji)
    space, participant = access_space(user=user, space_id=space_id)
    ensure(check_react(space, participant))
    limit, period = _reaction_rate()
    _rate_limit(
        f"spaces:react:{space.pk}:{user.pk}",
        limit=limit,
        period=period,
        message="Too many reactions; try again in a moment.",
    )
    key = pending_key(space.pk, code)
    cache.add(key, 0, timeout=REACTION_PENDING_TTL)
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=REACTION_PENDING_TTL)
    events.publish(
        space,
        events.REACTION_SENT,
        user=events.user_brief(user),
        code=code,
        emoji=Reaction(code).label,
    )
    interval = settings.SPACES_REACTION_FLUSH_SECONDS
    if cache.add(f"spaces:reactions:flushed:{space.pk}", 1, timeout=interval):
        reaction_counts_flush(space_id=space.pk)
    return code


def reaction_counts_flush(*, space_id: int) -> int:
    """Move the pending taps of a Space from the cache into ReactionCount. Returns how many.

    Each emoji's pending count is claimed with an atomic DECR, so two flushes at once never add
    the same taps twice (one that over-claims gives the excess back). Taps claimed by a flush
    whose transaction then fails are lost: a reaction count is not worth a two-phase commit.
    """
    keys = pending_keys(space_id)
    pending = cache.get_many(list(keys.values()))
    claimed: dict[str, int] = {}
    for code, key in keys.items():
        n = int(pending.get(key) or 0)
        if n <= 0:
            continue
        try:
            after = cache.decr(key, n)
        except ValueError:
            continue
        if after < 0:
            cache.incr(key, -after)
            n += after
        if n > 0:
            claimed[code] = n
    if not claimed:
        return 0
    with transaction.atomic():
        ReactionCount.objects.bulk_create(
            [ReactionCount(space_id=space_id, code=code) for code in claimed],
            ignore_conflicts=True,
        )
        for code, n in claimed.items():
            ReactionCount.objects.filter(space_id=space_id, code=code).update(count=F("count") + n)
    return sum(claimed.values())


def reaction_counts_pending(*, space_id: int) -> dict[str, int]:
    """Taps counted in the cache and not yet flushed."""
    return pending_counts(space_id)
