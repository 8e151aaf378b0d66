"""Ticketing reads: entry at the door, the offer as buyers see it (one, or a list's badges in
batch), my tickets, the report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeGuard

from django.conf import settings
from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from spaces.hooks import TicketAction, TicketBadge
from spaces.models import Invitation, Participant, Space
from spaces_project.errors import Forbidden, NotFound
from ticketing.models import Guest, Order, TicketOffer
from ticketing.money import money_format

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

    @property
    def has_ticket(self) -> bool:
        return self.my_order is not None and self.my_order.state == Order.State.PAID

    @property
    def open_reservation(self) -> Order | None:
        """The viewer's reservation still holding a seat (the seat counts as taken, so
        `on_sale` may be False because of it: the buyer can still pay)."""
        mine = self.my_order
        if mine is None or mine.state != Order.State.RESERVED or mine.expires_at <= timezone.now():
            return None
        return mine

    @property
    def sold_out(self) -> bool:
        return self.space.state == Space.State.SCHEDULED and self.available == 0


def _offer_view(
    offer: TicketOffer, space: Space, *, taken: int, mine: Order | None, now: datetime
) -> OfferView:
    close = sales_close_of(offer, space)
    on_sale = space.state == Space.State.SCHEDULED and (close is None or now < close)
    return OfferView(
        offer=offer,
        space=space,
        taken=taken,
        available=max(offer.capacity - taken, 0),
        sales_close_at=close,
        on_sale=on_sale and taken < offer.capacity,
        my_order=mine,
    )


def _signed_in(viewer: User | None) -> TypeGuard[User]:
    return viewer is not None and viewer.is_authenticated


def offer_detail(*, viewer: User | None, space_id: int) -> OfferView:
    offer = TicketOffer.objects.select_related("space__host").filter(pk=space_id).first()
    if offer is None:
        raise NotFound(_("This Space sells no tickets."), code="tickets_not_found")
    now = timezone.now()
    mine = None
    if _signed_in(viewer):
        mine = (
            Order.objects.filter(offer=offer, buyer=viewer).order_by("-created_at", "-pk").first()
        )
    return _offer_view(offer, offer.space, taken=seats_taken(offer, now=now), mine=mine, now=now)


def _offer_views(*, viewer: User | None, spaces: Sequence[Space]) -> dict[int, OfferView]:
    """`offer_detail` for a whole list, by Space id (those `spaces` that sell tickets): one
    query however long the list, the open reservations and the viewer's latest order read as
    subqueries. That order is a partial row (its state and expiry, what `has_ticket` and
    `open_reservation` read): these views are for the badges, not for paying."""
    by_id = {space.pk: space for space in spaces}
    if not by_id:
        return {}
    now = timezone.now()
    reserved = (
        Order.objects.filter(offer=OuterRef("pk"), state=Order.State.RESERVED, expires_at__gt=now)
        .order_by()
        .values("offer")
        .annotate(n=Count("*"))
        .values("n")
    )
    offers = TicketOffer.objects.filter(pk__in=by_id).annotate(
        reserved=Coalesce(Subquery(reserved, output_field=IntegerField()), Value(0))
    )
    if _signed_in(viewer):
        latest = Order.objects.filter(offer=OuterRef("pk"), buyer=viewer).order_by(
            "-created_at", "-pk"
        )  # the newest, as offer_detail takes it
        offers = offers.annotate(
            my_state=Subquery(latest.values("state")[:1]),
            my_expires_at=Subquery(latest.values("expires_at")[:1]),
        )
    views = {}
    for offer in offers:
        space = by_id[offer.pk]
        offer.space = space  # the caller's row: no query to reach it again
        row: Any = offer  # with the viewer's annotations when signed in
        state = getattr(row, "my_state", None)
        mine = None
        if state is not None:
            mine = Order(offer=offer, buyer=viewer, state=state, expires_at=row.my_expires_at)
        taken = offer.sold + offer.reserved  # annotated above
        views[offer.pk] = _offer_view(offer, space, taken=taken, mine=mine, now=now)
    return views


def badge_action(view: OfferView, viewer: User | None) -> TicketAction:
    """What the viewer can do about `view`'s tickets, first match wins: the host's sales,
    a ticket held, a reservation to pay, Buy, sold out, else only holders get in."""
    if _signed_in(viewer) and viewer.pk == view.space.host_id:
        return "sales"
    if view.has_ticket:
        return "held"
    if view.open_reservation is not None and view.space.state == Space.State.SCHEDULED:
        return "finish_paying"
    if view.on_sale:
        return "buy"
    if view.sold_out:
        return "sold_out"
    return "holders_only"


def badge_of(view: OfferView, viewer: User | None) -> TicketBadge:
    offer = view.offer
    action = badge_action(view, viewer)
    url = ""
    if action == "sales":
        url = reverse("ticket_report", args=[view.space.pk])
    elif action in ("finish_paying", "buy"):
        url = reverse("ticket_buy", args=[view.space.pk])
    seats = ""
    if view.space.state == Space.State.SCHEDULED and view.available:
        seats = ngettext(
            "%(left)s of %(capacity)s seat left",
            "%(left)s of %(capacity)s seats left",
            offer.capacity,
        ) % {"left": view.available, "capacity": offer.capacity}
    return TicketBadge(
        price=offer.price,
        currency=offer.currency,
        price_display=money_format(offer.price, offer.currency),
        capacity=offer.capacity,
        seats_left=view.available,
        seats_display=seats,
        action=action,
        url=url,
    )


def ticket_badges(*, viewer: User | None, spaces: Sequence[Space]) -> dict[int, TicketBadge]:
    """The badge of each ticketed Space in `spaces` for its card, by Space id: one query for the
    whole list. Registered as spaces.hooks.ticket_badges (ticketing/apps.py)."""
    return {
        pk: badge_of(view, viewer)
        for pk, view in _offer_views(viewer=viewer, spaces=spaces).items()
    }


def order_get_for(*, buyer: User, order_id: int) -> Order:
    order = (
        Order.objects.select_related("offer__space__host").filter(pk=order_id, buyer=buyer).first()
    )
    if order is None:
        raise NotFound(_("No such order."), code="order_not_found")
    return order


def tickets_of(*, user: User, include_failed: bool = False) -> QuerySet[Order]:
    """The user's orders, newest first (paid ones are tickets). `include_failed`: also a failed
    payment that is the latest order for its Space (what the buyer last tried), as the site
    shows it."""
    orders = Order.objects.filter(buyer=user).exclude(state=Order.State.EXPIRED)
    if include_failed:
        tried_again = Order.objects.filter(
            buyer=user, offer_id=OuterRef("offer_id"), pk__gt=OuterRef("pk")
        )
        orders = orders.exclude(Q(state=Order.State.FAILED) & Exists(tried_again))
    else:
        orders = orders.exclude(state=Order.State.FAILED)
    return orders.select_related("offer__space__host", "refund").order_by("-created_at", "-pk")


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


def sales_orders(*, offer: TicketOffer) -> QuerySet[Order]:
    """Who bought tickets for `offer` (paid, and refunded ones), newest first. The caller has
    checked the viewer may see them (`sales_report`)."""
    return (
        Order.objects.filter(offer=offer, state__in=[Order.State.PAID, Order.State.REFUNDED])
        .select_related("buyer", "refund")
        .order_by("-paid_at", "-created_at", "-pk")
    )


def platform_fee(gross: int, *, bps: int | None = None) -> int:
    """The platform's share of `gross` at `bps` basis points, rounded half up to a minor unit."""
    bps = settings.PLATFORM_FEE_BPS if bps is None else bps
    return (gross * bps + 5000) // 10000


def sales_report(*, actor: User, space_id: int) -> SalesReport:
    """The host's (or staff's) money for one ticketed Space: paid tickets not refunded."""
    offer = TicketOffer.objects.select_related("space").filter(pk=space_id).first()
    if offer is None:
        raise NotFound(_("This Space sells no tickets."), code="tickets_not_found")
    if offer.space.host_id != actor.pk and not actor.is_staff:
        raise Forbidden(_("Only the host can see the sales."), code="not_host")
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
