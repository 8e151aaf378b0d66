"""The offline provider: for the embedded default and tests. Its checkout page (site) confirms or
fails the order on the spot; a refund is recorded as done at once."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy

from ticketing.providers.base import CheckoutStart, PaymentProvider, register


@register
class OfflineProvider(PaymentProvider):
    identifier = "offline"
    verbose_name = gettext_lazy("Pay on the spot (offline)")

    def checkout_start(self, *, order: Any, return_url: str) -> CheckoutStart:
        return CheckoutStart(
            url=reverse("ticket_checkout_offline", args=[order.pk]),
            checkout_ref=f"offline-{order.pk}",
        )

    def refund(self, *, refund: Any) -> str:
        return f"offline-refund-{refund.pk}"
