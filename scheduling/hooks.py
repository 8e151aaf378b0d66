"""What higher apps plug into scheduling (spaces_project/hooks.py explains the pattern).

`space_cancelled`: run as `hook(space, reason)` whenever a scheduled Space is cancelled by its
host (`reason="host"`) or expires (`"expired"`). Ticketing registers its refunds here from its
AppConfig.

A hook runs in exactly one place, `scheduling.services._withdraw`, inside the cancelling
transaction with the Space row locked, once per Space (the state check under that lock makes a
second cancel or expiry a no-op). It may write rows (refund records) in that transaction;
anything that talks to the outside world (a payment provider) must leave through
`transaction.on_commit` or a Celery task. An exception rolls the cancel back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from spaces_project.hooks import Hook

if TYPE_CHECKING:
    from accounts.models import User
    from spaces.models import Space

CancelHook = Callable[["Space", str], None]

space_cancelled: Hook[CancelHook] = Hook("scheduling.space_cancelled")


class TicketOfferOpen(Protocol):
    def __call__(
        self,
        *,
        host: User,
        space_id: int,
        price: int,
        capacity: int,
        currency: str | None = None,
        guests: Sequence[str] = (),
        sales_close_at: datetime | None = None,
    ) -> object:
        """Put the host's scheduled Space on sale (ticketing.services.ticket_offer_open)."""
        ...


# `ticket_offer_open`: the schedule form's ticket fields (price in minor units, capacity, guest
# usernames) go to ticketing through here, since scheduling may not import ticketing. Ticketing
# registers `ticketing.services.ticket_offer_open`; call it inside the transaction that
# schedules the Space, so a refusal (an ApplicationError) rolls the schedule back too.
ticket_offer_open: Hook[TicketOfferOpen] = Hook("scheduling.ticket_offer_open")
