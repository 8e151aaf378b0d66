"""Staff moderation: Spaces (end, ban hosts), participants, the reports queue with what was
said around each report, comments (search, take down, ban their authors), the log.

Every action goes through the same services as the API (`space_end`, `host_ban`,
`report_resolve`, `comment_take_down`), so it is checked, locked and logged the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext, gettext_lazy

from accounts.models import User
from spaces import services
from spaces.models import (
    CaptionLine,
    Comment,
    Invitation,
    ModerationAction,
    Participant,
    Pin,
    Report,
    Space,
    SpeakerRequest,
)
from spaces_project.admin_base import ReadOnlyAdmin
from spaces_project.errors import ApplicationError


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ModerationActionInline(ReadOnlyInline):
    model = ModerationAction
    fields = ("created_at", "actor", "action", "target", "details")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    verbose_name_plural = "Moderation log"


class PinInline(ReadOnlyInline):
    model = Pin
    fields = ("created_at", "author", "text", "url", "unpinned_at", "unpinned_by")
    readonly_fields = fields
    ordering = ("-created_at",)


class ReportInline(ReadOnlyInline):
    model = Report
    fields = ("created_at", "reporter", "target", "reason", "details", "status")
    readonly_fields = fields
    ordering = ("-created_at",)
    show_change_link = True


@admin.register(Space)
class SpaceAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "title",
        "host",
        "state",
        "listener_count",
        "speaker_count",
        "peak_listener_count",
        "total_joined_count",
        "started_at",
        "ended_at",
    )
    list_filter = ("state", "speaking_policy", "captions_enabled", "is_ticketed")
    search_fields = ("title", "host__username", "host__display_name")
    raw_id_fields = ("host",)
    date_hierarchy = "started_at"
    ordering = ("-created_at",)
    list_select_related = ("host",)
    readonly_fields = (
        "state",
        "original_host",
        "started_at",
        "ended_at",
        "created_at",
        "listener_count",
        "speaker_count",
        "cohost_count",
        "peak_listener_count",
        "total_joined_count",
        "pin_count",
        "max_speakers",
        "max_cohosts",
    )
    inlines = (ModerationActionInline, PinInline, ReportInline)
    actions = ("end_selected", "ban_hosts")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A Space is started by its host (space_start), never typed in by staff.
        return False

    @admin.action(description=gettext_lazy("End selected Spaces (logged as staff)"))
    def end_selected(self, request: HttpRequest, queryset: QuerySet[Space]) -> None:
        ended = 0
        for space_id in queryset.filter(state=Space.State.LIVE).values_list("pk", flat=True):
            try:
                services.space_end(actor=request.user, space_id=space_id)  # type: ignore[arg-type]
                ended += 1
            except ApplicationError as exc:
                self.message_user(request, f"Space {space_id}: {exc.message}", messages.WARNING)
        self.message_user(request, f"Ended {ended} Space(s).", messages.SUCCESS)

    @admin.action(
        description=gettext_lazy("Ban the hosts of selected Spaces (and end their live Spaces)")
    )
    def ban_hosts(self, request: HttpRequest, queryset: QuerySet[Space]) -> None:
        hosts = {space.host for space in queryset.select_related("host")}
        for host in hosts:
            services.host_ban(actor=request.user, host=host)  # type: ignore[arg-type]
        self.message_user(request, f"Banned {len(hosts)} host(s).", messages.SUCCESS)


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = (
        "space",
        "user",
        "role",
        "state",
        "is_muted",
        "listen_mode",
        "joined_at",
        "last_seen_at",
    )
    list_filter = ("role", "state", "listen_mode")
    search_fields = ("user__username", "space__title")
    raw_id_fields = ("space", "user")
    list_select_related = ("space", "user")
    readonly_fields = [f.name for f in Participant._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Roles change only through the services, which keep the counters and the log right.
        return False


def staff_of(request: HttpRequest) -> User:
    """The signed-in staff member: the admin lets no one else this far."""
    user = request.user
    assert isinstance(user, User)
    return user


def _ban(admin_: admin.ModelAdmin, request: HttpRequest, users: set[User], noun: str) -> None:
    """Ban `users` the way the admin bans (`host_ban`: their live Spaces end, the account is
    deactivated, its sessions end), never the staff member doing it."""
    staff = staff_of(request)
    banned = 0
    for user in sorted(users, key=lambda u: u.pk):
        if user.pk == staff.pk:
            admin_.message_user(request, gettext("You cannot ban yourself."), messages.WARNING)
            continue
        services.host_ban(actor=staff, host=user)
        banned += 1
    admin_.message_user(request, f"Banned {banned} {noun}.", messages.SUCCESS)


def _take_down(admin_: admin.ModelAdmin, request: HttpRequest, reasons: dict[int, str]) -> None:
    """Take each comment down (`comment_take_down`) with its reason: comment id -> reason."""
    done = 0
    for comment_id, reason in sorted(reasons.items()):
        try:
            services.comment_take_down(
                staff=staff_of(request), comment_id=comment_id, reason=reason
            )
        except ApplicationError as error:
            admin_.message_user(request, f"Comment {comment_id}: {error.message}", messages.WARNING)
        else:
            done += 1
    admin_.message_user(request, f"Deleted {done} comment(s).", messages.SUCCESS)


def _when(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _offset(at: datetime | None, moment: datetime | None) -> str:
    """`+0:12` / `-0:45`: how long after (or before) the report's moment."""
    if at is None or moment is None:
        return ""
    seconds = round((at - moment).total_seconds())
    sign = "-" if seconds < 0 else "+"
    minutes, rest = divmod(abs(seconds), 60)
    return f"{sign}{minutes}:{rest:02d}"


