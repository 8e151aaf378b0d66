"""What higher apps plug into scheduling (spaces_project/hooks.py explains the pattern).

`space_cancelled`: run as `hook(space, reason)` whenever a scheduled Space is cancelled by its
host (`reason="host"`) or expires (`"expired"`). Ticketing registers its refunds here from its
AppConfig.

A hook runs in exactly one place, `scheduling.services._withdraw`, inside the cancelling
transaction with the Space row locked, once per Space (the state check under that lock makes a
second cancel or expiry a no-op). It may write rows (refund records) in that transaction;
anything that talks to the outside world (a payment provider) must leave through
`transaction.on_commit` or a Celery task. An exception rolls the cancel back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from spaces_project.hooks import Hook

if TYPE_CHECKING:
    from spaces.models import Space

CancelHook = Callable[["Space", str], None]

space_cancelled: Hook[CancelHook] = Hook("scheduling.space_cancelled")
