"""Stripe: a Checkout Session per order, webhooks verified by signature, refunds by
PaymentIntent. Tests replace only the calls to Stripe's servers (Session.create, Refund.create);
signatures are checked for real with stripe.Webhook.construct_event."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import stripe
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ticketing.providers.base import (
    CheckoutStart,
    PaymentProvider,
    PaymentProviderError,
    ProviderEvent,
    WebhookRejected,
    register,
)

PAID_TYPES = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
FAILED_TYPES = ("checkout.session.expired", "checkout.session.async_payment_failed")
# Stripe refuses a Checkout Session that expires sooner than this.
STRIPE_MIN_SESSION = timedelta(minutes=31)


@register
class StripeProvider(PaymentProvider):
    identifier = "stripe"
    verbose_name = gettext_lazy("Card (Stripe)")

    @property
    def is_enabled(self) -> bool:
        return super().is_enabled and bool(settings.STRIPE_SECRET_KEY)

    def checkout_start(self, *, order: Any, return_url: str) -> CheckoutStart:
        space = order.offer.space
        expires = max(order.expires_at, timezone.now() + STRIPE_MIN_SESSION)
        try:
            session = stripe.checkout.Session.create(
                api_key=settings.STRIPE_SECRET_KEY,
                idempotency_key=f"spaces-checkout-{order.pk}",
                mode="payment",
                line_items=[
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": order.currency,
                            "unit_amount": order.amount,
                            "product_data": {"name": f"Ticket: {space.title}"},
                        },
                    }
                ],
                client_reference_id=str(order.pk),
                metadata={"order_id": str(order.pk), "space_id": str(space.pk)},
                payment_intent_data={"metadata": {"order_id": str(order.pk)}},
                success_url=return_url,
                cancel_url=return_url,
                expires_at=int(expires.timestamp()),
            )
        except stripe.StripeError as exc:
            raise PaymentProviderError(_("The card payment service is unavailable.")) from exc
        return CheckoutStart(url=session.url or "", checkout_ref=session.id)

    def handle_webhook(self, *, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        signature = headers.get("Stripe-Signature") or headers.get("stripe-signature") or ""
        if not signature or not settings.STRIPE_WEBHOOK_SECRET:
            raise WebhookRejected(_("Missing signature."), code="bad_signature")
        try:
            stripe.Webhook.construct_event(
                payload,
                signature,
                settings.STRIPE_WEBHOOK_SECRET,
                tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
            )
        except stripe.SignatureVerificationError as exc:
            # Wrong secret, altered body, or a timestamp outside the tolerance (a replay).
            raise WebhookRejected(
                _("The signature does not match or is too old."), code="bad_signature"
            ) from exc
        except ValueError as exc:
            raise WebhookRejected(
                _("The body is not valid JSON."), code="malformed_request"
            ) from exc
        data: dict[str, Any] = json.loads(payload)
        event_id = str(data.get("id") or "")
        if not event_id:
            raise WebhookRejected(_("The event has no id."), code="malformed_request")
        kind = str(data.get("type") or "")
        obj = (data.get("data") or {}).get("object") or {}
        outcome = ""
        if kind in PAID_TYPES and obj.get("payment_status") == "paid":
            outcome = "paid"
        elif kind in FAILED_TYPES:
            outcome = "failed"
        order_ref = obj.get("client_reference_id") or (obj.get("metadata") or {}).get("order_id")
        try:
            order_id = int(order_ref) if order_ref is not None else None
        except (TypeError, ValueError):
            order_id = None
        amount = obj.get("amount_total")
        return ProviderEvent(
            event_id=event_id,
            type=kind,
            outcome=outcome,
            order_id=order_id,
            checkout_ref=str(obj.get("id") or ""),
            payment_ref=str(obj.get("payment_intent") or ""),
            amount=amount if isinstance(amount, int) else None,
            currency=str(obj.get("currency") or "").lower(),
            payload=data,
        )

    def refund(self, *, refund: Any) -> str:
        if not refund.order.payment_ref:
            raise PaymentProviderError(_("No payment to refund."), code="no_payment_ref")
        try:
            result = stripe.Refund.create(
                api_key=settings.STRIPE_SECRET_KEY,
                idempotency_key=f"spaces-refund-{refund.pk}",
                payment_intent=refund.order.payment_ref,
                amount=refund.amount,
                metadata={"order_id": str(refund.order_id), "reason": refund.reason},
            )
        except stripe.StripeError as exc:
            raise PaymentProviderError(_("The refund could not be made.")) from exc
        return str(result.id)
