"""Ticketing reads: entry at the door, the offer as buyers see it, my tickets, the report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import User
from spaces.models import Invitation, Participant, Space
from spaces_project.errors import Forbidden, NotFound
from ticketing.models import Guest, Order, TicketOffer

STAGE_ROLES = (Participant.Role.HOST, Participant.Role.COHOST, Participant.Role.SPEAKER)


def ticket_admits(*, user: User, space: Space, participant: Participant | None) -> bool:
    """Whether `user` may enter `space` as far as tickets go: any Space that is not ticketed;
    in a ticketed one the host, co-hosts and speakers (on stage, invited, or named by the host
    as guests beforehand) and holders of a paid ticket. The one place the entry rule lives:
    registered as a Spaces entry rule (spaces.hooks.entry_rules, ticketing/apps.py), which
    spaces.services.space_join and the detail's `can` ask, so the API, the socket and the
    media worker (which serves only joined participants) follow."""
    if not space.is_ticketed or space.host_id == user.pk:
        return True
    if participant is not None and participant.role in STAGE_ROLES:
        return True
    if Invitation.objects.filter(
        space=space, invitee=user, state=Invitation.State.PENDING
    ).exists():
        return True
    if Guest.objects.filter(offer_id=space.pk, user=user).exists():
        return True
    return Order.objects.filter(offer_id=space.pk, buyer=user, state=Order.State.PAID).exists()


def seats_taken(offer: TicketOffer, *, now: datetime, exclude_order: int | None = None) -> int:
    """Paid tickets plus unexpired reservations. Exact only under the offer lock."""
    reserved = Order.objects.filter(offer=offer, state=Order.State.RESERVED, expires_at__gt=now)
    if exclude_order is not None:
        reserved = reserved.exclude(pk=exclude_order)
    return offer.sold + reserved.count()


def sales_close_of(offer: TicketOffer, space: Space) -> datetime | None:
    """Sales close at `sales_close_at` or at the start, whichever comes first."""
    times = [t for t in (offer.sales_close_at, space.scheduled_for) if t is not None]
    return min(times) if times else None


@dataclass(frozen=True)
class OfferView:
    offer: TicketOffer
    space: Space
    taken: int
    available: int
    sales_close_at: datetime | None
    on_sale: bool
    my_order: Order | None


def offer_detail(*, viewer: User | None, space_id: int) -> OfferView:
    offer = TicketOffer.objects.select_related("space__host").filter(pk=space_id).first()
    if offer is None:
        raise NotFound("This Space sells no tickets.", code="tickets_not_found")
    now = timezone.now()
    taken = seats_taken(offer, now=now)
    close = sales_close_of(offer, offer.space)
    on_sale = offer.space.state == Space.State.SCHEDULED and (close is None or now < close)
    mine = None
    if viewer is not None and viewer.is_authenticated:
        mine = (
            Order.objects.filter(offer=offer, buyer=viewer).order_by("-created_at", "-pk").first()
        )
    return OfferView(
        offer=offer,
        space=offer.space,
        taken=taken,
        available=max(offer.capacity - taken, 0),
        sales_close_at=close,
        on_sale=on_sale and taken < offer.capacity,
        my_order=mine,
    )


def order_get_for(*, buyer: User, order_id: int) -> Order:
    order = (
        Order.objects.select_related("offer__space__host").filter(pk=order_id, buyer=buyer).first()
    )
    if order is None:
        raise NotFound("No such order.", code="order_not_found")
    return order


def tickets_of(*, user: User) -> QuerySet[Order]:
    """The user's orders, newest first (paid ones are tickets)."""
    return (
        Order.objects.filter(buyer=user)
        .exclude(state__in=[Order.State.EXPIRED, Order.State.FAILED])
        .select_related("offer__space__host")
        .order_by("-created_at", "-pk")
    )


@dataclass(frozen=True)
class SalesReport:
    space_id: int
    title: str
    currency: str
    capacity: int
    sold: int
    refunded: int
    gross: int
    platform_fee: int
    net: int
    fee_bps: int


def platform_fee(gross: int, *, bps: int | None = None) -> int:
    """The platform's share of `gross` at `bps` basis points, rounded half up to a minor unit."""
    bps = settings.PLATFORM_FEE_BPS if bps is None else bps
    return (gross * bps + 5000) // 10000


def sales_report(*, actor: User, space_id: int) -> SalesReport:
    """The host's (or staff's) money for one ticketed Space: paid tickets not refunded."""
    offer = TicketOffer.objects.select_related("space").filter(pk=space_id).first()
    if offer is None:
        raise NotFound("This Space sells no tickets.", code="tickets_not_found")
    if offer.space.host_id != actor.pk and not actor.is_staff:
        raise Forbidden("Only the host can see the sales.", code="not_host")
    return sales_report_of(offer)


def sales_report_of(offer: TicketOffer) -> SalesReport:
    totals = Order.objects.filter(offer=offer).aggregate(
        sold=Count("pk", filter=Q(state=Order.State.PAID)),
        refunded=Count("pk", filter=Q(state=Order.State.REFUNDED, refund__isnull=False)),
        gross=Sum("amount", filter=Q(state=Order.State.PAID), default=0),
    )
    gross = int(totals["gross"])
    fee = platform_fee(gross)
    return SalesReport(
        space_id=offer.pk,
        title=offer.space.title,
        currency=offer.currency,
        capacity=offer.capacity,
        sold=totals["sold"],
        refunded=totals["refunded"],
        gross=gross,
        platform_fee=fee,
        net=gross - fee,
        fee_bps=settings.PLATFORM_FEE_BPS,
    )
