"""The rules of scheduling, each with its forbidden cases, at the service level."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings

from accounts.models import Block
from scheduling import services
from scheduling.models import Delivery, Reminder, SpaceSchedule
from spaces import services as spaces_services
from spaces.models import Participant, Space
from spaces_project.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.factories import UserFactory
from tests.scheduling.helpers import at, deliveries

pytestmark = pytest.mark.django_db


def refused(exc_info, code):
    assert exc_info.value.code == code, exc_info.value.message


# --- Scheduling -------------------------------------------------------------------------------


def test_scheduling_creates_a_scheduled_space_with_its_host_reminders(schedule, host, clock):
    space = schedule(minutes=90, title="  Big   news ", topics=["Jazz", "jazz"])

    assert (space.state, space.title, space.topics) == ("scheduled", "Big news", ["Jazz"])
    assert space.scheduled_for == clock.now + timedelta(minutes=90)
    assert space.started_at is None
    assert SpaceSchedule.objects.get(space=space).version == 1
    armed = {(d.kind, d.recipient_id, d.due_at) for d in deliveries(space)}
    assert armed == {
        ("host_soon", host.pk, at(space, -30)),
        ("host_start", host.pk, at(space, 0)),
    }
    assert not Participant.objects.filter(space=space).exists()


def test_scheduled_less_than_30_minutes_ahead_the_host_gets_only_time_to_start(schedule):
    space = schedule(minutes=20)
    assert [d.kind for d in deliveries(space)] == ["host_start"]


@pytest.mark.parametrize(
    ("minutes", "message"),
    [
        (14, "at least 15 minutes"),
        (-5, "at least 15 minutes"),
        (14 * 24 * 60 + 1, "at most 14 days"),
    ],
)
def test_the_time_must_be_15_minutes_to_14_days_ahead(schedule, minutes, message):
    with pytest.raises(ValidationFailed) as exc:
        schedule(minutes=minutes)
    assert message in exc.value.fields["scheduled_for"][0]


def test_the_window_edges_are_allowed(schedule):
    assert schedule(minutes=15).state == "scheduled"
    assert schedule(minutes=14 * 24 * 60).state == "scheduled"


@override_settings(SPACES_SCHEDULE_MIN_LEAD_MINUTES=60, SPACES_SCHEDULE_MAX_DAYS=1)
def test_the_window_comes_from_settings(schedule):
    with pytest.raises(ValidationFailed):
        schedule(minutes=59)
    with pytest.raises(ValidationFailed):
        schedule(minutes=24 * 60 + 1)
    assert schedule(minutes=60).state == "scheduled"


def test_a_naive_time_is_refused(host, clock):
    with pytest.raises(ValidationFailed) as exc:
        services.scheduled_space_create(
            host=host,
            title="T",
            scheduled_for=(clock.now + timedelta(hours=1)).replace(tzinfo=None),
        )
    assert "scheduled_for" in exc.value.fields


def test_only_users_who_can_host_schedule(user, clock):
    with pytest.raises(Forbidden) as exc:
        services.scheduled_space_create(
            host=user, title="T", scheduled_for=clock.now + timedelta(hours=1)
        )
    refused(exc, "not_enough_followers")


@override_settings(SPACES_MAX_UPCOMING_PER_HOST=2)
def test_a_host_has_at_most_the_configured_number_of_upcoming_spaces(schedule, host):
    first = schedule(minutes=60)
    schedule(minutes=70)
    with pytest.raises(Conflict) as exc:
        schedule(minutes=80)
    refused(exc, "too_many_upcoming")

    services.scheduled_space_cancel(actor=host, space_id=first.pk)
    assert schedule(minutes=80).state == "scheduled"


def test_title_and_topics_follow_the_rules_of_a_live_space(schedule):
    with pytest.raises(ValidationFailed) as exc:
        schedule(title="   ")
    assert "title" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        schedule(topics=["a", "b", "c", "d"])
    assert "topics" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        schedule(speaking_policy="anyone")
    assert "speaking_policy" in exc.value.fields


# --- Editing, cancelling, starting: who and when ----------------------------------------------


def test_only_the_host_edits_cancels_or_starts(schedule, other_user):
    space = schedule()
    for action in (
        lambda: services.scheduled_space_update(actor=other_user, space_id=space.pk, title="x"),
        lambda: services.scheduled_space_cancel(actor=other_user, space_id=space.pk),
        lambda: services.scheduled_space_start(actor=other_user, space_id=space.pk),
    ):
        with pytest.raises(Forbidden) as exc:
            action()
        refused(exc, "not_host")
    assert Space.objects.get(pk=space.pk).state == "scheduled"


def test_an_unknown_space_is_404(host):
    with pytest.raises(NotFound):
        services.scheduled_space_cancel(actor=host, space_id=999_999)
    with pytest.raises(NotFound):
        services.reminder_set(user=host, space_id=999_999)


def test_a_started_or_cancelled_space_cannot_be_edited_or_started(schedule, host):
    started, cancelled = schedule(minutes=60), schedule(minutes=70)
    services.scheduled_space_start(actor=host, space_id=started.pk)
    services.scheduled_space_cancel(actor=host, space_id=cancelled.pk)

    for space, code in ((started, "space_started"), (cancelled, "space_cancelled")):
        with pytest.raises(Conflict) as exc:
            services.scheduled_space_update(actor=host, space_id=space.pk, title="x")
        refused(exc, code)
        with pytest.raises(Conflict) as exc:
            services.scheduled_space_start(actor=host, space_id=space.pk)
        refused(exc, code)
    with pytest.raises(Conflict) as exc:
        services.scheduled_space_cancel(actor=host, space_id=started.pk)
    refused(exc, "space_started")


def test_a_new_time_must_be_in_the_window_too(schedule, host, clock):
    space = schedule(minutes=60)
    with pytest.raises(ValidationFailed):
        services.scheduled_space_update(
            actor=host, space_id=space.pk, scheduled_for=clock.now + timedelta(minutes=5)
        )
    assert SpaceSchedule.objects.get(space=space).version == 1


def test_the_same_time_again_is_no_change(schedule, host):
    space = schedule(minutes=60)
    services.scheduled_space_update(
        actor=host, space_id=space.pk, scheduled_for=space.scheduled_for
    )
    assert SpaceSchedule.objects.get(space=space).version == 1
    assert not deliveries(space, state="skipped")


def test_starting_keeps_the_id_and_makes_the_host_present(schedule, host, clock):
    space = schedule(minutes=60)
    clock.advance(minutes=5)

    live = services.scheduled_space_start(actor=host, space_id=space.pk)

    live.refresh_from_db()
    assert (live.pk, live.state, live.started_at) == (space.pk, "live", clock.now)
    assert live.scheduled_for == space.scheduled_for
    me = Participant.objects.get(space=live, user=host)
    assert (me.role, me.state) == ("host", "present")
    assert live.total_joined_count == 1
    # It is a live Space like any other: people join it.
    listener = UserFactory()
    spaces_services.space_join(user=listener, space_id=live.pk)


def test_starting_while_already_live_elsewhere_is_409(schedule, host):
    space = schedule(minutes=60)
    spaces_services.space_start(host=host, title="Already on air")
    with pytest.raises(Conflict) as exc:
        services.scheduled_space_start(actor=host, space_id=space.pk)
    refused(exc, "already_live")
    assert Space.objects.get(pk=space.pk).state == "scheduled"


def test_starting_now_still_works_as_before_with_a_scheduled_space_waiting(schedule, host):
    schedule(minutes=60)
    live = spaces_services.space_start(host=host, title="Impromptu")
    assert live.state == "live"
    assert Space.objects.filter(host=host).count() == 2


# --- Reminders --------------------------------------------------------------------------------


def test_a_reminder_is_unique_per_user_and_space(schedule, user):
    space = schedule()
    first, created = services.reminder_set(user=user, space_id=space.pk)
    again, created_again = services.reminder_set(user=user, space_id=space.pk)
    assert (created, created_again, first.pk) == (True, False, again.pk)
    assert Reminder.objects.filter(space=space).count() == 1
    assert Delivery.objects.filter(space=space, recipient=user).count() == 1


def test_a_reminder_on_a_started_ended_or_cancelled_space_is_409(schedule, host, user):
    started, cancelled = schedule(minutes=60), schedule(minutes=70)
    services.scheduled_space_start(actor=host, space_id=started.pk)
    services.scheduled_space_cancel(actor=host, space_id=cancelled.pk)
    for space, code in ((started, "space_started"), (cancelled, "space_cancelled")):
        with pytest.raises(Conflict) as exc:
            services.reminder_set(user=user, space_id=space.pk)
        refused(exc, code)
    spaces_services.space_end(actor=host, space_id=started.pk)
    with pytest.raises(Conflict) as exc:
        services.reminder_set(user=user, space_id=started.pk)
    refused(exc, "space_ended")
    assert not Reminder.objects.exists()


def test_the_host_and_people_the_host_blocked_cannot_set_a_reminder(schedule, host, user):
    space = schedule()
    with pytest.raises(Forbidden) as exc:
        services.reminder_set(user=host, space_id=space.pk)
    refused(exc, "own_space")
    Block.objects.create(blocker=host, blocked=user)
    with pytest.raises(Forbidden) as exc:
        services.reminder_set(user=user, space_id=space.pk)
    refused(exc, "blocked")


def test_removing_a_reminder_is_idempotent_and_allowed_after_a_cancel(schedule, host, user):
    space = schedule()
    assert services.reminder_unset(user=user, space_id=space.pk) is False
    services.reminder_set(user=user, space_id=space.pk)
    services.scheduled_space_cancel(actor=host, space_id=space.pk)
    assert services.reminder_unset(user=user, space_id=space.pk) is True
    assert not Reminder.objects.exists()
