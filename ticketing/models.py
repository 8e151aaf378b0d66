"""Ticketed Spaces: the offer, orders (a paid order is the ticket), refunds, webhook events.

Money is an integer amount in minor units with a currency code (STYLE.md, habit 15).

Capacity (STYLE.md, habit 6; pretix's quotas): seats taken = paid orders + unexpired
reservations. Every reservation and every payment is checked and written under the lock of the
`TicketOffer` row (`services.lock_offer`); `sold` (paid tickets) is a counter on that row with a
CheckConstraint `sold <= capacity` as the last line of defence.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy

from spaces.models import Space


class TicketOffer(models.Model):
    """The tickets of one ticketed Space: price, number, sales window."""

    space = models.OneToOneField(
        Space, on_delete=models.CASCADE, primary_key=True, related_name="ticket_offer"
    )
    price = models.PositiveIntegerField(
        help_text=gettext_lazy("Minor units (cents) of `currency`.")
    )
    currency = models.CharField(max_length=3)
    capacity = models.PositiveIntegerField()
    # Paid tickets not refunded; written only under this row's lock, with F().
    sold = models.PositiveIntegerField(default=0)
    # Sales close at this time or at the Space's start, whichever is first (null: the start).
    sales_close_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(sold__lte=F("capacity")), name="offer_not_oversold"),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="offer_capacity_positive"),
            models.CheckConstraint(condition=Q(price__gte=1), name="offer_price_positive"),
        ]

    def __str__(self) -> str:
        return f"tickets for {self.space_id}: {self.sold}/{self.capacity}"


class Guest(models.Model):
    """Someone the host lets in without a ticket: a co-host or speaker to be. Invitations in a
    live Space go only to people already in it, so a ticketed Space's stage guests are named
    here beforehand."""

    offer = models.ForeignKey(TicketOffer, on_delete=models.CASCADE, related_name="guests")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ticket_guest_of"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["offer", "user"], name="guest_once"),
        ]

    def __str__(self) -> str:
        return f"guest {self.user_id} of {self.offer_id}"


class Order(models.Model):
    """One buyer's checkout for one Space. `paid` is a valid ticket."""

    class State(models.TextChoices):
        RESERVED = "reserved", gettext_lazy("Reserved, awaiting payment")
        PAID = "paid", gettext_lazy("Paid (ticket)")
        FAILED = "failed", gettext_lazy("Payment failed")
        EXPIRED = "expired", gettext_lazy("Reservation expired")
        CANCELLED = "cancelled", gettext_lazy("Cancelled with the Space")
        REFUNDED = "refunded", gettext_lazy("Refunded")

    offer = models.ForeignKey(TicketOffer, on_delete=models.CASCADE, related_name="orders")
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ticket_orders"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.RESERVED)
    # What the buyer is charged, copied from the offer at reservation.
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    provider = models.CharField(max_length=32)
    # The provider's id of the checkout (Stripe: Checkout Session id).
    checkout_ref = models.CharField(max_length=255, blank=True, db_index=True)
    # The provider's id of the payment (Stripe: PaymentIntent id), what a refund needs.
    payment_ref = models.CharField(max_length=255, blank=True)
    checkout_url = models.URLField(max_length=1000, blank=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            # One ticket (or open reservation) per buyer per Space.
            models.UniqueConstraint(
                fields=["offer", "buyer"],
                condition=Q(state__in=["reserved", "paid"]),
                name="order_one_active_per_buyer",
            ),
            models.CheckConstraint(
                condition=~Q(state="paid") | Q(paid_at__isnull=False), name="order_paid_has_time"
            ),
            models.CheckConstraint(
                condition=Q(
                    state__in=["reserved", "paid", "failed", "expired", "cancelled", "refunded"]
                ),
                name="order_state_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["offer", "state", "expires_at"], name="order_offer_state"),
            models.Index(fields=["buyer", "-created_at"], name="order_buyer"),
        ]

    def __str__(self) -> str:
        return f"order {self.pk} of {self.buyer_id} for {self.offer_id} ({self.state})"


class Ticket(Order):
    """Paid orders, as the admin lists them."""

    class Meta:
        proxy = True


class Refund(models.Model):
    """Money going back for one order. One per order (the OneToOne), so a refund asked twice
    is recorded once; the provider call happens after commit."""

    class State(models.TextChoices):
        PENDING = "pending", gettext_lazy("Pending")
        DONE = "done", gettext_lazy("Done")
        FAILED = "failed", gettext_lazy("Failed")

    class Reason(models.TextChoices):
        SPACE_CANCELLED = "space_cancelled", gettext_lazy("The host cancelled the Space")
        SPACE_EXPIRED = "space_expired", gettext_lazy("The Space never started")
        SOLD_OUT = (
            "sold_out",
            gettext_lazy("Paid after the reservation expired and the seat was gone"),
        )
        AMOUNT_MISMATCH = "amount_mismatch", gettext_lazy("Paid amount differs from the order")

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="refund")
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    provider = models.CharField(max_length=32)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    provider_ref = models.CharField(max_length=255, blank=True)
    last_error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="done") | Q(done_at__isnull=False), name="refund_done_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"refund of order {self.order_id} ({self.state})"


class WebhookEvent(models.Model):
    """Every provider event, stored under its id before it is acted on (habit 7)."""

    provider = models.CharField(max_length=32)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=128)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    result = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhook_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.type} {self.event_id}"
