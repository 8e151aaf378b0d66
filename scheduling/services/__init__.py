"""Scheduled Spaces and reminders: every write, one function per use case, re-exported here so
callers write `from scheduling import services; services.reminder_set(...)`.

The API, the site, the admin and the Celery sweep all call these. Each use case is one
`transaction.atomic` block; the Space row is locked (`FOR NO KEY UPDATE`, spaces/access.py) by
every change of a scheduled Space's state or time, after the host's User row where both are
taken (scheduling and starting), so the lock order is that of spaces/access.py.

- common.py: the checks, the locks, and the writers of `Delivery` rows (notifications owed)
- schedule.py: schedule, edit, cancel, start, expire
- reminders.py: set and remove a reminder
- delivery.py: the sweep that sends what is due, and why each notification reaches the inbox
  exactly once
"""

from scheduling.services.common import (
    HOLDER_KINDS,
    TIMED_KINDS,
    clean_scheduled_for,
    ensure_host,
    ensure_scheduled,
)
from scheduling.services.delivery import (
    RETRY_BASE_SECONDS,
    RETRY_MAX_SECONDS,
    BatchFailed,
    ClaimLost,
    SendResult,
    claim_rows,
    deliveries_retry,
    deliveries_send_due,
    mark_sent,
    message_for,
    scheduling_sweep,
)
from scheduling.services.reminders import reminder_set, reminder_unset
from scheduling.services.schedule import (
    scheduled_space_cancel,
    scheduled_space_create,
    scheduled_space_create_for_sale,
    scheduled_space_start,
    scheduled_space_update,
    scheduled_spaces_expire,
)

__all__ = [
    "HOLDER_KINDS",
    "RETRY_BASE_SECONDS",
    "RETRY_MAX_SECONDS",
    "TIMED_KINDS",
    "BatchFailed",
    "ClaimLost",
    "SendResult",
    "claim_rows",
    "clean_scheduled_for",
    "deliveries_retry",
    "deliveries_send_due",
    "ensure_host",
    "ensure_scheduled",
    "mark_sent",
    "message_for",
    "reminder_set",
    "reminder_unset",
    "scheduled_space_cancel",
    "scheduled_space_create",
    "scheduled_space_create_for_sale",
    "scheduled_space_start",
    "scheduled_space_update",
    "scheduled_spaces_expire",
    "scheduling_sweep",
]
