"""Celery entry points for ticketing (thin; the work is in ticketing/services.py)."""

from __future__ import annotations

from celery import shared_task

from ticketing import services


@shared_task(name="ticketing.tasks.reservations_expire", ignore_result=True)
def reservations_expire() -> dict[str, int]:
    """Every minute (CELERY_BEAT_SCHEDULE): lapsed reservations, refunds still pending."""
    return {
        "expired": services.reservations_expire(),
        "refunded": services.refunds_retry_pending(),
    }
