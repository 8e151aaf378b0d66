"""Helpers for the scheduling tests: reminder holders, what people received, time offsets."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from accounts.models import Notification, User
from scheduling import services
from scheduling.models import Delivery, Reminder
from spaces.models import Space
from tests.factories import UserFactory, make_followers


def holders(space: Space, count: int, *, prefix: str | None = None) -> list[User]:
    """`count` users who set a reminder on `space` through the service."""
    prefix = prefix or f"holder-{space.pk}-"
    people = [UserFactory(username=f"{prefix}{i}") for i in range(count)]
    for person in people:
        services.reminder_set(user=person, space_id=space.pk)
    return people


def bulk_holders(space: Space, count: int, *, prefix: str | None = None) -> list[User]:
    """`count` reminder holders written in bulk (for arming and batching tests that need many:
    the Space's own `reminder` rows are not written, only what going live, a change of time or
    a cancel reads)."""
    prefix = prefix or f"bulk-{space.pk}-"
    people = make_followers(UserFactory(username=f"{prefix}star"), count, prefix=prefix)
    Reminder.objects.bulk_create([Reminder(user=p, space=space) for p in people])
    return people


def received(user: User | int, kind: str | None = None) -> list[Notification]:
    qs = Notification.objects.filter(recipient_id=getattr(user, "pk", user))
    if kind:
        qs = qs.filter(kind=kind)
    return list(qs.order_by("id"))


def kinds_for(user: User) -> list[str]:
    return [n.kind for n in received(user)]


def deliveries(space: Space, **filters: Any) -> list[Delivery]:
    return list(Delivery.objects.filter(space=space, **filters).order_by("id"))


def at(space: Space, minutes: float) -> datetime:
    """`minutes` after the Space's scheduled time (negative: before)."""
    assert space.scheduled_for is not None
    return space.scheduled_for + timedelta(minutes=minutes)
