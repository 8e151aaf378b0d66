"""Reads of scheduled Spaces. Each list is one query per page whatever its length (pinned in
tests/scheduling/test_selectors.py): the host, the schedule, the number of reminders and
whether the viewer set one all come in the same SELECT.

Lists hide Spaces whose host blocked the viewer or whom the viewer blocked, like the live lists.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Exists, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from accounts.models import Follow, User
from accounts.selectors import blocks
from scheduling import hooks
from scheduling.models import Reminder
from spaces.models import Space
from spaces.selectors import spaces_visible_to
from spaces_project.errors import Forbidden, NotFound


def with_reminders(qs: QuerySet[Space], *, viewer: User) -> QuerySet[Space]:
    """Adds `reminder_count` and `has_reminder` (the viewer's) as subqueries, and the host and
    the schedule as joins: no query per row."""
    count = (
        Reminder.objects.filter(space=OuterRef("pk"))
        .order_by()
        .values("space")
        .annotate(n=Count("*"))
        .values("n")
    )
    return qs.select_related("host", "schedule").annotate(
        reminder_count=Coalesce(Subquery(count, output_field=IntegerField()), Value(0)),
        has_reminder=Exists(Reminder.objects.filter(space=OuterRef("pk"), user=viewer)),
    )


def _upcoming(viewer: User) -> QuerySet[Space]:
    return spaces_visible_to(Space.objects.filter(state=Space.State.SCHEDULED), viewer)


def scheduled_list_following(*, viewer: User) -> QuerySet[Space]:
    """Upcoming Spaces hosted by people the viewer follows, soonest first."""
    followed = Follow.objects.filter(follower=viewer).values("followee_id")
    qs = _upcoming(viewer).filter(host__in=followed)
    return with_reminders(qs, viewer=viewer).order_by("scheduled_for", "id")


def scheduled_list_for_host(*, viewer: User, host: User) -> QuerySet[Space]:
    """A host's upcoming Spaces, soonest first (none if either blocked the other)."""
    qs = _upcoming(viewer).filter(host=host)
    return with_reminders(qs, viewer=viewer).order_by("scheduled_for", "id")


def scheduled_detail(*, viewer: User, space_id: int) -> Space:
    """One Space that was scheduled, in any state since (so a client sees it went live or was
    cancelled). 404 for an unknown Space or one started without a schedule; 403 `blocked`
    when the host blocked the viewer. One query."""
    qs = Space.objects.filter(pk=space_id, scheduled_for__isnull=False)
    space = (
        with_reminders(qs, viewer=viewer)
        .annotate(viewer_blocked=Exists(blocks(blocker=OuterRef("host"), blocked=viewer)))
        .first()
    )
    if space is None:
        raise NotFound(_("No such scheduled Space."), code="space_not_found")
    if space.viewer_blocked and space.host_id != viewer.pk:
        raise Forbidden(_("The host has blocked you."), code="blocked")
    return space


def cancel_reason_of(space: Space) -> str | None:
    """`host` or `expired` for a cancelled Space (the schedule was joined by the selectors)."""
    if space.state != Space.State.CANCELLED:
        return None
    schedule = getattr(space, "schedule", None)
    return (schedule.cancel_reason or None) if schedule is not None else None


def host_may_sell_tickets(host: User) -> bool:
    """Whether the schedule form offers its "Sell tickets" section: ticketing is there (its
    hook is registered) and `host` has SPACES_TICKETED_MIN_FOLLOWERS followers, the bound
    ticketing's `ticket_offer_open` enforces (it refuses with `not_enough_followers_to_sell`)."""
    if not len(hooks.ticket_offer_open):
        return False
    followers = Follow.objects.filter(followee_id=host.pk).count()
    return followers >= settings.SPACES_TICKETED_MIN_FOLLOWERS


def reminder_holder_ids(*, space_id: int) -> QuerySet[Reminder, int]:
    """Who holds a reminder for the Space, as a subquery: registered on spaces/hooks.py
    `live_notified_elsewhere`, since holders get scheduling's own "live now" (Delivery `live`)
    and the followers' go-live alert (alerts/) leaves them out."""
    return Reminder.objects.filter(space_id=space_id).values_list("user_id", flat=True)
