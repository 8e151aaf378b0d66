"""Ticketed Spaces: every write, one function per use case.

Capacity, as pretix's quotas: one late lock. A reservation and a payment each lock the
`TicketOffer` row (`lock_offer`), count seats taken (paid + unexpired reservations) and write
under that lock; `TicketOffer.sold <= capacity` is a CheckConstraint behind it. Lock order is
that of spaces/access.py, extended: Space row → offer row → order rows.

Talking to a payment provider never happens under a lock or inside a transaction that may roll
back: a checkout is started after the reservation commits, and refunds are recorded in the
transaction (once: `Refund.order` is one-to-one) and executed after commit (`refund_execute`).

Webhooks (STYLE.md, habit 7): the event id is inserted under a unique constraint in the same
transaction that acts on it. A duplicate fails the insert and changes nothing; if acting fails,
the row goes with the rollback and the provider's retry is processed normally.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from babel.core import UnknownLocaleError
from babel.numbers import get_currency_name
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import number_format
from django.utils.translation import gettext, gettext_lazy

from accounts import services as accounts_services
from accounts.models import Follow, Notification, User
from accounts.selectors import is_blocked
from scheduling import services as scheduling_services
from scheduling.models import SpaceSchedule
from spaces.access import access_space
from spaces.models import Space
from spaces_project.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ticketing.models import Guest, Order, Refund, TicketOffer, WebhookEvent
from ticketing.money import money_format
from ticketing.providers import PaymentProviderError, ProviderEvent, provider_get
from ticketing.selectors import sales_close_of, seats_taken

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

logger = logging.getLogger(__name__)

OrderState = Order.State


# --- Locks and checks ---------------------------------------------------------------------------


def lock_offer(qs: QuerySet[TicketOffer]) -> QuerySet[TicketOffer]:
    """The capacity lock. Module level so the control test can switch it off."""
    return qs.select_for_update(no_key=True, of=("self",))


def _offer_locked(space_id: int) -> TicketOffer:
    offer = lock_offer(TicketOffer.objects.filter(pk=space_id)).first()
    if offer is None:
        raise NotFound(gettext("This Space sells no tickets."), code="tickets_not_found")
    return offer


def ensure_seat_free(offer: TicketOffer, *, now: datetime) -> None:
    """Caller holds the offer lock."""
    if seats_taken(offer, now=now) >= offer.capacity:
        raise Conflict(gettext("All tickets are taken."), code="sold_out")


def _ensure_on_sale(offer: TicketOffer, space: Space, *, now: datetime) -> None:
    if space.state != Space.State.SCHEDULED:
        raise Conflict(gettext("Ticket sales for this Space have closed."), code="sales_closed")
    close = sales_close_of(offer, space)
    if close is not None and now >= close:
        raise Conflict(gettext("Ticket sales for this Space have closed."), code="sales_closed")


def _clean_price(price: int, currency: str) -> int:
    """The bounds are in minor units; a person reads them as money in `currency` ("Between
    $1.00 and $999.00."), the same wording on the site's form and in the API's message."""
    if not settings.TICKET_PRICE_MIN <= price <= settings.TICKET_PRICE_MAX:
        low = money_format(settings.TICKET_PRICE_MIN, currency)
        high = money_format(settings.TICKET_PRICE_MAX, currency)
        raise ValidationFailed(
            gettext("A ticket costs between %(low)s and %(high)s.") % {"low": low, "high": high},
            fields={
                "price": [gettext("Between %(low)s and %(high)s.") % {"low": low, "high": high}]
            },
        )
    return price


def _clean_capacity(capacity: int) -> int:
    if not 1 <= capacity <= settings.TICKET_CAPACITY_MAX:
        most = number_format(settings.TICKET_CAPACITY_MAX, force_grouping=True)
        raise ValidationFailed(
            gettext("You can sell between 1 and %(count)s tickets.") % {"count": most},
            fields={"capacity": [gettext("Between 1 and %(count)s.") % {"count": most}]},
        )
    return capacity


def _clean_sales_close(value: datetime | None, *, scheduled_for: datetime, now: datetime) -> None:
    if value is None:
        return
    if timezone.is_naive(value):
        raise ValidationFailed(
            gettext("The time needs a time zone."),
            fields={"sales_close_at": [gettext("Give a time zone.")]},
        )
    if value <= now or value > scheduled_for:
        raise ValidationFailed(
            gettext("Sales must close after now and at the start at the latest."),
            fields={"sales_close_at": [gettext("Between now and the scheduled time.")]},
        )


def _ensure_may_sell(host: User) -> None:
    followers = Follow.objects.filter(followee_id=host.pk).count()
    if followers < settings.SPACES_TICKETED_MIN_FOLLOWERS:
        raise Forbidden(
            gettext("You need at least %(count)s followers to sell tickets.")
            % {"count": number_format(settings.SPACES_TICKETED_MIN_FOLLOWERS, force_grouping=True)},
            code="not_enough_followers_to_sell",
        )


# --- The offer ----------------------------------------------------------------------------------


def _clean_currency(currency: str | None) -> str:
    currency = (currency or settings.TICKET_CURRENCY).lower()
    if currency != settings.TICKET_CURRENCY.lower():
        sold_in = _currency_name(settings.TICKET_CURRENCY)
        raise ValidationFailed(
            gettext("Tickets are sold in %(sold_in)s only.") % {"sold_in": sold_in},
            fields={
                "currency": [
                    gettext("Tickets are sold in %(sold_in)s only.") % {"sold_in": sold_in}
                ]
            },
        )
    return currency


def _currency_name(currency: str) -> str:
    """The currency as a person reads it, "US dollars (USD)", in the active language: the
    code alone may mean nothing to them."""
    code = currency.upper()
    try:
        language = translation.get_language() or settings.LANGUAGE_CODE
        name = get_currency_name(code, count=2, locale=translation.to_locale(language))
    except (UnknownLocaleError, ValueError):
        name = get_currency_name(code, count=2, locale="en")
    return f"{name} ({code})" if name != code else code


def _guests_by_username(usernames: Sequence[str], *, host: User) -> list[User]:
    """The active users named (case-insensitive, an "@" allowed, duplicates ignored); an unknown
    name or the host's own is refused on the `guests` field."""
    wanted = {name.strip().lstrip("@").lower() for name in usernames if name.strip().lstrip("@")}
    most = settings.SPACES_MAX_SPEAKERS + settings.SPACES_MAX_COHOSTS
    if len(wanted) > most:
        raise ValidationFailed(
            gettext("Name at most %(count)s guests.") % {"count": most},
            fields={"guests": [gettext("At most %(count)s guests.") % {"count": most}]},
        )
    named = Q()
    for name in wanted:
        named |= Q(username__iexact=name)
    users = User.objects.filter(named, is_active=True) if wanted else User.objects.none()
    found = {user.username.lower(): user for user in users}
    unknown = sorted(wanted - found.keys())
    if unknown:
        raise ValidationFailed(
            gettext("Some guests are not on Spaces."),
            fields={
                "guests": [
                    gettext("No such user: %(usernames)s.")
                    % {"usernames": ", ".join("@" + n for n in unknown)}
                ]
            },
        )
    if host.username.lower() in found:
        raise ValidationFailed(
            gettext("You host this Space."),
            fields={"guests": [gettext("You need not be your own guest.")]},
        )
    return [found[name] for name in sorted(found)]


def ticket_offer_open(
    *,
    host: User,
    space_id: int,
    price: int,
    capacity: int,
    currency: str | None = None,
    guests: Sequence[str] = (),
    sales_close_at: datetime | None = None,
) -> TicketOffer:
    """Put the host's scheduled Space on sale: `capacity` tickets at `price` minor units of
    `currency` (default TICKET_CURRENCY); `guests` (usernames) enter without a ticket.

    Refused: fewer than SPACES_TICKETED_MIN_FOLLOWERS followers (403
    `not_enough_followers_to_sell`), not the host (403 `not_host`), not scheduled (409
    `space_started` ...), already on sale (409 `already_ticketed`), bad price, capacity,
    currency, sales close or guests (400 `invalid` with `fields`). Called inside a caller's
    transaction (schedule and sell as one), a refusal rolls the whole of it back."""
    _ensure_may_sell(host)
    currency = _clean_currency(currency)
    price = _clean_price(price, currency)
    capacity = _clean_capacity(capacity)
    named = _guests_by_username(guests, host=host)
    now = timezone.now()
    with transaction.atomic():
        space, _ = access_space(user=None, space_id=space_id, lock=True)
        if space.host_id != host.pk:
            raise Forbidden(gettext("Only the host can do this."), code="not_host")
        scheduling_services.ensure_scheduled(space)
        assert space.scheduled_for is not None
        _clean_sales_close(sales_close_at, scheduled_for=space.scheduled_for, now=now)
        if space.is_ticketed or TicketOffer.objects.filter(pk=space.pk).exists():
            raise Conflict(gettext("This Space already sells tickets."), code="already_ticketed")
        space.is_ticketed = True
        space.save(update_fields=["is_ticketed"])
        offer = TicketOffer.objects.create(
            space=space,
            price=price,
            currency=currency,
            capacity=capacity,
            sales_close_at=sales_close_at,
        )
        Guest.objects.bulk_create([Guest(offer=offer, user=user) for user in named])
    return offer


def ticketed_space_create(
    *,
    host: User,
    title: str,
    scheduled_for: datetime,
    price: int,
    capacity: int,
    currency: str | None = None,
    sales_close_at: datetime | None = None,
    topics: Sequence[str] = (),
    speaking_policy: str = Space.SpeakingPolicy.EVERYONE,
    guests: Sequence[str] = (),
    recording_enabled: bool = True,
    clips_enabled: bool = True,
) -> Space:
    """Schedule a Space that sells `capacity` tickets at `price` (minor units of `currency`):
    scheduling's `scheduled_space_create_for_sale`, which opens the offer (`ticket_offer_open`)
    in the transaction that schedules, and takes a double submit for one."""
    # Checked before anything is written, so the cheap refusals need no rollback.
    _ensure_may_sell(host)
    _clean_price(price, _clean_currency(currency))
    _clean_capacity(capacity)
    _clean_sales_close(sales_close_at, scheduled_for=scheduled_for, now=timezone.now())
    return scheduling_services.scheduled_space_create_for_sale(
        host=host,
        title=title,
        scheduled_for=scheduled_for,
        price=price,
        capacity=capacity,
        currency=currency,
        guests=guests,
        topics=topics,
        speaking_policy=speaking_policy,
        sales_close_at=sales_close_at,
        recording_enabled=recording_enabled,
        clips_enabled=clips_enabled,
    )


_UNSET: datetime = datetime.min


def ticket_offer_update(
    *,
    actor: User,
    space_id: int,
    price: int | None = None,
    capacity: int | None = None,
    sales_close_at: datetime | None = _UNSET,
) -> TicketOffer:
    """The host changes price, number or sales close. Neither price nor capacity can go below
    what was sold: a lower price once tickets are paid, or fewer tickets than are taken
    (paid + reserved), is refused with 409."""
    if price is not None:
        # An offer is always in TICKET_CURRENCY (`_clean_currency`), so its bounds read in it.
        price = _clean_price(price, settings.TICKET_CURRENCY)
    if capacity is not None:
        capacity = _clean_capacity(capacity)
    now = timezone.now()
    with transaction.atomic():
        space, _ = access_space(user=None, space_id=space_id, lock=True)
        if space.host_id != actor.pk:
            raise Forbidden(gettext("Only the host can do this."), code="not_host")
        offer = _offer_locked(space_id)
        scheduling_services.ensure_scheduled(space)
        if price is not None and price < offer.price and offer.sold > 0:
            raise Conflict(
                gettext("The price cannot go below what buyers paid."), code="price_below_sold"
            )
        if capacity is not None and capacity < seats_taken(offer, now=now):
            raise Conflict(
                gettext("There cannot be fewer tickets than are sold or reserved."),
                code="capacity_below_sold",
            )
        if sales_close_at is not _UNSET:
            assert space.scheduled_for is not None
            _clean_sales_close(sales_close_at, scheduled_for=space.scheduled_for, now=now)
            offer.sales_close_at = sales_close_at
        if price is not None:
            offer.price = price
        if capacity is not None:
            offer.capacity = capacity
        offer.save(update_fields=["price", "capacity", "sales_close_at"])
    return offer


def ticket_guest_set(*, actor: User, space_id: int, user_id: int, admit: bool) -> bool:
    """The host names (or un-names) a guest who enters without a ticket: a co-host or speaker
    to be. Idempotent; returns whether the user is a guest now."""
    with transaction.atomic():
        space, _ = access_space(user=None, space_id=space_id, lock=True)
        if space.host_id != actor.pk:
            raise Forbidden(gettext("Only the host can do this."), code="not_host")
        offer = _offer_locked(space_id)
        if not User.objects.filter(pk=user_id, is_active=True).exists():
            raise NotFound(gettext("No such user."), code="user_not_found")
        if user_id == actor.pk:
            raise ValidationFailed(gettext("You host this Space."), code="cannot_target_self")
        if admit:
            Guest.objects.get_or_create(offer=offer, user_id=user_id)
        else:
            Guest.objects.filter(offer=offer, user_id=user_id).delete()
    return admit


# --- Checkout -----------------------------------------------------------------------------------


def ticket_reserve(*, buyer: User, space_id: int, provider: str) -> tuple[Order, bool]:
    """Hold a seat for TICKET_RESERVATION_MINUTES. Returns (order, created); the buyer's own
    unexpired reservation is returned again (created=False) rather than a second seat.

    Refused: own Space (403 `own_space`), blocked by the host (403 `blocked`), sales closed
    (409 `sales_closed`), a ticket already held (409 `already_has_ticket`), no seat (409
    `sold_out`)."""
    chosen = provider_get(provider)
    now = timezone.now()
    with transaction.atomic():
        offer = _offer_locked(space_id)
        space = Space.objects.get(pk=space_id)
        if space.host_id == buyer.pk:
            raise Forbidden(gettext("You host this Space: you need no ticket."), code="own_space")
        if is_blocked(blocker_id=space.host_id, blocked_id=buyer.pk):
            raise Forbidden(gettext("The host has blocked you."), code="blocked")
        _ensure_on_sale(offer, space, now=now)
        mine = Order.objects.filter(
            offer=offer, buyer=buyer, state__in=[OrderState.RESERVED, OrderState.PAID]
        ).first()
        if mine is not None and mine.state == OrderState.PAID:
            raise Conflict(
                gettext("You already have a ticket for this Space."), code="already_has_ticket"
            )
        if mine is not None and mine.expires_at > now:
            return mine, False
        if mine is not None:
            mine.state = OrderState.EXPIRED
            mine.save(update_fields=["state"])
        ensure_seat_free(offer, now=now)
        order = Order.objects.create(
            offer=offer,
            buyer=buyer,
            amount=offer.price,
            currency=offer.currency,
            provider=chosen.identifier,
            expires_at=now + timedelta(minutes=settings.TICKET_RESERVATION_MINUTES),
        )
    return order, True


def ticket_checkout_start(
    *, buyer: User, space_id: int, provider: str, return_url: str = ""
) -> tuple[Order, bool]:
    """Reserve, then ask the provider where to pay (outside the transaction). A provider that
    fails releases the seat (the order fails) and answers 502 `payment_provider_error`."""
    order, created = ticket_reserve(buyer=buyer, space_id=space_id, provider=provider)
    if order.checkout_url:
        return order, created
    chosen = provider_get(order.provider)
    try:
        start = chosen.checkout_start(order=order, return_url=return_url or reverse("tickets_mine"))
    except PaymentProviderError:
        order_fail(order_id=order.pk, reason="provider_error")
        raise
    Order.objects.filter(pk=order.pk, state=OrderState.RESERVED).update(
        checkout_url=start.url, checkout_ref=start.checkout_ref
    )
    order.refresh_from_db()
    return order, created


def _buyer_language(order: Order) -> translation.override:
    """The buyer's own language for what they are told (a webhook has no browser to ask)."""
    return translation.override(
        order.buyer.language or translation.get_language() or settings.LANGUAGE_CODE
    )


def _notify(order: Order, message: str) -> None:
    """`message`: written in `_buyer_language(order)`."""
    space = order.offer.space
    accounts_services.notification_create(
        recipient=order.buyer,
        kind=Notification.Kind.TICKET,
        payload={
            "message": message,
            "space_id": space.pk,
            "title": space.title,
            "order_id": order.pk,
            "url": reverse("tickets_mine"),
        },
    )


def _refund_record(order: Order, *, reason: str, amount: int, currency: str) -> Refund | None:
    """Record a refund for `order` once (caller holds the order lock); run it after commit."""
    refund, created = Refund.objects.get_or_create(
        order=order,
        defaults={
            "amount": amount,
            "currency": currency,
            "provider": order.provider,
            "reason": reason,
        },
    )
    if not created:
        return None
    transaction.on_commit(lambda: refund_execute(refund_id=refund.pk))
    return refund


def _money(amount: int, currency: str) -> str:
    return money_format(amount, currency)


def order_payment_confirm(
    *,
    provider: str,
    order_id: int | None,
    checkout_ref: str = "",
    payment_ref: str = "",
    amount: int | None,
    currency: str,
) -> Order | None:
    """A provider says `order` was paid `amount` `currency`. Idempotent.

    Under the offer lock: a reserved order becomes a ticket. A payment that differs from the
    order is refunded and gives no ticket (`amount_mismatch`). A payment arriving after the
    reservation expired gets the seat if one is still free, otherwise it is refunded
    (`sold_out`); one for a Space cancelled meanwhile is refunded too."""
    now = timezone.now()
    with transaction.atomic():
        found = Order.objects.filter(provider=provider)
        found = found.filter(pk=order_id) if order_id is not None else found
        found = found.filter(checkout_ref=checkout_ref) if order_id is None else found
        order = found.first() if (order_id is not None or checkout_ref) else None
        if order is None:
            return None
        offer = _offer_locked(order.offer_id)
        order = (
            Order.objects.select_for_update(of=("self",))
            .select_related("offer__space", "buyer")
            .get(pk=order.pk)
        )
        if order.state == OrderState.PAID or hasattr(order, "refund"):
            return order
        order.payment_ref = payment_ref or order.payment_ref
        paid_amount = amount if amount is not None else 0
        if amount != order.amount or currency.lower() != order.currency:
            order.state = OrderState.FAILED
            order.failure_reason = "amount_mismatch"
            order.save(update_fields=["state", "failure_reason", "payment_ref"])
            if paid_amount > 0:
                _refund_record(
                    order,
                    reason=Refund.Reason.AMOUNT_MISMATCH,
                    amount=paid_amount,
                    currency=currency.lower(),
                )
            logger.warning("ticketing: order %s paid %s %s", order.pk, amount, currency)
            return order
        space = order.offer.space
        if space.state in (Space.State.CANCELLED,):
            reason = _cancel_reason(space)
            return _refund_instead(order, reason=reason, message=gettext_lazy("it was cancelled"))
        seat_is_ours = order.state == OrderState.RESERVED and order.expires_at > now
        if not seat_is_ours:
            other_active = (
                Order.objects.filter(
                    offer=offer, buyer=order.buyer, state__in=[OrderState.RESERVED, OrderState.PAID]
                )
                .exclude(pk=order.pk)
                .exists()
            )
            free = seats_taken(offer, now=now, exclude_order=order.pk) < offer.capacity
            if other_active or not free:
                return _refund_instead(
                    order, reason=Refund.Reason.SOLD_OUT, message=gettext_lazy("it sold out")
                )
        order.state = OrderState.PAID
        order.paid_at = now
        order.save(update_fields=["state", "paid_at", "payment_ref"])
        TicketOffer.objects.filter(pk=offer.pk).update(sold=F("sold") + 1)
        with _buyer_language(order):
            _notify(
                order, gettext("Your ticket for “%(title)s” is confirmed.") % {"title": space.title}
            )
    return order


def _cancel_reason(space: Space) -> str:
    schedule = SpaceSchedule.objects.filter(space=space).first()
    if schedule is not None and schedule.cancel_reason == SpaceSchedule.CancelReason.EXPIRED:
        return Refund.Reason.SPACE_EXPIRED
    return Refund.Reason.SPACE_CANCELLED


def _refund_instead(order: Order, *, reason: str, message: StrPromise) -> Order:
    order.state = OrderState.REFUNDED
    order.failure_reason = reason
    order.save(update_fields=["state", "failure_reason", "payment_ref"])
    _refund_record(order, reason=reason, amount=order.amount, currency=order.currency)
    with _buyer_language(order):
        text = gettext(
            "Your payment for “%(title)s” came too late (%(why)s); %(amount)s will be refunded."
        ) % {
            "title": order.offer.space.title,
            "why": message,
            "amount": _money(order.amount, order.currency),
        }
        _notify(order, text)
    return order


def order_fail(*, order_id: int, reason: str) -> Order | None:
    """The payment failed or was abandoned: a reserved order fails and frees its seat."""
    with transaction.atomic():
        order = Order.objects.filter(pk=order_id).first()
        if order is None:
            return None
        _offer_locked(order.offer_id)
        order = Order.objects.select_for_update(of=("self",)).get(pk=order_id)
        if order.state == OrderState.RESERVED:
            order.state = OrderState.FAILED
            order.failure_reason = reason[:64]
            order.save(update_fields=["state", "failure_reason"])
    return order


def order_offline_settle(*, buyer: User, order_id: int, outcome: str) -> Order:
    """The offline provider's checkout page: confirm (pay) or, under DEBUG only, fail on the
    spot (403 `debug_only` otherwise)."""
    order = Order.objects.filter(pk=order_id, buyer=buyer).first()
    if order is None:
        raise NotFound(gettext("No such order."), code="order_not_found")
    if order.provider != "offline":
        raise Conflict(
            gettext("This order is paid through another provider."), code="wrong_provider"
        )
    provider_get("offline")
    if outcome == "fail":
        # A developer's tool (to see a failed payment), never a buyer's choice.
        if not settings.DEBUG:
            raise Forbidden(
                gettext("Failing a payment on purpose is for development only."), code="debug_only"
            )
        result = order_fail(order_id=order.pk, reason="declined")
    elif outcome == "confirm":
        if order.state not in (OrderState.RESERVED, OrderState.EXPIRED):
            raise Conflict(gettext("This order is not awaiting payment."), code="order_not_open")
        result = order_payment_confirm(
            provider="offline",
            order_id=order.pk,
            payment_ref=f"offline-{order.pk}",
            amount=order.amount,
            currency=order.currency,
        )
    else:
        raise ValidationFailed(
            gettext("Choose to pay or to fail the payment."),
            fields={"outcome": [gettext("Choose to pay or to fail the payment.")]},
        )
    assert result is not None
    result.refresh_from_db()
    return result


def reservations_expire(*, now: datetime | None = None) -> int:
    """Mark lapsed reservations expired (the seat count already ignores them). A conditional
    UPDATE: a payment confirming the same row at once either wins (state is no longer
    `reserved`) or finds it expired and takes the late-payment path."""
    now = now or timezone.now()
    return Order.objects.filter(state=OrderState.RESERVED, expires_at__lte=now).update(
        state=OrderState.EXPIRED
    )


# --- Webhooks -----------------------------------------------------------------------------------


def webhook_receive(*, provider: str, event: ProviderEvent) -> str:
    """Store a verified event under its id, then act on it, in one transaction. Returns what
    was done: "duplicate" for an event seen before (nothing changes)."""
    try:
        with transaction.atomic():
            row = WebhookEvent.objects.create(
                provider=provider, event_id=event.event_id, type=event.type, payload=event.payload
            )
            result = _webhook_act(provider=provider, event=event)
            row.result = result
            row.save(update_fields=["result"])
    except IntegrityError:
        if WebhookEvent.objects.filter(provider=provider, event_id=event.event_id).exists():
            return "duplicate"
        raise
    return result


def _webhook_act(*, provider: str, event: ProviderEvent) -> str:
    if event.outcome == "paid":
        order = order_payment_confirm(
            provider=provider,
            order_id=event.order_id,
            checkout_ref=event.checkout_ref,
            payment_ref=event.payment_ref,
            amount=event.amount,
            currency=event.currency,
        )
        if order is None:
            return "unknown_order"
        return order.failure_reason or order.state
    if event.outcome == "failed" and event.order_id is not None:
        order = Order.objects.filter(pk=event.order_id, provider=provider).first()
        if order is None:
            return "unknown_order"
        failed = order_fail(order_id=order.pk, reason=event.type)
        return failed.state if failed else "unknown_order"
    return "ignored"


# --- Refunds ------------------------------------------------------------------------------------


def tickets_refund_for_space(space: Space, reason: str) -> None:
    """Cancel hook (scheduling.hooks.space_cancelled): the Space row is locked and it
    is cancelled once. Every paid ticket is refunded through its provider after commit and its
    buyer told; open reservations are cancelled."""
    if not space.is_ticketed:
        return
    offer = lock_offer(TicketOffer.objects.filter(pk=space.pk)).first()
    if offer is None:
        return
    refund_reason = (
        Refund.Reason.SPACE_EXPIRED
        if reason == SpaceSchedule.CancelReason.EXPIRED
        else Refund.Reason.SPACE_CANCELLED
    )
    Order.objects.filter(offer=offer, state=OrderState.RESERVED).update(state=OrderState.CANCELLED)
    paid = list(
        Order.objects.filter(offer=offer, state=OrderState.PAID)
        .select_for_update(of=("self",))
        .select_related("buyer", "offer__space")
        .order_by("pk")
    )
    for order in paid:
        order.state = OrderState.REFUNDED
        order.failure_reason = refund_reason
        order.save(update_fields=["state", "failure_reason"])
        _refund_record(order, reason=refund_reason, amount=order.amount, currency=order.currency)
        with _buyer_language(order):
            if refund_reason == Refund.Reason.SPACE_EXPIRED:
                text = gettext(
                    "“%(title)s” did not start: your %(amount)s ticket will be refunded."
                )
            else:
                text = gettext(
                    "“%(title)s” was cancelled: your %(amount)s ticket will be refunded."
                )
            amount = _money(order.amount, order.currency)
            _notify(order, text % {"title": space.title, "amount": amount})
    if paid:
        TicketOffer.objects.filter(pk=offer.pk).update(sold=F("sold") - len(paid))


def refund_execute(*, refund_id: int) -> Refund | None:
    """Give the money back through the order's provider; after commit, and again by the sweep
    for a refund still pending. The refund row is locked (SKIP LOCKED: a second runner leaves
    it), and the provider call carries an idempotency key, so money goes back once."""
    with transaction.atomic():
        refund = (
            Refund.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("order")
            .filter(pk=refund_id, state=Refund.State.PENDING)
            .first()
        )
        if refund is None:
            return None
        refund.attempts += 1
        try:
            refund.provider_ref = provider_get(refund.provider, enabled_only=False).refund(
                refund=refund
            )
        except Exception as exc:
            logger.exception("ticketing: refund %s failed", refund.pk)
            cause = f" ({exc.__cause__})" if exc.__cause__ else ""
            refund.last_error = f"{type(exc).__name__}: {exc}{cause}"[:2000]
            refund.save(update_fields=["attempts", "last_error"])
            return refund
        refund.state = Refund.State.DONE
        refund.done_at = timezone.now()
        refund.save(update_fields=["attempts", "provider_ref", "state", "done_at"])
    return refund


def refunds_retry_pending(*, older_than: timedelta = timedelta(minutes=1), limit: int = 100) -> int:
    cutoff = timezone.now() - older_than
    ids = list(
        Refund.objects.filter(state=Refund.State.PENDING, created_at__lte=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for pk in ids:
        refund = refund_execute(refund_id=pk)
        done += int(refund is not None and refund.state == Refund.State.DONE)
    return done
