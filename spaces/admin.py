"""Staff moderation: Spaces (end, ban hosts), participants, the reports queue, the log.

Every action goes through the same services as the API (`space_end`, `host_ban`,
`report_resolve`), so it is checked, locked and logged the same way.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from spaces import services
from spaces.models import (
    CaptionLine,
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

    @admin.action(description="End selected Spaces (logged as staff)")
    def end_selected(self, request: HttpRequest, queryset: QuerySet[Space]) -> None:
        ended = 0
        for space_id in queryset.filter(state=Space.State.LIVE).values_list("pk", flat=True):
            try:
                services.space_end(actor=request.user, space_id=space_id)  # type: ignore[arg-type]
                ended += 1
            except ApplicationError as exc:
                self.message_user(request, f"Space {space_id}: {exc.message}", messages.WARNING)
        self.message_user(request, f"Ended {ended} Space(s).", messages.SUCCESS)

    @admin.action(description="Ban the hosts of selected Spaces (and end their live Spaces)")
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


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "space", "reporter", "target", "reason", "status")
    list_filter = ("status", "reason")
    search_fields = ("space__title", "reporter__username", "target__username", "details")
    raw_id_fields = ("space", "reporter", "target", "resolved_by")
    list_select_related = ("space", "reporter", "target")
    readonly_fields = (
        "space",
        "reporter",
        "target",
        "reason",
        "details",
        "created_at",
        "status",
        "resolved_at",
        "resolved_by",
    )
    ordering = ("status", "-created_at")
    actions = ("mark_resolved", "ban_reported_users", "end_reported_spaces")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Mark selected reports resolved")
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        for report_id in queryset.values_list("pk", flat=True):
            services.report_resolve(actor=request.user, report_id=report_id)  # type: ignore[arg-type]
        self.message_user(request, "Resolved.", messages.SUCCESS)

    @admin.action(description="Ban the reported users (and end their live Spaces)")
    def ban_reported_users(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        targets = {r.target for r in queryset.select_related("target") if r.target is not None}
        for target in targets:
            services.host_ban(actor=request.user, host=target)  # type: ignore[arg-type]
        self.message_user(request, f"Banned {len(targets)} user(s).", messages.SUCCESS)

    @admin.action(description="End the reported Spaces")
    def end_reported_spaces(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        live = queryset.filter(space__state=Space.State.LIVE).values_list("space_id", flat=True)
        for space_id in set(live):
            services.space_end(actor=request.user, space_id=space_id)  # type: ignore[arg-type]
        self.message_user(request, "Done.", messages.SUCCESS)


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
