"""System checks for Web Push, run by `manage.py check` (registered in apps.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from webpush.keys import VapidKeyError, vapid_keys_or_none


@register()
def vapid_key_usable(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A key that is set but unreadable, or a public key that is not its pair, would fail
    every push (and every subscription made with the wrong public key): refuse to start."""
    if not settings.WEBPUSH_VAPID_PRIVATE_KEY:
        return []  # a generated key file is read (or made) at first use, not on every check
    try:
        vapid_keys_or_none()
    except VapidKeyError as error:
        return [
            Error(
                str(error),
                hint="Generate a pair with `manage.py webpush_keys`, or leave both unset.",
                id="webpush.E001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def vapid_key_set(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A deployment without its own VAPID key has push off (PostgreSQL) or a key generated on
    one host's disk (SQLite): either way not what a production site wants."""
    found: list[CheckMessage] = []
    if not settings.WEBPUSH_VAPID_PRIVATE_KEY:
        found.append(
            Warning(
                "WEBPUSH_VAPID_PRIVATE_KEY is not set: Web Push notifications are off, or "
                "signed with a key generated on this host only.",
                hint="Set WEBPUSH_VAPID_PRIVATE_KEY and WEBPUSH_VAPID_PUBLIC_KEY (`manage.py "
                "webpush_keys` prints a new pair) and WEBPUSH_VAPID_SUBJECT.",
                id="webpush.W001",
            )
        )
    if settings.WEBPUSH_VAPID_SUBJECT.endswith("@localhost"):
        found.append(
            Warning(
                "WEBPUSH_VAPID_SUBJECT is the default: push services contact the sender there "
                "when its pushes cause trouble.",
                hint="Set WEBPUSH_VAPID_SUBJECT to mailto:<a monitored address> or your site's "
                "https URL.",
                id="webpush.W002",
            )
        )
    return found
