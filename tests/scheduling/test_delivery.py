"""Time travel through a scheduled Space's life: every window and edge, counting what each
person received. The clock is frozen and moved (tests/clock.py); the sweep is the
periodic task's own work, run as often as a test likes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db import transaction

from accounts import services as accounts_services
from accounts.models import Block, Notification
from scheduling import hooks, services, tasks
from scheduling.models import Delivery, SpaceSchedule
from scheduling.services import delivery
from spaces.models import Space
from spaces_project.errors import Conflict
from tests.scheduling.helpers import at, deliveries, holders, kinds_for, received

pytestmark = pytest.mark.django_db

N = Notification.Kind
D = Delivery.Kind


# --- The windows ------------------------------------------------------------------------------


def test_host_hears_30_minutes_before_and_at_the_time_and_holders_15_minutes_before(
    schedule, clock, sweep, host
):
    space = schedule(minutes=120)
    alice, bob = holders(space, 2)

    clock.travel(at(space, -30) - timedelta(seconds=1))
    sweep()
    assert received(host) == []

    clock.travel(at(space, -30))
    sweep()
    [soon] = received(host, N.HOST_REMINDER)
    assert "30 minutes" in soon.payload["message"]
    assert received(alice) == []

    clock.travel(at(space, -15) - timedelta(seconds=1))
    sweep()
    assert received(alice) == received(bob) == []

    clock.travel(at(space, -15))
    sweep()
    assert kinds_for(alice) == kinds_for(bob) == [N.SPACE_REMINDER]

    clock.travel(at(space, 0))
    sweep()
    assert [n.payload["message"] for n in received(host)][1].startswith("It\u2019s time to start")


def test_a_reminder_carries_what_the_inbox_renders(schedule, clock, sweep, host):
    space = schedule(minutes=60, title="Jazz at noon")
    [alice] = holders(space, 1)

    clock.travel(at(space, -15))
    sweep()

    [note] = received(alice)
    assert note.payload["host"] == host.username
    assert note.payload["host_name"] == host.name
    assert note.payload["title"] == "Jazz at noon"
    assert note.payload["space_id"] == space.pk
    assert note.payload["url"] == f"/spaces/scheduled/{space.pk}/"
    assert "15 minutes" in note.payload["message"]


def test_sweeping_again_and_again_sends_each_notification_once(schedule, clock, sweep, host):
    space = schedule(minutes=60)
    people = holders(space, 3)
    for minutes in (-30, -15, 0):
        clock.travel(at(space, minutes))
        for _ in range(3):
            sweep()
        # A redelivered task is the same work run again.
        tasks.scheduling_sweep.apply()

    for person in people:
        assert kinds_for(person) == [N.SPACE_REMINDER]
    assert kinds_for(host) == [N.HOST_REMINDER, N.HOST_REMINDER]
    assert Notification.objects.count() == 3 + 2


def test_a_reminder_set_inside_the_15_minute_window_brings_only_live_now(schedule, clock, sweep):
    space = schedule(minutes=60)
    clock.travel(at(space, -10))
    [late] = holders(space, 1)
    sweep()
    assert received(late) == []

    services.scheduled_space_start(actor=space.host, space_id=space.pk)
    sweep()

    assert kinds_for(late) == [N.SPACE_LIVE]


# --- Edits ------------------------------------------------------------------------------------


def test_moving_the_time_after_reminders_were_sent_tells_holders_and_rearms_the_reminder(
    schedule, clock, sweep, host, kicks, committed
):
    space = schedule(minutes=60)
    [alice] = holders(space, 1)
    clock.travel(at(space, -15))
    sweep()
    assert kinds_for(alice) == [N.SPACE_REMINDER]

    new_time = clock.now + timedelta(hours=2)
    with committed():
        services.scheduled_space_update(actor=host, space_id=space.pk, scheduled_for=new_time)
    sweep()

    assert kinds_for(alice) == [N.SPACE_REMINDER, N.SPACE_CHANGED]
    assert received(alice, N.SPACE_CHANGED)[0].payload["scheduled_for"] == new_time.isoformat()
    assert kicks, "holders are told at once: a sweep is queued"

    clock.travel(new_time - timedelta(minutes=15, seconds=1))
    sweep()
    assert kinds_for(alice) == [N.SPACE_REMINDER, N.SPACE_CHANGED]

    clock.travel(new_time - timedelta(minutes=15))
    sweep()
    assert kinds_for(alice) == [N.SPACE_REMINDER, N.SPACE_CHANGED, N.SPACE_REMINDER]
    reminders = deliveries(space, recipient=alice, kind=D.REMINDER)
    assert [(d.version, d.state) for d in reminders] == [(1, "sent"), (2, "sent")]


def test_moving_the_time_before_the_reminder_drops_the_old_one(schedule, clock, sweep, host):
    space = schedule(minutes=60)
    [alice] = holders(space, 1)
    old_time = space.scheduled_for
    new_time = old_time + timedelta(minutes=45)
    services.scheduled_space_update(actor=host, space_id=space.pk, scheduled_for=new_time)

    clock.travel(old_time - timedelta(minutes=15))
    sweep()
    assert kinds_for(alice) == [N.SPACE_CHANGED]

    clock.travel(new_time - timedelta(minutes=15))
    sweep()
    assert kinds_for(alice) == [N.SPACE_CHANGED, N.SPACE_REMINDER]
    old = deliveries(space, recipient=alice, kind=D.REMINDER, version=1)
    assert [(d.state, d.skip_reason) for d in old] == [("skipped", "rescheduled")]
    # The host's own reminders follow the new time too.
    clock.travel(new_time)
    sweep()
    assert len(received(host, N.HOST_REMINDER)) == 2


def test_two_quick_moves_tell_holders_once_with_the_latest_time(schedule, clock, sweep, host):
    space = schedule(minutes=60)
    [alice] = holders(space, 1)
    services.scheduled_space_update(
        actor=host, space_id=space.pk, scheduled_for=clock.now + timedelta(minutes=90)
    )
    latest = clock.now + timedelta(minutes=120)
    services.scheduled_space_update(actor=host, space_id=space.pk, scheduled_for=latest)
    sweep()

    [changed] = received(alice, N.SPACE_CHANGED)
    assert changed.payload["scheduled_for"] == latest.isoformat()


def test_a_new_title_tells_nobody_and_reaches_the_reminder(
    schedule, clock, sweep, host, kicks, committed
):
    space = schedule(minutes=60, title="Old title")
    [alice] = holders(space, 1)
    with committed():
        services.scheduled_space_update(actor=host, space_id=space.pk, title="New title")
    sweep()
    assert received(alice) == []
    assert kicks == []

    clock.travel(at(space, -15))
    sweep()
    assert received(alice)[0].payload["title"] == "New title"


# --- Cancel and expiry ------------------------------------------------------------------------


def test_cancelling_tells_every_holder_once_and_nothing_follows(schedule, clock, sweep, host):
    space = schedule(minutes=60)
    people = holders(space, 3)
    calls: list[tuple[int, str]] = []
    hook = hooks.space_cancelled.register(lambda s, reason: calls.append((s.pk, reason)))
    try:
        services.scheduled_space_cancel(actor=host, space_id=space.pk)
        services.scheduled_space_cancel(actor=host, space_id=space.pk)  # changes nothing
    finally:
        hooks.space_cancelled.unregister(hook)
    sweep()

    for minutes in (-30, -15, 0, 600):
        clock.travel(at(space, minutes))
        sweep()
    for person in people:
        [note] = received(person)
        assert (note.kind, note.payload["reason"]) == (N.SPACE_CANCELLED, "host")
    assert received(host) == []
    assert calls == [(space.pk, "host")]
    space.refresh_from_db()
    assert (space.state, space.schedule.cancel_reason) == ("cancelled", "host")
    assert {d.skip_reason for d in deliveries(space, state="skipped")} == {"cancelled"}


def test_an_unstarted_space_expires_hours_after_its_time_and_everyone_is_told(
    schedule, clock, sweep, host
):
    space = schedule(minutes=60)
    [alice] = holders(space, 1)
    calls: list[str] = []
    hook = hooks.space_cancelled.register(lambda s, reason: calls.append(reason))
    hours = settings.SPACES_SCHEDULED_EXPIRE_HOURS
    try:
        clock.travel(at(space, hours * 60) - timedelta(seconds=1))
        sweep()
        assert Space.objects.get(pk=space.pk).state == "scheduled"

        clock.travel(at(space, hours * 60))
        sweep()
        sweep()
    finally:
        hooks.space_cancelled.unregister(hook)

    space.refresh_from_db()
    assert (space.state, space.schedule.cancel_reason) == ("cancelled", "expired")
    assert calls == ["expired"]
    assert received(alice, N.SPACE_CANCELLED)[0].payload["reason"] == "expired"
    [host_note] = received(host, N.SPACE_CANCELLED)
    assert "expired" in host_note.payload["message"]
    with pytest.raises(Conflict) as refused:
        services.scheduled_space_start(actor=host, space_id=space.pk)
    assert refused.value.code == "space_cancelled"


# --- Starting early and late ------------------------------------------------------------------


def test_starting_early_makes_the_same_space_live_and_tells_holders_at_once(
    schedule, clock, sweep, host, kicks, committed
):
    space = schedule(minutes=90)
    people = holders(space, 2)
    clock.travel(at(space, -60))

    with committed():
        live = services.scheduled_space_start(actor=host, space_id=space.pk)
    assert live.pk == space.pk
    assert kicks == ["sweep"]
    sweep()

    for person in people:
        [note] = received(person)
        assert note.kind == N.SPACE_LIVE
        assert note.payload["space_id"] == space.pk
    for minutes in (-30, -15, 0, 60 * 24):
        clock.travel(at(space, minutes))
        sweep()
    for person in people:
        assert kinds_for(person) == [N.SPACE_LIVE]
    assert received(host) == []
    space.refresh_from_db()
    assert (space.state, space.started_at) == ("live", at(space, -60))
    skipped = {(d.kind, d.skip_reason) for d in deliveries(space, state="skipped")}
    assert skipped == {("host_soon", "started"), ("host_start", "started"), ("reminder", "started")}


def test_starting_late_tells_holders_at_once_after_the_earlier_reminders(
    schedule, clock, sweep, host
):
    space = schedule(minutes=60)
    [alice] = holders(space, 1)
    for minutes in (-30, -15, 0):
        clock.travel(at(space, minutes))
        sweep()
    clock.travel(at(space, 25))
    services.scheduled_space_start(actor=host, space_id=space.pk)
    sweep()

    assert kinds_for(alice) == [N.SPACE_REMINDER, N.SPACE_LIVE]
    assert kinds_for(host) == [N.HOST_REMINDER, N.HOST_REMINDER]


def test_a_15_minute_reminder_first_reached_after_the_start_is_not_sent(
    schedule, clock, sweep, host
):
    space = schedule(minutes=60)
    [alice] = holders(space, 1)
    # Nothing swept since scheduling; the host starts 10 minutes before the time.
    clock.travel(at(space, -10))
    services.scheduled_space_start(actor=host, space_id=space.pk)
    sweep()

    assert kinds_for(alice) == [N.SPACE_LIVE]
    [reminder] = deliveries(space, recipient=alice, kind=D.REMINDER)
    assert (reminder.state, reminder.skip_reason) == ("skipped", "started")


def test_a_reminder_reached_only_after_the_time_is_skipped_as_too_late(
    schedule, clock, sweep, host
):
    space = schedule(minutes=60)
    [alice] = holders(space, 1)
    clock.travel(at(space, 5))  # the sweep was down through both windows
    sweep()

    assert received(alice) == []
    assert [n.payload["message"] for n in received(host)] == [
        f"It\u2019s time to start your Space \u201c{space.title}\u201d."
    ]
    reasons = {(d.kind, d.skip_reason) for d in deliveries(space, state="skipped")}
    assert reasons == {("reminder", "too_late"), ("host_soon", "too_late")}


def test_a_live_now_that_is_reached_after_the_space_ended_is_skipped(schedule, clock, sweep, host):
    from spaces import services as spaces_services

    space = schedule(minutes=60)
    [alice] = holders(space, 1)
    services.scheduled_space_start(actor=host, space_id=space.pk)
    spaces_services.space_end(actor=host, space_id=space.pk)
    sweep()

    assert received(alice) == []
    [live] = deliveries(space, kind=D.LIVE)
    assert (live.state, live.skip_reason) == ("skipped", "not_live")


def test_a_start_that_rolls_back_arms_nothing_and_queues_nothing(schedule, host, kicks, committed):
    space = schedule(minutes=60)
    holders(space, 2)

    def start_then_fail() -> None:
        with transaction.atomic():
            services.scheduled_space_start(actor=host, space_id=space.pk)
            raise RuntimeError("later step failed")

    with committed(), pytest.raises(RuntimeError):
        start_then_fail()

    assert Space.objects.get(pk=space.pk).state == "scheduled"
    assert deliveries(space, kind=D.LIVE) == []
    assert kicks == []


# --- Holders coming and going -----------------------------------------------------------------


def test_removing_a_reminder_drops_its_notifications_and_setting_it_again_rearms(
    schedule, clock, sweep
):
    space = schedule(minutes=60)
    [alice] = holders(space, 1)
    services.reminder_unset(user=alice, space_id=space.pk)
    services.reminder_set(user=alice, space_id=space.pk)
    services.reminder_unset(user=alice, space_id=space.pk)
    services.reminder_set(user=alice, space_id=space.pk)

    clock.travel(at(space, -15))
    sweep()
    assert kinds_for(alice) == [N.SPACE_REMINDER]

    services.reminder_unset(user=alice, space_id=space.pk)
    services.scheduled_space_start(actor=space.host, space_id=space.pk)
    sweep()
    assert kinds_for(alice) == [N.SPACE_REMINDER]


def test_holders_the_host_blocked_or_banned_are_not_told(schedule, sweep, host):
    space = schedule(minutes=60)
    kept, blocked, banned = holders(space, 3)
    Block.objects.create(blocker=host, blocked=blocked)
    banned.is_active = False
    banned.save(update_fields=["is_active"])

    services.scheduled_space_start(actor=host, space_id=space.pk)
    sweep()

    assert kinds_for(kept) == [N.SPACE_LIVE]
    assert received(blocked) == received(banned) == []


# --- E-mail -----------------------------------------------------------------------------------


def test_reminders_are_emailed_once_to_people_who_allow_it(schedule, clock, sweep):
    space = schedule(minutes=60)
    alice, bob = holders(space, 2)
    bob.email_notifications = False
    bob.save(update_fields=["email_notifications"])
    clock.travel(at(space, -30))
    sweep()
    assert [m.to for m in mail.outbox] == [[space.host.email]]
    mail.outbox.clear()

    clock.travel(at(space, -15))
    sweep()
    sweep()

    assert [m.to for m in mail.outbox] == [[alice.email]]
    assert "15 minutes" in mail.outbox[0].subject
    [sent] = deliveries(space, recipient=alice, kind=D.REMINDER)
    assert sent.emailed_at == clock.now


def test_a_failed_email_is_recorded_and_not_sent_again(schedule, clock, sweep, monkeypatch):
    space = schedule(minutes=60)
    [alice] = holders(space, 1)
    mail.outbox.clear()

    def broken(*args, **kwargs):
        raise OSError("SMTP server went away")

    clock.travel(at(space, -30))
    sweep()
    mail.outbox.clear()
    monkeypatch.setattr(delivery, "get_connection", broken)
    clock.travel(at(space, -15))
    sweep()
    monkeypatch.undo()
    sweep()

    [row] = deliveries(space, recipient=alice, kind=D.REMINDER)
    assert (row.state, row.emailed_at) == ("sent", None)
    assert row.last_error == "e-mail: SMTP server went away"
    assert kinds_for(alice) == [N.SPACE_REMINDER]
    assert mail.outbox == []


# --- Failures and retries ---------------------------------------------------------------------


def _fail_for(monkeypatch, user_ids):
    real = accounts_services.notifications_create_bulk

    def flaky(*, recipient_ids, **kwargs):
        recipient_ids = list(recipient_ids)
        if set(recipient_ids) & set(user_ids):
            raise RuntimeError("inbox unavailable")
        return real(recipient_ids=recipient_ids, **kwargs)

    monkeypatch.setattr(accounts_services, "notifications_create_bulk", flaky)


def test_one_failing_recipient_does_not_hold_up_the_rest_of_its_batch(
    schedule, clock, sweep, monkeypatch
):
    space = schedule(minutes=60)
    people = holders(space, 4)
    poisoned = people[2]
    _fail_for(monkeypatch, {poisoned.pk})

    clock.travel(at(space, -15))
    result = sweep()

    assert result["failed"] == 0
    for person in people:
        assert kinds_for(person) == ([] if person == poisoned else [N.SPACE_REMINDER])
    [row] = deliveries(space, recipient=poisoned, kind=D.REMINDER)
    assert (row.state, row.attempts, row.last_error) == (
        "pending",
        1,
        "RuntimeError: inbox unavailable",
    )
    assert row.next_attempt_at == clock.now + timedelta(seconds=services.RETRY_BASE_SECONDS)


def test_failures_are_retried_with_backoff_then_marked_failed_and_can_be_retried(
    schedule, clock, sweep, monkeypatch
):
    space = schedule(minutes=60)
    [alice] = holders(space, 1)
    _fail_for(monkeypatch, {alice.pk})
    clock.travel(at(space, -15))
    seen = []
    for _ in range(settings.SPACES_SCHEDULING_MAX_ATTEMPTS):
        sweep()
        sweep()  # not due again yet: no extra attempt
        [row] = deliveries(space, recipient=alice, kind=D.REMINDER)
        seen.append((row.attempts, row.state))
        clock.travel(row.next_attempt_at)
    last = settings.SPACES_SCHEDULING_MAX_ATTEMPTS
    assert seen == [(i, "pending") for i in range(1, last)] + [(last, "failed")]
    sweep()
    assert received(alice) == []

    monkeypatch.undo()
    assert services.deliveries_retry(ids=[row.pk]) == 1
    assert services.deliveries_retry(ids=[row.pk]) == 0
    sweep()
    assert kinds_for(alice) == [N.SPACE_REMINDER]
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("sent", 0)


def test_expiry_and_cancel_share_one_hook_call_per_space(schedule, clock, sweep, host):
    first, second = schedule(minutes=60, title="A"), schedule(minutes=90, title="B")
    calls: list[tuple[int, str]] = []
    hook = hooks.space_cancelled.register(lambda s, reason: calls.append((s.pk, reason)))
    try:
        services.scheduled_space_cancel(actor=host, space_id=first.pk)
        clock.travel(at(second, 60 * settings.SPACES_SCHEDULED_EXPIRE_HOURS))
        sweep()
        sweep()
    finally:
        hooks.space_cancelled.unregister(hook)
    assert sorted(calls) == [(first.pk, "host"), (second.pk, "expired")]
    assert SpaceSchedule.objects.filter(cancel_reason="expired").count() == 1


def test_a_failing_cancel_hook_rolls_that_expiry_back_without_stopping_the_sweep(
    schedule, clock, sweep, host
):
    hours = settings.SPACES_SCHEDULED_EXPIRE_HOURS
    doomed = schedule(minutes=60, title="Doomed")
    # Its reminder falls due just as `doomed` expires.
    other = schedule(minutes=60 + hours * 60 + 10, title="Other")
    [alice] = holders(other, 1)

    def refuse(space, reason):
        raise RuntimeError("refunds unavailable")

    hooks.space_cancelled.register(refuse)
    try:
        clock.travel(at(doomed, 60 * hours))
        sweep()
    finally:
        hooks.space_cancelled.unregister(refuse)

    assert Space.objects.get(pk=doomed.pk).state == "scheduled"
    assert kinds_for(alice) == [N.SPACE_REMINDER]
    sweep()
    assert Space.objects.get(pk=doomed.pk).state == "cancelled"
