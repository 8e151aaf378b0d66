"""Ticketing on pages owned elsewhere: the `price` filter (money for people, ticketing/money.py)
and the offer of a ticketed Space for its cards and pages (`ticketing/_price_badge.html`).

A template loads this library by name, so the scheduling and spaces templates show tickets
without their Python importing ticketing (pyproject.toml's layers)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from babel.numbers import format_percent
from django import template
from django.conf import settings
from django.utils import translation

from accounts.models import User
from spaces.hooks import TICKET_BADGE_ATTR, TicketBadge
from ticketing import selectors
from ticketing.money import money_format

register = template.Library()


@register.filter
def price(value: Any, currency: str = "") -> str:
    """`{{ 500|price:"usd" }}` is "$5.00" in English, `{{ 500|price:"eur" }}` "5,00 €" in German.
    Also `{{ offer|price }}` (a TicketOffer), `{{ order|price }}` (an Order or Refund) and
    `{{ report|price }}` (the gross of a SalesReport)."""
    if value is None or value == "":
        return ""
    if not currency and hasattr(value, "currency"):
        currency = value.currency
        for attr in ("price", "amount", "gross"):
            if hasattr(value, attr):
                value = getattr(value, attr)
                break
    try:
        return money_format(int(value), currency)
    except (TypeError, ValueError):
        return ""


@register.filter
def bps_percent(bps: int) -> str:
    """Basis points as a percentage for people: 1000 is "10%", 250 "2.5%"."""
    return format_percent(
        Decimal(int(bps)) / 10000,
        locale=translation.to_locale(translation.get_language() or settings.LANGUAGE_CODE),
        format="#,##0.##%",
    )


def _viewer(context: template.Context) -> User | None:
    request = context.get("request")
    user = getattr(request, "user", None)
    return user if isinstance(user, User) and user.is_authenticated else None


@register.simple_tag(takes_context=True)
def ticket_badge(context: template.Context, space: Any) -> TicketBadge | None:
    """The badge of `space` as the signed-in viewer sees it (spaces.hooks.TicketBadge), or None
    for a Space that sells no tickets (no query). A list's view attaches the badges of all its
    Spaces in one read (spaces.hooks.ticket_badges_attach); a Space drawn alone (its own page)
    costs that read for itself."""
    if space is None or not getattr(space, "is_ticketed", False):
        return None
    if hasattr(space, TICKET_BADGE_ATTR):
        attached: TicketBadge | None = getattr(space, TICKET_BADGE_ATTR)
        return attached
    # One look-up per Space per page, however many times the page draws it.
    render_context: Any = context.render_context  # the stubs type it for Django's own keys
    cache: dict[int, TicketBadge | None] = render_context.setdefault("ticketing_badges", {})
    if space.pk not in cache:
        found = selectors.ticket_badges(viewer=_viewer(context), spaces=[space])
        cache[space.pk] = found.get(space.pk)
    return cache[space.pk]
