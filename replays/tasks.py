"""Celery entry points for replays. Thin: the work lives in replays/services.py.

`recording_sweep` runs every SPACES_RECORDING_SWEEP_SECONDS (CELERY_BEAT_SCHEDULE; the in-process
ticker in the embedded shape): it finalizes recordings whose origin died and deletes replays
and clips past the retention period. Runs may overlap or repeat: each step re-checks under a row
lock.

`replay_audio_build` is queued after a published replay is made (services.recording_finalize):
its podcast audio. Twice is harmless: it stores the same bytes again.
"""

from __future__ import annotations

from celery import shared_task

from replays import services


@shared_task(name="replays.tasks.recording_sweep", ignore_result=True)
def recording_sweep() -> dict[str, int]:
    return services.recording_sweep()


@shared_task(name="replays.tasks.replay_audio_build", ignore_result=True)
def replay_audio_build(space_id: int) -> None:
    services.replay_audio_build(space_id=space_id)
