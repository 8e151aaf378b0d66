"""The provider base class and its registry (pretix's base/payment.py shape).

A provider knows how to start a checkout for an order, how to turn a webhook request into a
verified event, and how to give money back. It never writes to the database: the services in
ticketing/services.py decide what an event means for an order, under the offer lock.

A provider is enabled when its identifier is in settings.PAYMENT_PROVIDERS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.utils.translation import gettext as _

from spaces_project.errors import ApplicationError, ValidationFailed

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise


class PaymentProviderError(ApplicationError):
    """The provider could not be reached or refused the call."""

    status = 502
    default_code = "payment_provider_error"


class WebhookRejected(ApplicationError):
    """A webhook whose signature, timestamp or body does not check out."""

    status = 400
    default_code = "bad_signature"


@dataclass(frozen=True)
class CheckoutStart:
    url: str
    checkout_ref: str = ""


@dataclass(frozen=True)
class ProviderEvent:
    """A verified webhook event. `outcome` is "paid", "failed" or "" (nothing to do)."""

    event_id: str
    type: str
    outcome: str = ""
    order_id: int | None = None
    checkout_ref: str = ""
    payment_ref: str = ""
    amount: int | None = None
    currency: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


class PaymentProvider:
    identifier: ClassVar[str]
    verbose_name: ClassVar[str | StrPromise]

    @property
    def is_enabled(self) -> bool:
        return self.identifier in settings.PAYMENT_PROVIDERS

    def checkout_start(self, *, order: Any, return_url: str) -> CheckoutStart:
        """Where to send the buyer to pay `order` (a reserved Order). Called outside any
        transaction: it may talk to the provider's servers."""
        raise NotImplementedError

    def handle_webhook(self, *, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Verify and parse a webhook request; raise WebhookRejected if it does not check out."""
        raise WebhookRejected(_("This provider takes no webhooks."), code="no_webhooks")

    def refund(self, *, refund: Any) -> str:
        """Give the money of `refund` (a Refund row) back; return the provider's reference.
        Must be safe to call twice for the same refund (idempotency key)."""
        raise NotImplementedError


_registry: dict[str, type[PaymentProvider]] = {}


def register(cls: type[PaymentProvider]) -> type[PaymentProvider]:
    _registry[cls.identifier] = cls
    return cls


def provider_get(identifier: str, *, enabled_only: bool = True) -> PaymentProvider:
    """Every entry point (API, site, admin) looks providers up here, so a disabled one, such as
    `offline` in production, is refused the same way everywhere: 400 `unknown_provider`, the
    same answer as a name that never existed (clients need not tell the two apart)."""
    cls = _registry.get(identifier)
    provider = cls() if cls is not None else None
    if provider is None or (enabled_only and not provider.is_enabled):
        raise ValidationFailed(
            _("Unknown or disabled payment provider."),
            code="unknown_provider",
            fields={
                "provider": [
                    _("One of: %(choices)s.") % {"choices": ", ".join(providers_enabled_ids())}
                ]
            },
        )
    return provider


def providers_enabled_ids() -> list[str]:
    return [name for name in settings.PAYMENT_PROVIDERS if name in _registry]


def providers_enabled() -> list[PaymentProvider]:
    return [_registry[name]() for name in providers_enabled_ids()]
