"""Loading a Space for a user, with the lock order every service follows.

Lock order, everywhere: (the host's User row, only when starting a Space) → the Space row →
Participant rows in primary-key order. Every write to a Space's participants, requests,
invitations, pins and counters happens under that Space's row lock, so a check made under it
(stage capacity, "is this request still pending") holds until commit.

On PostgreSQL the Space row is locked `FOR NO KEY UPDATE`: it excludes other writers of the row
but not the `FOR KEY SHARE` locks that inserting rows which reference the Space take, so joins
and pins never wait on a foreign-key check. SQLite ignores row locks; its writers queue at
`BEGIN IMMEDIATE` (settings), which serialises the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, TypeVar

from django.db import models
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from accounts.models import User
from spaces.models import Participant, Space
from spaces_project.errors import NotFound

M = TypeVar("M", bound=models.Model)


class SpaceAccess(NamedTuple):
    space: Space
    participant: Participant | None


def lock_rows(qs: QuerySet[M]) -> QuerySet[M]:
    """The row lock services take: only the rows of `qs`'s own table, not joined ones.

    A module-level function so that the control test of tests/concurrency can switch it off
    and show the race it prevents."""
    return qs.select_for_update(no_key=True, of=("self",))


def access_space(*, user: User | None, space_id: int, lock: bool = False) -> SpaceAccess:
    """The Space `space_id` and `user`'s participant row in it (None if they never joined).

    404 (`space_not_found`) for an unknown Space. With `lock=True` the caller must be inside
    `transaction.atomic`; the Space row stays locked until it commits. Rules are not checked
    here but in `spaces.permissions`, which services and the detail's `can` share.
    """
    qs = Space.objects.filter(pk=space_id)
    qs = lock_rows(qs) if lock else qs.select_related("host")
    space = qs.first()
    if space is None:
        raise NotFound(_("No such Space."), code="space_not_found")
    participant = None
    if user is not None and user.is_authenticated:
        participant = (
            Participant.objects.filter(space=space, user=user).select_related("user").first()
        )
    return SpaceAccess(space, participant)


def lock_participants(*, space: Space, user_ids: Iterable[int]) -> dict[int, Participant]:
    """Lock the participant rows of `user_ids` in `space` in primary-key order.

    Caller already holds the Space lock (lock order). Users who never joined are missing
    from the result.
    """
    ids = sorted(set(user_ids))
    rows = lock_rows(
        Participant.objects.filter(space=space, user_id__in=ids).select_related("user")
    ).order_by("pk")
    return {p.user_id: p for p in rows}
