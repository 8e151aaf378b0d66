"""The reminders backlog for /metrics (registered in scheduling/apps.py).

Notifications owed (`Delivery` rows, services/delivery.py) that are due and still pending: the
sweep sends them within a beat interval, so a count that stays up, or an oldest age of more than
a minute or two, says the sweep is not running (no beat, no worker) or cannot keep up.
"""

from __future__ import annotations

from django.db.models import Count, Min
from django.utils import timezone

from scheduling.models import Delivery
from spaces_project.metrics import Backlog


def reminders_backlog() -> Backlog:
    now = timezone.now()
    found = Delivery.objects.filter(
        state=Delivery.State.PENDING, next_attempt_at__lte=now
    ).aggregate(n=Count("id"), oldest=Min("due_at"))
    oldest = found["oldest"]
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return Backlog(count=int(found["n"] or 0), oldest_seconds=age)
