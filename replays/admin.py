"""Staff and replays: take a replay down, delete clips, see the storage each host uses.

Every removal goes through the services (`replay_take_down`, `clip_delete`): files first, then
the row says deleted, logged in the Space's moderation log. Nothing is added or edited here, and
Django's own "delete selected" is off: deleting rows would leave their files behind.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext, gettext_lazy

from accounts.models import User
from replays import selectors, services
from replays.models import Clip, HostStorage
from replays.templatetags.replays_site import clock
from spaces.models import Recording
from spaces_project.admin_base import ReadOnlyAdmin
from spaces_project.errors import ApplicationError


def staff_of(request: HttpRequest) -> User:
    """The signed-in staff member: the admin lets no one else this far."""
    user = request.user
    assert isinstance(user, User)
    return user


class TakeDownForm(ActionForm):
    reason = forms.CharField(
        required=False,
        max_length=500,
        label=gettext_lazy("Reason"),
        help_text=gettext_lazy(
            "Needed to take a replay down; kept with it and in the moderation log."
        ),
    )


@admin.register(Recording)
class RecordingAdmin(ReadOnlyAdmin):
    list_display = (
        "space",
        "host",
        "status",
        "length",
        "size",
        "ready_at",
        "left_out_names",
    )
    list_filter = ("status", "deleted_by")
    search_fields = ("space__title", "space__host__username")
    list_select_related = ("space", "space__host")
    readonly_fields = (
        "space",
        "status",
        "started_at",
        "ready_at",
        "duration_ms",
        "size_bytes",
        "dropped_segments",
        "left_out",
        "speakers",
        "turns",
        "timeline",
        "deleted_at",
        "deleted_by",
        "reason",
    )
    fields = readonly_fields
    ordering = ("-started_at",)
    action_form = TakeDownForm
    actions = ["take_down"]

    @admin.display(description=gettext_lazy("Host"), ordering="space__host__username")
    def host(self, recording: Recording) -> User:
        return recording.space.host

    @admin.display(description=gettext_lazy("Duration"), ordering="duration_ms")
    def length(self, recording: Recording) -> str:
        return clock(recording.duration_ms)

    @admin.display(description=gettext_lazy("Size"), ordering="size_bytes")
    def size(self, recording: Recording) -> str:
        return filesizeformat(recording.size_bytes)

    @admin.display(description=gettext_lazy("Left out"))
    def left_out_names(self, recording: Recording) -> str:
        if not recording.left_out:
            return "-"
        names = User.objects.filter(pk__in=recording.left_out).values_list("username", flat=True)
        return ", ".join(sorted(names))

    @admin.action(
        description=gettext_lazy("Take down selected replays (files and clips deleted, logged)")
    )
    def take_down(self, request: HttpRequest, queryset: QuerySet[Recording]) -> None:
        reason = str(request.POST.get("reason", "")).strip()
        if not reason:
            self.message_user(
                request, gettext("Give a reason to take a replay down."), level=messages.ERROR
            )
            return
        done = 0
        for recording in queryset.select_related("space"):
            try:
                services.replay_take_down(
                    staff=staff_of(request), space_id=recording.space_id, reason=reason
                )
            except ApplicationError as error:
                self.message_user(
                    request, f"{recording.space}: {error.message}", level=messages.WARNING
                )
            else:
                done += 1
        if done:
            self.message_user(
                request,
                gettext("%(count)s replay(s) taken down.") % {"count": done},
                level=messages.SUCCESS,
            )


@admin.register(Clip)
class ClipAdmin(ReadOnlyAdmin):
    list_display = (
        "slug",
        "space",
        "author",
        "source",
        "length",
        "size",
        "created_at",
        "deleted_at",
        "deleted_by",
    )
    list_filter = ("source", "deleted_by")
    search_fields = ("slug", "title", "author__username", "space__title")
    list_select_related = ("space", "author")
    readonly_fields = (
        "slug",
        "space",
        "recording",
        "author",
        "title",
        "source",
        "start_ms",
        "end_ms",
        "wall_start",
        "size_bytes",
        "created_at",
        "deleted_at",
        "deleted_by",
    )
    fields = readonly_fields
    ordering = ("-created_at",)
    actions = ["delete_clips"]

    @admin.display(description=gettext_lazy("Duration"))
    def length(self, clip: Clip) -> str:
        return clock(clip.duration_ms)

    @admin.display(description=gettext_lazy("Size"), ordering="size_bytes")
    def size(self, clip: Clip) -> str:
        return filesizeformat(clip.size_bytes)

    @admin.action(description=gettext_lazy("Delete selected clips (their files; logged as staff)"))
    def delete_clips(self, request: HttpRequest, queryset: QuerySet[Clip]) -> None:
        done = 0
        for clip in queryset.filter(deleted_at__isnull=True):
            try:
                services.clip_delete(actor=staff_of(request), slug=clip.slug)
            except ApplicationError as error:
                self.message_user(request, f"{clip.slug}: {error.message}", level=messages.WARNING)
            else:
                done += 1
        self.message_user(request, f"{done} clip(s) deleted.", level=messages.SUCCESS)


@admin.register(HostStorage)
class HostStorageAdmin(ReadOnlyAdmin):
    """Hosts by the bytes their replays and clips keep, most first (`storage_by_host`)."""

    list_display = ("username", "replays", "replay_size", "clip_size", "total_size")
    list_display_links = None  # a user's page is the accounts admin's, not this list's
    search_fields = ("username", "display_name")
    fields = ("username", "display_name")

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return selectors.storage_by_host(HostStorage.objects.all())

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        # Not `ordering`: the admin's checks accept only model fields there.
        return ("-total_bytes", "pk")

    @admin.display(description=gettext_lazy("Replays"), ordering="replays")
    def replays(self, host: Any) -> int:
        return int(host.replays)

    @admin.display(description=gettext_lazy("Replays' size"), ordering="replay_bytes")
    def replay_size(self, host: Any) -> str:
        return filesizeformat(host.replay_bytes or 0)

    @admin.display(description=gettext_lazy("Clips' size"), ordering="clip_bytes")
    def clip_size(self, host: Any) -> str:
        return filesizeformat(host.clip_bytes or 0)

    @admin.display(description=gettext_lazy("Total"), ordering="total_bytes")
    def total_size(self, host: Any) -> str:
        return filesizeformat(host.total_bytes or 0)
