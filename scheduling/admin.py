"""Admin for scheduled Spaces, reminders and their deliveries: read-only views of what the
services wrote, with filters, and one action, "Retry failed deliveries", which goes through
`services.deliveries_retry` like every other write."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy, ngettext

from scheduling import services
from scheduling.models import Delivery, Reminder, SpaceSchedule
from spaces_project.admin_base import ReadOnlyAdmin


def _deliveries_link(space_id: int, label: str) -> str:
    url = reverse("admin:scheduling_delivery_changelist") + f"?space__id__exact={space_id}"
    return format_html('<a href="{}">{}</a>', url, label)


@admin.register(SpaceSchedule)
class SpaceScheduleAdmin(ReadOnlyAdmin):
    list_display = (
        "space",
        "host",
        "scheduled_for",
        "state",
        "version",
        "reminders",
        "cancel_reason",
        "deliveries",
    )
    list_filter = ("space__state", "cancel_reason")
    search_fields = ("space__title", "space__host__username")
    list_select_related = ("space__host",)
    ordering = ("-space__scheduled_for",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[SpaceSchedule]:
        return super().get_queryset(request).annotate(reminder_total=Count("space__reminders"))

    @admin.display(description=gettext_lazy("Host"), ordering="space__host__username")
    def host(self, obj: SpaceSchedule) -> str:
        return obj.space.host.username

    @admin.display(description=gettext_lazy("Scheduled for"), ordering="space__scheduled_for")
    def scheduled_for(self, obj: SpaceSchedule) -> Any:
        return obj.space.scheduled_for

    @admin.display(description=gettext_lazy("State"), ordering="space__state")
    def state(self, obj: SpaceSchedule) -> str:
        return obj.space.get_state_display()

    @admin.display(description=gettext_lazy("Reminders"), ordering="reminder_total")
    def reminders(self, obj: SpaceSchedule) -> int:
        return obj.reminder_total  # type: ignore[attr-defined]

    @admin.display(description=gettext_lazy("Deliveries"))
    def deliveries(self, obj: SpaceSchedule) -> str:
        return _deliveries_link(obj.space_id, "see deliveries")


def _delivery_state(kind: str) -> Subquery:
    latest = Delivery.objects.filter(
        space=OuterRef("space"), recipient=OuterRef("user"), kind=kind
    ).order_by("-version", "-id")
    return Subquery(latest.values("state")[:1])


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ("user", "space", "created_at", "reminder_delivery", "live_delivery")
    list_filter = ("space__state",)
    search_fields = ("user__username", "space__title")
    list_select_related = ("user", "space")
    ordering = ("-created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Reminder]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                reminder_state=_delivery_state(Delivery.Kind.REMINDER),
                live_state=_delivery_state(Delivery.Kind.LIVE),
            )
        )

    @admin.display(description=gettext_lazy("15 minutes before"))
    def reminder_delivery(self, obj: Reminder) -> str:
        return obj.reminder_state or "—"  # type: ignore[attr-defined]

    @admin.display(description=gettext_lazy("Live now"))
    def live_delivery(self, obj: Reminder) -> str:
        return obj.live_state or "—"  # type: ignore[attr-defined]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "recipient",
        "space",
        "version",
        "state",
        "skip_reason",
        "due_at",
        "attempts",
        "sent_at",
        "emailed_at",
        "error",
    )
    list_filter = ("state", "kind", "skip_reason")
    search_fields = ("recipient__username", "space__title")
    list_select_related = ("recipient", "space")
    ordering = ("-due_at", "-id")
    actions = ("retry_failed",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Needed for the action; every field stays read-only.
        return bool(request.user.is_staff)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Delivery._meta.fields]

    @admin.display(description=gettext_lazy("Last error"))
    def error(self, obj: Delivery) -> str:
        return obj.last_error[:80]

    @admin.action(description=gettext_lazy("Retry failed deliveries"))
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        count = services.deliveries_retry(ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            ngettext(
                "%(count)s failed delivery queued again.",
                "%(count)s failed deliveries queued again.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )
