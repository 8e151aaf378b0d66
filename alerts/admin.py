"""Admin for go-live alerts: each fan-out as it runs (status, cursor, counts) and its chunks
(each chunk's inbox rows, push and e-mail states). Read-only; one action, "Resume", queues the
fan-out task for running alerts, exactly as the sweep does."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet, Sum
from django.http import HttpRequest

from alerts import services
from alerts.models import GoLiveAlert, GoLiveChunk
from spaces_project.admin_base import ReadOnlyAdmin


class GoLiveChunkInline(admin.TabularInline):
    model = GoLiveChunk
    fields = (
        "after_id",
        "last_id",
        "inbox_count",
        "write_ms",
        "push_state",
        "pushed_count",
        "email_state",
        "emailed_count",
        "created_at",
        "sent_at",
    )
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(GoLiveAlert)
class GoLiveAlertAdmin(ReadOnlyAdmin):
    list_display = (
        "space",
        "host",
        "status",
        "cursor",
        "chunks",
        "inbox_count",
        "pushed",
        "emailed",
        "created_at",
        "updated_at",
        "duration",
    )
    list_filter = ("status",)
    search_fields = ("host__username", "space__title")
    list_select_related = ("host", "space")
    ordering = ("-created_at", "-id")
    inlines = (GoLiveChunkInline,)
    actions = ("resume",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Needed for the action; every field stays read-only.
        return bool(request.user.is_staff)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in GoLiveAlert._meta.fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[GoLiveAlert]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                pushed=Sum("chunk_set__pushed_count"), emailed=Sum("chunk_set__emailed_count")
            )
        )

    @admin.display(description="Pushed", ordering="pushed")
    def pushed(self, obj: GoLiveAlert) -> int:
        return getattr(obj, "pushed", None) or 0

    @admin.display(description="E-mailed", ordering="emailed")
    def emailed(self, obj: GoLiveAlert) -> int:
        return getattr(obj, "emailed", None) or 0

    @admin.display(description="Inbox written in")
    def duration(self, obj: GoLiveAlert) -> str:
        if obj.finished_at is None or obj.status != GoLiveAlert.Status.DONE:
            return "-"
        return f"{(obj.finished_at - obj.created_at).total_seconds():.1f} s"

    @admin.action(description="Resume running fan-outs now")
    def resume(self, request: HttpRequest, queryset: QuerySet[GoLiveAlert]) -> None:
        ids = list(queryset.filter(status=GoLiveAlert.Status.RUNNING).values_list("pk", flat=True))
        for alert_id in ids:
            services.queue_fanout(alert_id)
        self.message_user(request, f"{len(ids)} fan-out(s) queued.", messages.SUCCESS)
