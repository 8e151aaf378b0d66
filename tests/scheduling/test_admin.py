"""The admin shows scheduled Spaces, reminders and deliveries with their state, and retries
failed deliveries through the service."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Notification
from scheduling.models import Delivery
from tests.factories import UserFactory
from tests.scheduling.helpers import at, holders

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(UserFactory(username="moderator", is_staff=True, is_superuser=True))
    return client


def test_the_lists_render_with_their_filters(staff_client, schedule, clock, sweep):
    space = schedule(title="Admin show")
    holders(space, 2)
    clock.travel(at(space, -15))
    sweep()
    pages = {
        "schedule": reverse("admin:scheduling_spaceschedule_changelist"),
        "reminder": reverse("admin:scheduling_reminder_changelist"),
        "delivery": reverse("admin:scheduling_delivery_changelist"),
    }
    assert (
        "Admin show"
        in staff_client.get(pages["schedule"], {"space__state": "scheduled"}).content.decode()
    )
    reminders = staff_client.get(pages["reminder"]).content.decode()
    assert "15 minutes before" in reminders
    assert "sent" in reminders
    sent = staff_client.get(pages["delivery"], {"state__exact": "sent", "kind__exact": "reminder"})
    assert sent.status_code == 200
    assert sent.context["cl"].result_count == 2


def test_retry_failed_puts_failed_deliveries_back_and_the_sweep_sends_them(
    staff_client, schedule, clock, sweep
):
    space = schedule()
    [alice] = holders(space, 1)
    row = Delivery.objects.get(recipient=alice)
    Delivery.objects.filter(pk=row.pk).update(state="failed", attempts=5, last_error="boom")

    response = staff_client.post(
        reverse("admin:scheduling_delivery_changelist"),
        {"action": "retry_failed", "_selected_action": [str(row.pk)]},
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("pending", 0)
    clock.travel(at(space, -15))
    sweep()
    assert Notification.objects.filter(recipient=alice, kind="space_reminder").count() == 1


def test_deliveries_cannot_be_added_or_edited(staff_client, schedule):
    space = schedule()
    row = Delivery.objects.filter(space=space).first()
    assert staff_client.get(reverse("admin:scheduling_delivery_add")).status_code == 403
    page = staff_client.get(reverse("admin:scheduling_delivery_change", args=[row.pk]))
    assert page.status_code == 200
    assert 'name="state"' not in page.content.decode()
