"""What higher apps plug into accounts (spaces_project/hooks.py explains the pattern).

`user_banned`: run as `hook(user_id)` once a ban has committed (accounts.services.user_ban).
Spaces registers here how a banned account leaves the Spaces it is in (spaces/realtime/presence.py,
`banned_user_let_go`), so accounts never imports Spaces. A hook runs after commit, in its own
transactions; one that fails is logged and the others still run: the ban itself stands.

`shared_spaces`: called as `hook(viewer, space_ids)` by the message thread, it returns a
`SharedSpace` for each id the viewer may see (the rest are left out). A direct message that
shares a Space carries only `{"space_id": n}`; Spaces registers how such a Space is drawn as
a card (spaces/selectors.py `spaces_shared_in_messages`). With nothing registered a shared
Space shows as unavailable.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from spaces_project.hooks import Hook

if TYPE_CHECKING:
    from accounts.models import User

BanHook = Callable[[int], object]  # what it returns is ignored

user_banned: Hook[BanHook] = Hook("accounts.user_banned")


@dataclass(frozen=True)
class SharedSpace:
    """A Space as a message shows it: where it leads and what state it is in now."""

    url: str
    title: str
    state: str  # "live", "scheduled", "ended" or "cancelled"
    host_name: str
    host_username: str
    listeners: int
    # When it starts (scheduled), started (live) or ended (ended, cancelled).
    when: datetime | None = None


SharedSpacesHook = Callable[["User", Collection[int]], Mapping[int, SharedSpace]]

shared_spaces: Hook[SharedSpacesHook] = Hook("accounts.shared_spaces")
