"""Periodic work for Spaces (CELERY_BEAT_SCHEDULE; the in-process ticker in the embedded shape).

Every task re-reads the state it acts on, so a late, doubled or concurrent run is harmless.
"""

from __future__ import annotations

from celery import shared_task

from spaces.realtime.guests import guest_sweep
from spaces.realtime.presence import presence_sweep
from spaces.services.listening import live_sweep


@shared_task(name="spaces.tasks.presence_sweep", ignore_result=True)
def presence_sweep_task() -> int:
    # Guests have no heartbeat rows: their count's safety net runs with the same sweep.
    guest_sweep()
    return presence_sweep()


@shared_task(name="spaces.tasks.live_sweep", ignore_result=True)
def live_sweep_task() -> int:
    return live_sweep()
