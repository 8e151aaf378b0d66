"""Who may hear a Space after the fact: its replay, its clips, their files.

The same people who could enter it: not someone the host blocked (they see nothing: 404, as if
it did not exist), and for a ticketed Space only those its entry rules admit (the host, the
stage, invited guests, ticket holders: `spaces.hooks.entry_admits`, which ticketing fills).

One exception, the host's own choice: a host who turned their podcast feed on publishes the
replays of their public (never ticketed) Spaces, whose single-file audio podcast apps then fetch
without an account. Signed in, everyone still goes through the rule above (a block still hides).
"""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.selectors import is_blocked
from replays.models import PodcastFeed
from spaces.hooks import entry_admits
from spaces.models import Participant, Space
from spaces_project.errors import Forbidden, NotAuthenticated, NotFound


def replay_access(*, viewer: User | None, space: Space) -> None:
    """Raise unless ``viewer`` may hear ``space`` after the fact."""
    if viewer is None or not viewer.is_authenticated:
        raise NotAuthenticated(_("Sign in to listen."), code="not_authenticated")
    if space.host_id != viewer.pk and is_blocked(blocker_id=space.host_id, blocked_id=viewer.pk):
        raise NotFound(_("No such Space."), code="space_not_found")
    if space.is_ticketed and space.host_id != viewer.pk:
        participant = Participant.objects.filter(space=space, user=viewer).first()
        if not entry_admits(user=viewer, space=space, participant=participant):
            raise Forbidden(
                _("This Space was ticketed: its replay is for ticket holders."),
                code="ticket_required",
            )


def podcast_owner_q(user: User | int) -> Q:
    """The Spaces whose replays belong in ``user``'s podcast: those they started (a co-host who
    took over does not carry the show away to their own feed), as `Recording` filters."""
    pk = user if isinstance(user, int) else user.pk
    return Q(space__original_host_id=pk) | Q(space__original_host__isnull=True, space__host_id=pk)


def podcast_publishes(space: Space) -> bool:
    """The Space's replay is in its host's podcast: a public Space (never a ticketed one) of an
    active host (a banned one publishes nothing) whose feed is on."""
    if space.is_ticketed:
        return False
    owner = space.original_host_id_or_host
    return PodcastFeed.objects.filter(user_id=owner, enabled=True, user__is_active=True).exists()


def replay_audio_access(*, viewer: User | None, space: Space) -> None:
    """Raise unless ``viewer`` may fetch the replay's single-file audio: as the replay, and
    signed out too when its host publishes it as a podcast."""
    if (viewer is None or not viewer.is_authenticated) and podcast_publishes(space):
        return
    replay_access(viewer=viewer, space=space)
