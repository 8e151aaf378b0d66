"""Moderation for accounts. Actions call the same services as the site and the API."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import Truncator
from django.utils.translation import gettext, gettext_lazy, ngettext

from accounts.forms import SpacesUserChangeForm, SpacesUserCreationForm
from accounts.models import Block, DirectMessage, Follow, Notification, User, UserQuerySet
from accounts.services import user_ban

admin.site.site_header = gettext_lazy("Spaces moderation")
admin.site.site_title = gettext_lazy("Spaces admin")
admin.site.index_title = gettext_lazy("Moderation")


@admin.register(User)
class SpacesUserAdmin(UserAdmin):
    form = SpacesUserChangeForm
    add_form = SpacesUserCreationForm
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Profile", {"fields": ("display_name", "bio", "email", "email_notifications")}),
        ("Audience", {"fields": ("follower_count", "following_count", "can_host")}),
        ("Personal info", {"fields": ("first_name", "last_name"), "classes": ("collapse",)}),
        (
            "Permissions",
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                ),
            },
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "email", "usable_password")}),
        (None, {"classes": ("wide",), "fields": ("password1", "password2")}),
    )
    readonly_fields = ("follower_count", "following_count", "can_host", "last_login")
    list_display = (
        "username",
        "display_name",
        "email",
        "follower_count",
        "following_count",
        "is_active",
        "is_staff",
        "date_joined",
    )
    list_filter = ("is_active", "is_staff", "is_superuser", "date_joined")
    search_fields = ("username", "email", "display_name")
    ordering = ("username",)
    actions = ("ban_users",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        # Counts come from one annotated query for the whole page, never one per row.
        users = super().get_queryset(request)
        assert isinstance(users, UserQuerySet)  # the manager's; the stubs say QuerySet[Any]
        return users.with_follow_counts()

    @admin.display(description=gettext_lazy("Followers"), ordering="follower_count")
    def follower_count(self, obj: User) -> int:
        return getattr(obj, "follower_count", 0)

    @admin.display(description=gettext_lazy("Following"), ordering="following_count")
    def following_count(self, obj: User) -> int:
        return getattr(obj, "following_count", 0)

    @admin.display(description=gettext_lazy("Can host Spaces"), boolean=True)
    def can_host(self, obj: User) -> bool:
        return obj.can_host

    @admin.action(
        description=gettext_lazy("Ban selected users (deactivate and end their sessions)")
    )
    def ban_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        banned = 0
        for user in queryset:
            if user.pk == request.user.pk:
                self.message_user(request, gettext("You cannot ban yourself."), messages.WARNING)
                continue
            user_ban(user=user)
            banned += 1
        if banned:
            self.message_user(
                request,
                ngettext(
                    "Banned %(count)s user: deactivated, sessions ended.",
                    "Banned %(count)s users: deactivated, sessions ended.",
                    banned,
                )
                % {"count": banned},
                messages.SUCCESS,
            )


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ("follower", "followee", "created_at")
    list_select_related = ("follower", "followee")
    autocomplete_fields = ("follower", "followee")
    search_fields = ("follower__username", "followee__username")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ("blocker", "blocked", "created_at")
    list_select_related = ("blocker", "blocked")
    autocomplete_fields = ("blocker", "blocked")
    search_fields = ("blocker__username", "blocked__username")
    ordering = ("-created_at", "-id")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("recipient", "kind", "summary", "is_read", "created_at")
    list_filter = ("kind", "is_read")
    list_select_related = ("recipient",)
    autocomplete_fields = ("recipient",)
    search_fields = ("recipient__username",)
    ordering = ("-created_at", "-id")

    @admin.display(description=gettext_lazy("Payload"))
    def summary(self, obj: Notification) -> str:
        return Truncator(
            ", ".join(f"{key}={value}" for key, value in (obj.payload or {}).items())
        ).chars(80)


@admin.register(DirectMessage)
class DirectMessageAdmin(admin.ModelAdmin):
    list_display = ("sender", "recipient", "excerpt", "is_read", "created_at")
    list_filter = ("is_read",)
    list_select_related = ("sender", "recipient")
    autocomplete_fields = ("sender", "recipient")
    search_fields = ("sender__username", "recipient__username", "body")
    ordering = ("-created_at", "-id")

    @admin.display(description=gettext_lazy("Message"))
    def excerpt(self, obj: DirectMessage) -> str:
        return Truncator(obj.body).chars(80)
