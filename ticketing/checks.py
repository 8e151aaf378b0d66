"""System checks for ticketing, run by `manage.py check` (registered in apps.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.security, deploy=True)
def offline_provider_in_production(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The offline provider confirms a payment on the buyer's word: with DEBUG off it gives
    tickets away, so a deployment that enables it on purpose is told so by `check --deploy`."""
    if settings.DEBUG or "offline" not in settings.PAYMENT_PROVIDERS:
        return []
    return [
        Warning(
            "The offline payment provider is enabled with DEBUG off: anyone can get a paid "
            "ticket without paying.",
            hint="Remove `offline` from PAYMENT_PROVIDERS (the default without DEBUG is `stripe`).",
            id="ticketing.W001",
        )
    ]
