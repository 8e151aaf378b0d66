"""Celery entry points for Web Push (thin; the work is in webpush/services.py)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import shared_task

from webpush import services


@shared_task(name="webpush.tasks.push_send_to_users", ignore_result=True)
def push_send_to_users(
    user_ids: list[int], payload: dict[str, Any], ttl: int = 3600, topic: str = ""
) -> dict[str, int]:
    """A push to these users' devices, off the request: a caller that has no task of its own
    queues this one (after commit)."""
    result = services.push_send_to_users(user_ids=user_ids, payload=payload, ttl=ttl, topic=topic)
    return asdict(result)
