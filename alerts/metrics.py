"""The go-live alerts backlog for /metrics (registered in alerts/apps.py).

`spaces_backlog{queue="golive_alerts"}`: fan-outs still running (`GoLiveAlert` RUNNING) plus
chunks whose push or e-mail is not sent yet (pending or sending); its age is the oldest of them.
Both queries stay on the partial indexes `golive_running` and `golive_chunk_unsent`. A fan-out
takes seconds; an age past SPACES_GOLIVE_STALL_SECONDS says the tasks stopped (the sweep then
resumes them) or cannot keep up with the followers.
"""

from __future__ import annotations

from django.db.models import Count, Min, Q
from django.utils import timezone

from alerts.models import GoLiveAlert, GoLiveChunk
from spaces_project.metrics import Backlog

UNSENT = ("pending", "sending")


def golive_backlog() -> Backlog:
    now = timezone.now()
    running = GoLiveAlert.objects.filter(status=GoLiveAlert.Status.RUNNING).aggregate(
        n=Count("id"), oldest=Min("created_at")
    )
    unsent = GoLiveChunk.objects.filter(
        Q(push_state__in=UNSENT) | Q(email_state__in=UNSENT)
    ).aggregate(n=Count("id"), oldest=Min("created_at"))
    oldest = min((t for t in (running["oldest"], unsent["oldest"]) if t is not None), default=None)
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return Backlog(count=int(running["n"] or 0) + int(unsent["n"] or 0), oldest_seconds=age)
