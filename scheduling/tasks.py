"""Celery entry points for scheduling. Thin: the work and its exactly-once argument live in
scheduling/services/delivery.py.

`scheduling_sweep` runs every SPACES_SCHEDULING_SWEEP_SECONDS (CELERY_BEAT_SCHEDULE; the
in-process ticker in the embedded shape) and is also queued right after a Space goes live, moves
or is cancelled. Any number of runs may overlap, and a run may be delivered twice (acks_late):
each batch claims its rows under SKIP LOCKED and marks them sent in the same transaction, so
overlapping or repeated runs share the work and never send a row twice.
"""

from __future__ import annotations

from celery import shared_task

from scheduling import services


@shared_task(name="scheduling.tasks.scheduling_sweep", ignore_result=True)
def scheduling_sweep() -> dict[str, int]:
    return services.scheduling_sweep()
