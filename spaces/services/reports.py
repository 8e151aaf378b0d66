"""Reports to staff: anyone who was in a Space reports it, one of its participants, or one of
its comments; staff resolve them (the admin and the API call the same services).

Every report carries `context`, a copy of what was said around it for the reviewer: the
comments (deleted ones too, flagged) and caption lines from `REPORT_CONTEXT_SECONDS` before to
as long after its moment (the reported comment's time; else now, or the end of an ended
Space). A copy, since authors delete comments and hosts delete replays. A report of the Space
itself gets one too: what was said when someone reported it is the best evidence of why. The
window is bounded: the `REPORT_CONTEXT_ROWS` comments and as many caption lines nearest the
moment, so a report costs a few small queries however busy the Space. Only staff see it
(the admin); the reporter's answer does not carry it, as it may hold deleted comments.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from spaces.access import access_space, lock_rows
from spaces.models import CaptionLine, Comment, Participant, Report, Space
from spaces.permissions import check_report, ensure
from spaces_project.errors import Forbidden, NotFound, ValidationFailed
from spaces_project.text import clean_text

REPORT_DETAILS_MAX_LENGTH = 1000
REPORT_CONTEXT_SECONDS = 60
REPORT_CONTEXT_ROWS = 100
# Ids as the API bounds them: exact in every JSON client, and within the database's 64 bits (a
# larger number made SQLite raise OverflowError, a 500, instead of matching nothing).
_MAX_ID = 2**53 - 1


def _check_id(value: object, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_ID:
        raise ValidationFailed(
            _("Not a valid %(field)s.") % {"field": field},
            fields={field: [_("A positive integer.")]},
        )


def report_create(
    *,
    reporter: User,
    space_id: int,
    reason: str,
    details: str = "",
    target_user_id: int | None = None,
    comment_id: int | None = None,
) -> Report:
    """Anyone who was in the Space reports it, one of its participants, or one of its comments
    (`comment_id`, deleted or not: its author is the target), to staff."""
    details = clean_text(details, field="details", multiline=True)
    if not isinstance(reason, str) or reason not in Report.Reason.values:
        raise ValidationFailed(_("Unknown reason."), fields={"reason": [_("Not a valid choice.")]})
    if len(details) > REPORT_DETAILS_MAX_LENGTH:
        raise ValidationFailed(
            _("The details are too long."),
            fields={
                "details": [
                    _("At most %(count)s characters.") % {"count": REPORT_DETAILS_MAX_LENGTH}
                ]
            },
        )
    if reason == Report.Reason.OTHER and not details:
        raise ValidationFailed(
            _("Say what is wrong."), fields={"details": [_("Required when the reason is `other`.")]}
        )
    if target_user_id is not None:
        _check_id(target_user_id, "user_id")
    if comment_id is not None:
        _check_id(comment_id, "comment_id")
    if target_user_id is not None and target_user_id == reporter.pk:
        raise ValidationFailed(_("You cannot report yourself."), code="cannot_target_self")
    with transaction.atomic():
        space, me = access_space(user=reporter, space_id=space_id)
        ensure(check_report(space, me))
        target: User | None = None
        comment: Comment | None = None
        if comment_id is not None:
            comment = (
                Comment.objects.filter(pk=comment_id, space=space).select_related("author").first()
            )
            if comment is None:
                raise NotFound(_("No such comment in this Space."), code="comment_not_found")
            if comment.author_id == reporter.pk:
                raise ValidationFailed(
                    _("You cannot report your own comment."), code="cannot_target_self"
                )
            if target_user_id is not None and target_user_id != comment.author_id:
                raise ValidationFailed(
                    _("The comment is by someone else than the person reported."),
                    fields={"comment_id": [_("Not by this user: leave the user out.")]},
                )
            target = comment.author
        elif target_user_id is not None:
            participant = (
                Participant.objects.filter(space=space, user_id=target_user_id)
                .select_related("user")
                .first()
            )
            if participant is None:
                raise NotFound(_("This user was not in the Space."), code="participant_not_found")
            target = participant.user
        return Report.objects.create(
            space=space,
            reporter=reporter,
            target=target,
            comment=comment,
            reason=reason,
            details=details,
            context=report_context(space, moment=_moment(space, comment), comment=comment),
        )


def _moment(space: Space, comment: Comment | None) -> datetime:
    """What a report is about in time: the comment's moment, else now (the end, once over)."""
    if comment is not None:
        return comment.created_at
    now = timezone.now()
    return min(now, space.ended_at) if space.ended_at is not None else now


