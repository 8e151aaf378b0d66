"""Notifications and e-mails say a Space's time in their recipient's zone: a reminder holder in
New York reads 18:00 EST where one in Paris reads 00:00 CET, for the same Space, from the same
sweep. The inbox rows are still written in bulk (one INSERT per zone for a sentence that names a
time, one per group otherwise)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from accounts.models import Notification, User
from scheduling import services
from tests.scheduling.helpers import at, holders, received

pytestmark = pytest.mark.django_db

N = Notification.Kind
# Tuesday 8 December 2026, 23:00 UTC: 18:00 in New York, midnight in Paris.
WHEN = datetime(2026, 12, 8, 23, 0, tzinfo=UTC)


def in_zone(user: User, zone: str) -> User:
    user.time_zone = zone
    user.save(update_fields=["time_zone"])
    return user


@pytest.fixture
def space(host, clock):
    clock.travel(WHEN - timedelta(days=2))
    return services.scheduled_space_create(host=host, title="Night owls", scheduled_for=WHEN)


def mail_to(user: User) -> mail.EmailMessage:
    [message] = [m for m in mail.outbox if m.to == [user.email]]
    return message


def test_the_reminder_email_says_the_time_in_each_recipients_zone(space, clock, sweep):
    newyorker, parisian, unknown = holders(space, 3)
    in_zone(newyorker, "America/New_York")
    in_zone(parisian, "Europe/Paris")
    clock.travel(at(space, -15))
    mail.outbox.clear()

    sweep()

    assert "When: Tuesday 8 December 2026, 18:00 EST" in mail_to(newyorker).body
    assert "When: Wednesday 9 December 2026, 00:00 CET" in mail_to(parisian).body
    assert "When: Tuesday 8 December 2026, 23:00 UTC" in mail_to(unknown).body
    assert "15 minutes" in mail_to(newyorker).subject


def test_the_hosts_emails_are_in_the_hosts_zone(space, clock, sweep):
    in_zone(space.host, "Asia/Kolkata")
    clock.travel(at(space, -30))
    mail.outbox.clear()

    sweep()

    assert "When: Wednesday 9 December 2026, 04:30 IST" in mail_to(space.host).body


def test_a_new_time_is_told_in_each_recipients_zone_in_the_inbox_and_by_email(
    space, host, clock, sweep
):
    newyorker, parisian = holders(space, 2)
    in_zone(newyorker, "America/New_York")
    in_zone(parisian, "Europe/Paris")
    mail.outbox.clear()

    services.scheduled_space_update(
        actor=host, space_id=space.pk, scheduled_for=WHEN + timedelta(hours=1)
    )
    sweep()

    [to_new_york] = received(newyorker, N.SPACE_CHANGED)
    [to_paris] = received(parisian, N.SPACE_CHANGED)
    assert to_new_york.payload["message"].endswith("moved to Tue 8 Dec, 19:00 EST.")
    assert to_paris.payload["message"].endswith("moved to Wed 9 Dec, 01:00 CET.")
    # The payload's own time stays ISO 8601 in UTC for the API.
    assert to_paris.payload["scheduled_for"] == "2026-12-09T00:00:00+00:00"
    assert "19:00 EST" in mail_to(newyorker).subject
    assert "When: Tuesday 8 December 2026, 19:00 EST" in mail_to(newyorker).body


def test_a_message_without_a_time_is_one_insert_whatever_the_zones(
    space, clock, sweep, monkeypatch
):
    people = holders(space, 6)
    for person, zone in zip(
        people, ["Europe/Paris", "Asia/Tokyo", "America/New_York"] * 2, strict=True
    ):
        in_zone(person, zone)
    clock.travel(at(space, -15))
    batches: list[tuple[str, int]] = []
    bulk_create = Notification.objects.bulk_create

    def counted(objs, *args, **kwargs):
        batches.append((objs[0].kind, len(objs)))
        return bulk_create(objs, *args, **kwargs)

    monkeypatch.setattr(Notification.objects, "bulk_create", counted)

    sweep()

    # The holders' reminders: one statement for all six zones (the host's notice is its own).
    assert [b for b in batches if b[0] == N.SPACE_REMINDER] == [(N.SPACE_REMINDER, len(people))]
    texts = {n.payload["message"] for p in people for n in received(p, N.SPACE_REMINDER)}
    assert texts == {"\u201cNight owls\u201d with The Host starts in 15 minutes."}
