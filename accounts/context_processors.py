from typing import Any

from django.http import HttpRequest

from accounts.selectors import nav_counts


def nav(request: HttpRequest) -> dict[str, Any]:
    """The unread badges in the navigation bar (notifications, messages): one query."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"unread_notifications": 0, "unread_messages": 0}
    notifications, messages = nav_counts(user=user)
    return {"unread_notifications": notifications, "unread_messages": messages}
