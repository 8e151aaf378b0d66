"""Demo tickets: Ada's scheduled Space on sale, so that `make run` shows ticketing end to end
with the offline provider, and Grace (her guest) sharing it with Linus by direct message, so
that his inbox shows a Space as a card. Runs after `seed_demo` (the people, their followers and
their conversations; the accounts app cannot know about Spaces or tickets, it sits below them).

Idempotent: while one of Ada's ticketed Spaces is on sale, a second run changes nothing; once it
has started, ended or lapsed, the next run schedules a new one (and Grace shares that one).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import DirectMessage, User
from spaces.models import Space
from spaces.services import space_share
from spaces_project.errors import ApplicationError
from ticketing import services
from ticketing.models import TicketOffer

HOST = "ada"
GUESTS = ["grace"]
TITLE = "Poetical science: the Notes, line by line"
TOPICS = ["History", "Computing"]
PRICE = 500  # minor units of TICKET_CURRENCY
CAPACITY = 100
DAYS_AHEAD = 3
# Who shares the Space on sale, with whom, in what words (the share menu's service).
SHARER, SHARED_WITH = "grace", "linus"
SHARE_WORDS = "Ada is going through the Notes line by line and I'm her guest. Come with questions!"


class Command(BaseCommand):
    help = "Put a demo host's scheduled Space on sale (after seed_demo). Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        host = User.objects.filter(username=HOST).first()
        if host is None:
            raise CommandError(f"No user {HOST!r}: run `manage.py seed_demo` first.")
        now = timezone.now()
        on_sale = (
            TicketOffer.objects.filter(
                space__host=host,
                space__state=Space.State.SCHEDULED,
                space__scheduled_for__gt=now + timedelta(hours=1),
            )
            .select_related("space")
            .first()
        )
        if on_sale is None:
            start = (now + timedelta(days=DAYS_AHEAD)).replace(
                hour=18, minute=0, second=0, microsecond=0
            )
            try:
                space = services.ticketed_space_create(
                    host=host,
                    title=TITLE,
                    topics=TOPICS,
                    scheduled_for=start,
                    price=PRICE,
                    capacity=CAPACITY,
                    currency=settings.TICKET_CURRENCY,
                    guests=GUESTS,
                )
            except ApplicationError as error:  # e.g. a higher follower bar set in the environment
                self.stderr.write(f"  no ticketed demo Space: {error.message}")
                return
        else:
            space = on_sale.space
        self._share(space)
        self.stdout.write(
            f"  Ticketed Space on sale: “{space.title}” by {HOST}, "
            f"/spaces/{space.pk}/tickets/ (pay with the offline provider)"
        )

    def _share(self, space: Space) -> None:
        sharer = User.objects.filter(username=SHARER).first()
        friend = User.objects.filter(username=SHARED_WITH).first()
        if sharer is None or friend is None:
            return
        shared = DirectMessage.objects.filter(
            sender=sharer, recipient=friend, attachment__space_id=space.pk
        )
        if shared.exists():
            return
        try:
            result = space_share(
                user=sharer, space_id=space.pk, user_ids=[friend.pk], message=SHARE_WORDS
            )
        except ApplicationError as error:
            self.stderr.write(f"  {SHARER} did not share the Space: {error.message}")
            return
        if result.skipped_user_ids:  # e.g. a block made while demoing
            self.stderr.write(f"  {SHARER} could not share the Space with {SHARED_WITH}")