def _nearest(
    before: list[dict[str, Any]], after: list[dict[str, Any]], moment: datetime, key: str
) -> tuple[list[dict[str, Any]], bool]:
    """The `REPORT_CONTEXT_ROWS` rows nearest `moment` (a `pinned` one first), in time order,
    and whether some were left out. `before` and `after` each hold the nearest on their side,
    one more than that at most, which says there were more."""
    n = REPORT_CONTEXT_ROWS
    more = len(before) > n or len(after) > n
    rows = before[:n] + after[:n]
    chosen = sorted(rows, key=lambda r: (not r.get("pinned"), abs(r[key] - moment)))
    kept = sorted(chosen[:n], key=lambda r: (r[key], r["id"]))
    return kept, more or len(rows) > n


def report_context(space: Space, *, moment: datetime, comment: Comment | None) -> dict[str, Any]:
    """The copy a report keeps of what was said around `moment` (see the module's docstring):
    `{"at", "from", "to", "comments": [...], "captions": [...], "more_comments",
    "more_captions", "comment_id"}`, times as ISO 8601 in UTC."""
    window = timedelta(seconds=REPORT_CONTEXT_SECONDS)
    start, end = moment - window, moment + window
    n = REPORT_CONTEXT_ROWS + 1  # one more than kept: were there more?
    comment_fields = ("id", "created_at", "author_id", "author__username", "text", "deleted_at")
    comments = Comment.objects.filter(space=space, created_at__range=(start, end))
    pivot = comment.pk if comment is not None else _MAX_ID
    at_or_before = Q(created_at__lt=moment) | Q(created_at=moment, id__lte=pivot)
    before = list(
        comments.filter(at_or_before).order_by("-created_at", "-id").values(*comment_fields)[:n]
    )
    after = list(
        comments.exclude(at_or_before).order_by("created_at", "id").values(*comment_fields)[:n]
    )
    if comment is not None:
        # The reported comment is always kept, even among a burst at the very same instant.
        before = [row for row in before if row["id"] != comment.pk]
        before.insert(
            0,
            {
                "id": comment.pk,
                "created_at": comment.created_at,
                "author_id": comment.author_id,
                "author__username": comment.author.username,
                "text": comment.text,
                "deleted_at": comment.deleted_at,
                "pinned": True,
            },
        )
    kept_comments, more_comments = _nearest(before, after, moment, "created_at")

    caption_fields = ("id", "started_at", "speaker_id", "speaker__username", "text")
    # A line is stored after it was spoken, so `created_at >= start` (the index) loses none.
    lines = CaptionLine.objects.filter(
        space=space, created_at__gte=start, started_at__range=(start, end)
    )
    lines_before = list(
        lines.filter(started_at__lte=moment)
        .order_by("-started_at", "-id")
        .values(*caption_fields)[:n]
    )
    lines_after = list(
        lines.filter(started_at__gt=moment).order_by("started_at", "id").values(*caption_fields)[:n]
    )
    kept_lines, more_captions = _nearest(lines_before, lines_after, moment, "started_at")

    reported = comment.pk if comment is not None else None
    return {
        "at": _iso(moment),
        "from": _iso(start),
        "to": _iso(end),
        "comment_id": reported,
        "comments": [
            {
                "id": row["id"],
                "at": _iso(row["created_at"]),
                "author_id": row["author_id"],
                "author_username": row["author__username"],
                "text": row["text"],
                "deleted": row["deleted_at"] is not None,
                "reported": row["id"] == reported,
            }
            for row in kept_comments
        ],
        "captions": [
            {
                "id": row["id"],
                "at": _iso(row["started_at"]),
                "speaker_id": row["speaker_id"],
                "speaker_username": row["speaker__username"],
                "text": row["text"],
            }
            for row in kept_lines
        ],
        "more_comments": more_comments,
        "more_captions": more_captions,
    }


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def report_resolve(*, actor: User, report_id: int, note: str = "") -> Report:
    """Staff close a report. Resolving a resolved report changes nothing."""
    if not actor.is_staff:
        raise Forbidden(_("Only staff can resolve reports."), code="staff_only")
    with transaction.atomic():
        report = lock_rows(Report.objects.filter(pk=report_id)).first()
        if report is None:
            raise NotFound(_("No such report."), code="report_not_found")
        if report.status == Report.Status.RESOLVED:
            return report
        report.status = Report.Status.RESOLVED
        report.resolved_at = timezone.now()
        report.resolved_by = actor
        report.resolution_note = clean_text(note, field="note", multiline=True)[:1000]
        report.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note"])
    return report
