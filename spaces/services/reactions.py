"""Reactions: a tap is committed to ReactionCount before it is acknowledged, group-committed
with the taps in flight around it (spaces/reactions.py), so a crowd tapping costs a statement per
write rather than per tap, and a Redis restart loses no acknowledged tap.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext

from accounts.models import User
from spaces import events
from spaces.access import access_space
from spaces.models import Reaction
from spaces.permissions import check_react, ensure
from spaces.reactions import ledger
from spaces.services.common import _rate_limit
from spaces_project.errors import ValidationFailed


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
            gettext("Not one of the reactions."),
            code="invalid",
            fields={
                "emoji": [gettext("One of: %(choices)s.") % {"choices": ", ".join(Reaction.values)}]
            },
        )
    return code


def reaction_send(*, user: User, space_id: int, emoji: str) -> str:
    """Send a reaction (a code like `clap`, or the emoji). Returns its code.

    Rate-limited per user per Space (`SPACES_REACTION_RATE`, else the `reaction` throttle rate;
    429 with `retry_after`). Returns once the tap is in ReactionCount; the room hears it after
    that, so every tap the room saw is counted, and a failed write is an error, not a lost tap.
    """
    code = _reaction_code(emoji)
    space, participant = access_space(user=user, space_id=space_id)
    ensure(check_react(space, participant))
    limit, period = _reaction_rate()
    _rate_limit(
        f"spaces:react:{space.pk}:{user.pk}",
        limit=limit,
        period=period,
        message=gettext("Too many reactions; try again in a moment."),
    )
    ledger.record(space.pk, code)
    events.publish(
        space,
        events.REACTION_SENT,
        user=events.user_brief(user),
        code=code,
        emoji=Reaction(code).label,
    )
    return code
