"""What higher apps plug into Spaces (spaces_project/hooks.py explains the pattern).

`entry_rules`: who may enter a Space beyond the Space's own rules (live, not removed, not
blocked by the host). Ticketing registers its ticket entitlement here from its AppConfig, so the
API, the socket and the page, which all ask `space_join` or the detail's `can`, agree on entry
without Spaces importing ticketing.

`recording_closed`: called as `hook(space_id=)` when a part of a Space's recording is stored whole
(its media origin stopped); `replays` registers the step that turns the recording of an ended
Space into a replay.

`space_live`: called as `hook(space_id=)` after the transaction that made a Space live commits
(started now, or a scheduled one started: `services.space_go_live`), each hook on its own, a
failure logged and never the host's. `alerts` registers the go-live alert to the followers.

`live_notified_elsewhere`: called as `hook(space_id=)` when a Space goes live, it returns the ids
of the users another app tells about that go-live itself, as a subquery (`values_list`); the
followers' go-live alert leaves them out, so nobody gets two inbox rows for one go-live.
`scheduling` registers its reminder holders (they get its "live now").

`ticket_badges`: called as `hook(viewer=, spaces=)` with a page's ticketed Spaces, it returns
a `TicketBadge` by Space id: what a card shows of its tickets, formatted for people and as the
viewer stands (Buy, "You have a ticket", "Sold out", the host's Sales). Ticketing registers one
read for the whole list; `ticket_badges_attach` sets each Space's `ticket_badge` from it, so the
pages (ticketing/_price_badge.html) and the cards the feed socket sends
(serializers.BubbleSpaceSerializer) show the same badge without a query per Space.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from spaces_project.hooks import Hook

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from accounts.models import User
    from spaces.models import Participant, Space


class EntryRule(Protocol):
    def __call__(self, *, user: User, space: Space, participant: Participant | None) -> bool:
        """Whether `user` (with their participant row, if any) may enter `space`."""
        ...


entry_rules: Hook[EntryRule] = Hook("spaces.entry_rules")


class RecordingClosed(Protocol):
    def __call__(self, *, space_id: int) -> None: ...


recording_closed: Hook[RecordingClosed] = Hook("spaces.recording_closed")


class SpaceLive(Protocol):
    def __call__(self, *, space_id: int) -> None: ...


space_live: Hook[SpaceLive] = Hook("spaces.space_live")


class LiveNotifiedElsewhere(Protocol):
    def __call__(self, *, space_id: int) -> QuerySet[Any, int]:
        """The ids of the users told of this go-live by the registering app, as a subquery."""
        ...


live_notified_elsewhere: Hook[LiveNotifiedElsewhere] = Hook("spaces.live_notified_elsewhere")


def entry_admits(*, user: User, space: Space, participant: Participant | None) -> bool:
    """True when every registered entry rule lets `user` into `space`."""
    return all(rule(user=user, space=space, participant=participant) for rule in entry_rules)


TicketAction = Literal["sales", "held", "finish_paying", "buy", "sold_out", "holders_only"]


@dataclass(frozen=True)
class TicketBadge:
    """The tickets of one Space as a viewer sees them on its card. The strings are ready for
    people (money in the active language), so a script that draws the card formats nothing."""

    price: int  # minor units of `currency`
    currency: str
    price_display: str  # "$5.00"
    capacity: int
    seats_left: int
    seats_display: str  # "3 of 10 seats left"; empty when not on show (live, sold out)
    action: TicketAction  # what the viewer can do, in the order the badge decides it
    url: str  # where `action` leads (the buy page, the host's sales); empty for none


class TicketBadges(Protocol):
    def __call__(
        self, *, viewer: User | None, spaces: Sequence[Space]
    ) -> Mapping[int, TicketBadge]:
        """The badges of those `spaces` that sell tickets, by Space id."""
        ...


ticket_badges: Hook[TicketBadges] = Hook("spaces.ticket_badges")

TICKET_BADGE_ATTR = "ticket_badge"


def ticket_badges_attach(*, viewer: User | None, spaces: Iterable[Space]) -> None:
    """Set `ticket_badge` on each of `spaces`: its `TicketBadge`, or None (free, or nothing
    registered). No query when none is ticketed; otherwise what the hook costs for the whole
    list (ticketing: one query)."""
    spaces = list(spaces)
    ticketed = [space for space in spaces if space.is_ticketed]
    found: dict[int, TicketBadge] = {}
    if ticketed:
        for hook in ticket_badges:
            found.update(hook(viewer=viewer, spaces=ticketed))
    for space in spaces:
        setattr(space, TICKET_BADGE_ATTR, found.get(space.pk))
