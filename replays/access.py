"""Who may hear a Space after the fact: its replay, its clips, their files.

The same people who could enter it: not someone the host blocked (they see nothing: 404, as if
it did not exist), and for a ticketed Space only those its entry rules admit (the host, the
stage, invited guests, ticket holders: `spaces.hooks.entry_admits`, which ticketing fills).
"""

from __future__ import annotations

from accounts.models import User
from accounts.selectors import is_blocked
from spaces.hooks import entry_admits
from spaces.models import Participant, Space
from spaces_project.errors import Forbidden, NotAuthenticated, NotFound


def replay_access(*, viewer: User | None, space: Space) -> None:
    """Raise unless ``viewer`` may hear ``space`` after the fact."""
    if viewer is None or not viewer.is_authenticated:
        raise NotAuthenticated("Sign in to listen.", code="not_authenticated")
    if space.host_id != viewer.pk and is_blocked(blocker_id=space.host_id, blocked_id=viewer.pk):
        raise NotFound("No such Space.", code="space_not_found")
    if space.is_ticketed and space.host_id != viewer.pk:
        participant = Participant.objects.filter(space=space, user=viewer).first()
        if not entry_admits(user=viewer, space=space, participant=participant):
            raise Forbidden(
                "This Space was ticketed: its replay is for ticket holders.",
                code="ticket_required",
            )
