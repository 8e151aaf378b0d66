"""What higher apps plug into Spaces (spaces_project/hooks.py explains the pattern).

`entry_rules`: who may enter a Space beyond the Space's own rules (live, not removed, not
blocked by the host). Ticketing registers its ticket entitlement here from its AppConfig, so the
API, the socket and the page, which all ask `space_join` or the detail's `can`, agree on entry
without Spaces importing ticketing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from spaces_project.hooks import Hook

if TYPE_CHECKING:
    from accounts.models import User
    from spaces.models import Participant, Space


class EntryRule(Protocol):
    def __call__(self, *, user: User, space: Space, participant: Participant | None) -> bool:
        """Whether `user` (with their participant row, if any) may enter `space`."""
        ...


entry_rules: Hook[EntryRule] = Hook("spaces.entry_rules")


def entry_admits(*, user: User, space: Space, participant: Participant | None) -> bool:
    """True when every registered entry rule lets `user` into `space`."""
    return all(rule(user=user, space=space, participant=participant) for rule in entry_rules)
