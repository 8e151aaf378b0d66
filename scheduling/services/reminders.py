"""Reminders: a listener asks to be told when a scheduled Space is about to start and when it
goes live. Setting one writes its own "in 15 minutes" delivery; the "live now", "moved" and
"cancelled" ones are written for every holder at once when that happens (common.py)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from accounts.selectors import is_blocked
from scheduling.models import HOLDER_LEAD, Delivery, Reminder
from scheduling.services.common import (
    HOLDER_KINDS,
    Kind,
    Skip,
    State,
    _arm,
    _schedule_of,
    _share_lock_space,
    ensure_scheduled,
)
from spaces.access import access_space
from spaces_project.errors import Forbidden


def reminder_set(*, user: User, space_id: int) -> tuple[Reminder, bool]:
    """Set a reminder (idempotent: a second call returns the same one, created=False).

    Refused on a Space that started, ended or was cancelled (409), by its own host, and for
    someone the host blocked (403). Set less than 15 minutes before the time, it brings no
    "in 15 minutes" notification (that moment has passed), only "live now".
    """
    now = timezone.now()
    with transaction.atomic():
        access_space(user=None, space_id=space_id)  # 404 before any lock
        _share_lock_space(space_id)
        space, _ = access_space(user=None, space_id=space_id)
        ensure_scheduled(space)
        if space.host_id == user.pk:
            raise Forbidden(
                gettext("You host this Space: you are reminded to start it anyway."),
                code="own_space",
            )
        if is_blocked(blocker_id=space.host_id, blocked_id=user.pk):
            raise Forbidden(gettext("The host has blocked you."), code="blocked")
        existing = Reminder.objects.filter(user=user, space=space).first()
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                reminder = Reminder.objects.create(user=user, space=space)
        except IntegrityError:
            return Reminder.objects.get(user=user, space=space), False
        assert space.scheduled_for is not None
        due = space.scheduled_for - HOLDER_LEAD
        if due > now:
            _arm(space, user.pk, Kind.REMINDER, _schedule_of(space).version, due)
    return reminder, True


def reminder_unset(*, user: User, space_id: int) -> bool:
    """Remove a reminder (idempotent; allowed in any state). Returns whether one existed.
    Its notifications not yet sent are skipped."""
    with transaction.atomic():
        access_space(user=None, space_id=space_id)
        _share_lock_space(space_id)
        deleted, _ = Reminder.objects.filter(user=user, space_id=space_id).delete()
        Delivery.objects.filter(
            space_id=space_id, recipient=user, state=State.PENDING, kind__in=HOLDER_KINDS
        ).update(state=State.SKIPPED, skip_reason=Skip.REMINDER_REMOVED)
    return deleted > 0
