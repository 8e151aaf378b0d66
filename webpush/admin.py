"""Staff see each user's devices and how their pushes fare; deleting a row unsubscribes it."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy

from webpush.models import PushSubscription


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "push_service",
        "user_agent",
        "created_at",
        "last_success_at",
        "failure_count",
    )
    list_select_related = ("user",)
    list_filter = ("created_at", "last_success_at")
    search_fields = ("user__username__iexact", "user_agent")
    ordering = ("user__username", "-created_at")
    raw_id_fields = ("user",)
    readonly_fields = (
        "user",
        "endpoint",
        "p256dh",
        "auth",
        "user_agent",
        "created_at",
        "last_success_at",
        "failure_count",
    )

    @admin.display(description=gettext_lazy("Push service"))
    def push_service(self, subscription: PushSubscription) -> str:
        return urlsplit(subscription.endpoint).netloc

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # only a browser can make a subscription: it holds the private key