def context_rows(report: Report) -> dict[str, Any]:
    """The report's stored context made ready for the review template."""
    context = report.context or {}
    moment = _when(context.get("at"))

    def rows(kind: str, who: str) -> list[dict[str, Any]]:
        out = []
        for item in context.get(kind) or []:
            at = _when(item.get("at"))
            user_id = item.get(f"{who}_id")
            out.append(
                {
                    **item,
                    "time": at,
                    "offset": _offset(at, moment),
                    "username": item.get(f"{who}_username") or "",
                    "user_url": reverse("admin:accounts_user_change", args=[user_id])
                    if user_id
                    else "",
                    "by_target": user_id is not None and user_id == report.target_id,
                }
            )
        return out

    return {
        "report": report,
        "has_context": bool(context),
        "moment": moment,
        "comments": rows("comments", "author"),
        "captions": rows("captions", "speaker"),
        "more_comments": context.get("more_comments"),
        "more_captions": context.get("more_captions"),
        "is_comment_report": context.get("comment_id") is not None,
    }


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "space", "reporter", "about", "reason", "status")
    list_filter = ("status", "reason")
    search_fields = (
        "space__title",
        "reporter__username",
        "target__username",
        "details",
        "comment__text",
    )
    list_select_related = ("space", "reporter", "target", "comment")
    readonly_fields = (
        "space",
        "reporter",
        "target",
        "reported_comment",
        "reason",
        "details",
        "created_at",
        "what_was_said",
        "status",
        "resolved_at",
        "resolved_by",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "space",
                    "reporter",
                    "target",
                    "reported_comment",
                    "reason",
                    "details",
                    "created_at",
                )
            },
        ),
        (
            "What was said around it",
            {
                "fields": ("what_was_said",),
                "description": "Comments and captions of a minute before and after, copied "
                "when it was reported (a comment deleted since is still here).",
            },
        ),
        ("Resolution", {"fields": ("status", "resolved_at", "resolved_by", "resolution_note")}),
    )
    ordering = ("status", "-created_at")
    actions = (
        "mark_resolved",
        "delete_reported_comments",
        "ban_reported_users",
        "end_reported_spaces",
    )

    class Media:
        css = {"all": ("css/admin-reports.css",)}  # the CSP allows no <style> block

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=gettext_lazy("About"))
    def about(self, report: Report) -> str:
        if report.comment is not None:
            return f"Comment: {Truncator(report.comment.text).chars(40)}"
        if report.target is not None:
            return f"@{report.target.username}"
        return "The Space"

    @admin.display(description=gettext_lazy("Comment"))
    def reported_comment(self, report: Report) -> SafeString | str:
        comment = report.comment
        if comment is None:
            return "-"
        url = reverse("admin:spaces_comment_change", args=[comment.pk])
        state = " (deleted)" if comment.is_deleted else ""
        return format_html('<a href="{}">#{}</a>{}: {}', url, comment.pk, state, comment.text)

    @admin.display(description=gettext_lazy("Comments and captions"))
    def what_was_said(self, report: Report) -> SafeString:
        return SafeString(
            render_to_string("admin/spaces/report_context.html", context_rows(report))
        )

    @admin.action(description=gettext_lazy("Mark selected reports resolved"))
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        for report_id in queryset.values_list("pk", flat=True):
            services.report_resolve(actor=request.user, report_id=report_id)  # type: ignore[arg-type]
        self.message_user(request, "Resolved.", messages.SUCCESS)

    @admin.action(description=gettext_lazy("Delete the reported comments (logged as staff)"))
    def delete_reported_comments(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        rows = queryset.filter(comment__isnull=False).values_list("pk", "comment_id")
        _take_down(self, request, {comment: f"Report #{report}" for report, comment in rows})

    @admin.action(description=gettext_lazy("Ban the reported users (and end their live Spaces)"))
    def ban_reported_users(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        targets = {r.target for r in queryset.select_related("target") if r.target is not None}
        _ban(self, request, targets, "user(s)")

    @admin.action(description=gettext_lazy("End the reported Spaces"))
    def end_reported_spaces(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        live = queryset.filter(space__state=Space.State.LIVE).values_list("space_id", flat=True)
        for space_id in set(live):
            services.space_end(actor=request.user, space_id=space_id)  # type: ignore[arg-type]
        self.message_user(request, "Done.", messages.SUCCESS)


class CommentDeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Not deleted"), ("yes", "Deleted")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Comment]) -> QuerySet[Comment]:
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        return queryset


class CommentSpaceStateFilter(admin.SimpleListFilter):
    title = "Space state"
    parameter_name = "space_state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, str(label)) for value, label in Space.State.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Comment]) -> QuerySet[Comment]:
        if self.value() in Space.State.values:
            return queryset.filter(space__state=self.value())
        return queryset


class CommentActionForm(ActionForm):
    reason = forms.CharField(
        required=False,
        max_length=services.TAKE_DOWN_REASON_MAX_LENGTH,
        label=gettext_lazy("Reason"),
        help_text=gettext_lazy("Kept in the moderation log with each comment deleted."),
    )


class CommentReportInline(ReadOnlyInline):
    model = Report
    fk_name = "comment"
    fields = ("created_at", "reporter", "reason", "details", "status")
    readonly_fields = fields
    ordering = ("-created_at",)
    show_change_link = True
    verbose_name_plural = "Reports of this comment"


@admin.register(Comment)
class CommentAdmin(ReadOnlyAdmin):
    """Comments are deleted through `comment_take_down` (kept, marked, logged), never removed
    as rows: the reports and the moderation log point at them."""

    # The text first and widest: it is what staff scan; who deleted it is on its page.
    list_display = ("excerpt", "author", "space", "created_at", "deleted")
    list_display_links = ("excerpt",)
    list_filter = (CommentDeletedFilter, CommentSpaceStateFilter)
    search_fields = ("text", "author__username", "space__title")
    list_select_related = ("space", "author")
    readonly_fields = ("space", "author", "text", "parts", "created_at", "deleted_at", "deleted_by")
    fields = readonly_fields
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    inlines = (CommentReportInline,)
    action_form = CommentActionForm
    actions = ("delete_comments", "ban_authors")

    @admin.display(description=gettext_lazy("Text"))
    def excerpt(self, comment: Comment) -> str:
        return Truncator(comment.text).chars(80)

    @admin.display(description=gettext_lazy("Deleted"), boolean=True, ordering="deleted_at")
    def deleted(self, comment: Comment) -> bool:
        return comment.is_deleted

    @admin.action(description=gettext_lazy("Delete selected comments (logged as staff)"))
    def delete_comments(self, request: HttpRequest, queryset: QuerySet[Comment]) -> None:
        reason = str(request.POST.get("reason", ""))
        ids = queryset.filter(deleted_at__isnull=True).values_list("pk", flat=True)
        _take_down(self, request, dict.fromkeys(ids, reason))

    @admin.action(description=gettext_lazy("Ban the authors (and end their live Spaces)"))
    def ban_authors(self, request: HttpRequest, queryset: QuerySet[Comment]) -> None:
        _ban(self, request, {c.author for c in queryset.select_related("author")}, "author(s)")


@admin.register(ModerationAction)
class ModerationActionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "space", "actor", "action", "target")
    list_filter = ("action",)
    search_fields = ("space__title", "actor__username", "target__username")
    list_select_related = ("space", "actor", "target")
    raw_id_fields = ("space", "actor", "target")


@admin.register(Pin)
class PinAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "space", "author", "text", "unpinned_at")
    search_fields = ("text", "url", "author__username")
    list_select_related = ("space", "author")
    raw_id_fields = ("space", "author", "unpinned_by")


@admin.register(CaptionLine)
class CaptionLineAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "space", "speaker", "text")
    search_fields = ("text", "space__title")
    list_select_related = ("space", "speaker")
    raw_id_fields = ("space", "speaker")


@admin.register(SpeakerRequest)
class SpeakerRequestAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "space", "user", "state", "decided_by", "decided_at")
    list_filter = ("state",)
    list_select_related = ("space", "user", "decided_by")
    raw_id_fields = ("space", "user", "decided_by")


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "space", "kind", "inviter", "invitee", "state")
    list_filter = ("kind", "state")
    list_select_related = ("space", "inviter", "invitee")
    raw_id_fields = ("space", "inviter", "invitee")
