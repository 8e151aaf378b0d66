"""Payment providers: a small base class and a registry (base.py), and the built-in providers,
which register themselves when imported here: offline (development and tests) and Stripe.

Callers import from this package; the providers import base.py, never the package, so the
registry and the built-ins do not import each other in a circle.
"""

from ticketing.providers import offline, stripe_provider
from ticketing.providers.base import (
    CheckoutStart,
    PaymentProvider,
    PaymentProviderError,
    ProviderEvent,
    WebhookRejected,
    provider_get,
    providers_enabled,
    providers_enabled_ids,
    register,
)

__all__ = [
    "CheckoutStart",
    "PaymentProvider",
    "PaymentProviderError",
    "ProviderEvent",
    "WebhookRejected",
    "offline",
    "provider_get",
    "providers_enabled",
    "providers_enabled_ids",
    "register",
    "stripe_provider",
]
