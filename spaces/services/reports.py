"""Reports to staff: anyone who was in a Space reports it, or one of its participants; staff
resolve them (the admin and the API call the same services)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from spaces.access import access_space, lock_rows
from spaces.models import Participant, Report
from spaces.permissions import check_report, ensure
from spaces_project.errors import Forbidden, NotFound, ValidationFailed
from spaces_project.text import clean_text

REPORT_DETAILS_MAX_LENGTH = 1000


def report_create(
    *,
    reporter: User,
    space_id: int,
    reason: str,
    details: str = "",
    target_user_id: int | None = None,
) -> Report:
    """Anyone who was in the Space reports it, or one of its participants, to staff."""
    details = clean_text(details, field="details", multiline=True)
    if reason not in Report.Reason.values:
        raise ValidationFailed("Unknown reason.", fields={"reason": ["Not a valid choice."]})
    if len(details) > REPORT_DETAILS_MAX_LENGTH:
        raise ValidationFailed(
            "The details are too long.",
            fields={"details": [f"At most {REPORT_DETAILS_MAX_LENGTH} characters."]},
        )
    if reason == Report.Reason.OTHER and not details:
        raise ValidationFailed(
            "Say what is wrong.", fields={"details": ["Required when the reason is `other`."]}
        )
    if target_user_id is not None and target_user_id == reporter.pk:
        raise ValidationFailed("You cannot report yourself.", code="cannot_target_self")
    with transaction.atomic():
        space, me = access_space(user=reporter, space_id=space_id)
        ensure(check_report(space, me))
        target = None
        if target_user_id is not None:
            participant = (
                Participant.objects.filter(space=space, user_id=target_user_id)
                .select_related("user")
                .first()
            )
            if participant is None:
                raise NotFound("This user was not in the Space.", code="participant_not_found")
            target = participant.user
        return Report.objects.create(
            space=space, reporter=reporter, target=target, reason=reason, details=details
        )


def report_resolve(*, actor: User, report_id: int, note: str = "") -> Report:
    """Staff close a report. Resolving a resolved report changes nothing."""
    if not actor.is_staff:
        raise Forbidden("Only staff can resolve reports.", code="staff_only")
    with transaction.atomic():
        report = lock_rows(Report.objects.filter(pk=report_id)).first()
        if report is None:
            raise NotFound("No such report.", code="report_not_found")
        if report.status == Report.Status.RESOLVED:
            return report
        report.status = Report.Status.RESOLVED
        report.resolved_at = timezone.now()
        report.resolved_by = actor
        report.resolution_note = clean_text(note, field="note", multiline=True)[:1000]
        report.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note"])
    return report
