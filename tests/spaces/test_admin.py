"""Staff moderation in the admin goes through the services."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from spaces import services
from spaces.models import ModerationAction, Report, Space
from tests.factories import SpaceFactory, UserFactory, join, make_speaker

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    staff = UserFactory(username="moderator", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    client.staff = staff  # type: ignore[attr-defined]
    return client


def act(client, model, action, ids):
    return client.post(
        reverse(f"admin:spaces_{model}_changelist"),
        {"action": action, "_selected_action": [str(i) for i in ids]},
    )


def test_the_space_list_filters_and_searches(staff_client, space):
    SpaceFactory(title="Other thing")
    url = reverse("admin:spaces_space_changelist")
    assert staff_client.get(url, {"state": "live"}).status_code == 200
    page = staff_client.get(url, {"q": space.title}).content.decode()
    assert space.title in page
    assert "Other thing" not in page


def test_the_space_page_shows_the_moderation_log_inline(staff_client, space):
    make_speaker(space)
    page = staff_client.get(reverse("admin:spaces_space_change", args=[space.pk]))
    assert page.status_code == 200
    assert "Moderation log" in page.content.decode()


def test_end_selected_spaces_ends_them_as_staff_and_logs_it(staff_client, space):
    other = SpaceFactory()

    response = act(staff_client, "space", "end_selected", [space.pk, other.pk])

    assert response.status_code == 302
    assert set(Space.objects.values_list("state", flat=True)) == {"ended"}
    log = ModerationAction.objects.get(space=space, action="space_ended")
    assert (log.actor, log.details) == (staff_client.staff, {"by_staff": True})


def test_ban_hosts_deactivates_the_hosts_and_ends_their_spaces(staff_client, space, space_host):
    act(staff_client, "space", "ban_hosts", [space.pk])

    space_host.refresh_from_db()
    assert not space_host.is_active
    assert Space.objects.get(pk=space.pk).state == "ended"
    assert ModerationAction.objects.filter(space=space, action="host_banned").exists()


def test_the_reports_queue_marks_reports_resolved(staff_client, space):
    who = join(space)
    report = services.report_create(reporter=who, space_id=space.pk, reason="spam")
    url = reverse("admin:spaces_report_changelist")
    assert staff_client.get(url, {"status__exact": "open"}).status_code == 200

    act(staff_client, "report", "mark_resolved", [report.pk])

    report.refresh_from_db()
    assert (report.status, report.resolved_by) == (Report.Status.RESOLVED, staff_client.staff)


def test_the_reports_queue_bans_reported_users(staff_client, space):
    who, alice = join(space), make_speaker(space)
    report = services.report_create(
        reporter=who, space_id=space.pk, reason="harassment", target_user_id=alice.pk
    )

    act(staff_client, "report", "ban_reported_users", [report.pk])

    alice.refresh_from_db()
    assert not alice.is_active


@pytest.mark.parametrize(
    "model",
    ["participant", "moderationaction", "pin", "captionline", "speakerrequest", "invitation"],
)
def test_every_spaces_admin_list_opens(staff_client, space, model):
    make_speaker(space)
    assert staff_client.get(reverse(f"admin:spaces_{model}_changelist")).status_code == 200
