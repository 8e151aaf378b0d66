"""Signal receivers of accounts, connected in AccountsConfig.ready."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.services import user_session_revoked


@receiver(user_logged_out, dispatch_uid="accounts.close_sockets_of_ended_session")
def close_sockets_of_ended_session(
    sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    """Every logout (the site's, and allauth headless `DELETE .../auth/session` for app tokens,
    whose request.session is the token's session) ends one session: its open sockets must not
    outlive it. Django sends this signal before it flushes the session, so the key is still
    there."""
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if user is not None and getattr(user, "pk", None) and key:
        user_session_revoked(user_id=user.pk, session_key=key)
