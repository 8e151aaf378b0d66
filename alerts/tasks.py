"""Celery entry points for go-live alerts. Thin: the work and its exactly-once argument live in
alerts/services.py.

`golive_fanout` writes chunks of one alert's inbox rows for a few seconds, then queues itself to
go on; `golive_chunk_send` sends one chunk's Web Push and e-mail; `golive_sweep` runs every
SPACES_GOLIVE_SWEEP_SECONDS (CELERY_BEAT_SCHEDULE; the in-process ticker in the embedded shape)
and resumes what a lost task left. Each may run twice or at once with a copy (acks_late): a
chunk locks its alert row and moves the cursor in the transaction that writes its rows, and a
send is claimed by a conditional update, so copies share the work and never repeat it.
"""

from __future__ import annotations

from celery import shared_task

from alerts import services


@shared_task(name="alerts.tasks.golive_fanout", ignore_result=True)
def golive_fanout(alert_id: int) -> int:
    return services.golive_fanout(alert_id=alert_id)


@shared_task(name="alerts.tasks.golive_chunk_send", ignore_result=True)
def golive_chunk_send(chunk_id: int) -> dict[str, int]:
    return services.golive_chunk_send(chunk_id=chunk_id)


@shared_task(name="alerts.tasks.golive_sweep", ignore_result=True)
def golive_sweep() -> dict[str, int]:
    return services.golive_sweep()
