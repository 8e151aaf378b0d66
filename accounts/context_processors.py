from typing import Any

from django.http import HttpRequest

from accounts.selectors import notifications_unread_count


def nav(request: HttpRequest) -> dict[str, Any]:
    """The unread badge in the navigation bar: one COUNT on an indexed partial index."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"unread_notifications": 0}
    return {"unread_notifications": notifications_unread_count(user=user)}
