"""Reports reach staff."""

from __future__ import annotations

import pytest

from spaces import services
from spaces.models import Report
from spaces_project.errors import Forbidden, NotFound, ValidationFailed
from tests.factories import SpaceFactory, UserFactory, join, make_speaker

pytestmark = pytest.mark.django_db


def test_a_listener_reports_the_space(space):
    who = join(space)

    report = services.report_create(reporter=who, space_id=space.pk, reason="spam")

    assert (report.space, report.target, report.status) == (space, None, Report.Status.OPEN)


def test_a_listener_reports_a_speaker_with_details(space):
    who, alice = join(space), make_speaker(space)

    report = services.report_create(
        reporter=who,
        space_id=space.pk,
        reason="harassment",
        details=" rude ",
        target_user_id=alice.pk,
    )

    assert (report.target, report.details) == (alice, "rude")


def test_someone_who_left_or_was_removed_can_still_report(space, space_host):
    who = join(space)
    services.participant_remove(actor=space_host, space_id=space.pk, user_id=who.pk)

    services.report_create(
        reporter=who, space_id=space.pk, reason="harassment", target_user_id=space_host.pk
    )

    assert Report.objects.filter(reporter=who, target=space_host).exists()


def test_someone_never_in_the_space_cannot_report_it(space, user):
    with pytest.raises(Forbidden):
        services.report_create(reporter=user, space_id=space.pk, reason="spam")


def test_reporting_a_user_who_was_not_in_the_space_is_not_found(space, user):
    who = join(space)
    with pytest.raises(NotFound):
        services.report_create(
            reporter=who, space_id=space.pk, reason="spam", target_user_id=user.pk
        )
    other = SpaceFactory()
    with pytest.raises(NotFound):
        services.report_create(
            reporter=who, space_id=space.pk, reason="spam", target_user_id=other.host.pk
        )


@pytest.mark.parametrize(
    ("reason", "details", "field"),
    [("meh", "", "reason"), ("other", "", "details"), ("spam", "x" * 1001, "details")],
)
def test_report_reason_and_details_are_validated(space, reason, details, field):
    who = join(space)
    with pytest.raises(ValidationFailed) as exc:
        services.report_create(reporter=who, space_id=space.pk, reason=reason, details=details)
    assert field in exc.value.fields


def test_reporting_yourself_is_refused(space):
    who = join(space)
    with pytest.raises(ValidationFailed):
        services.report_create(
            reporter=who, space_id=space.pk, reason="spam", target_user_id=who.pk
        )


def test_staff_resolve_a_report_and_others_cannot(space):
    who = join(space)
    report = services.report_create(reporter=who, space_id=space.pk, reason="spam")
    staff = UserFactory(is_staff=True)

    with pytest.raises(Forbidden):
        services.report_resolve(actor=who, report_id=report.pk)
    services.report_resolve(actor=staff, report_id=report.pk, note="handled")

    report.refresh_from_db()
    assert (report.status, report.resolved_by, report.resolution_note) == (
        Report.Status.RESOLVED,
        staff,
        "handled",
    )
