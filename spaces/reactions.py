"""Reaction taps reach the database before they are acknowledged, in group commits.

A tap that was acknowledged must survive anything short of losing the database. Counting taps in
the cache and flushing them later lost 29 of 30 acknowledged taps when Redis restarted (it keeps
nothing on disk). Yet a statement per tap would make a crowd's taps queue on one row. So taps are
group-committed, as a database commits its own log: a tap joins the batch being gathered; when no
write is in flight, whoever holds the oldest gathered batch writes it (one upsert for every Space
and emoji in it) while the next batch gathers behind. Idle, a tap costs one small statement;
with N taps in flight, one statement carries them all, and nobody waits longer than two writes.

Inside a transaction (a service composing a tap with other work, and the test suite) the tap is
written with that transaction instead: a batch must never commit or roll back with a stranger's
transaction.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import connection, models, transaction

from spaces.models import ReactionBucket, ReactionCount

# How long a tap waits for its batch before giving up (a database that stopped answering).
WAIT_SECONDS = 30.0


@dataclass(eq=False)
class _Batch:
    counts: Counter[tuple[int, str]] = field(default_factory=Counter)
    finished: bool = False
    error: BaseException | None = None


class TapLedger:
    """One per process: at most one batch in flight and one gathering (module docstring)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._gathering: _Batch | None = None
        self._writing = False

    def record(self, space_id: int, code: str) -> None:
        """Return once this tap is committed; raise what the write raised if it failed."""
        if connection.in_atomic_block:
            upsert_counts({(space_id, code): 1})
            return
        with self._cond:
            batch = self._gathering or _Batch()
            self._gathering = batch
            batch.counts[(space_id, code)] += 1
            lead = self._cond.wait_for(
                lambda: batch.finished or (not self._writing and self._gathering is batch),
                timeout=WAIT_SECONDS,
            )
            if not lead:
                raise TimeoutError("reaction taps: the database did not answer in time")
            if not batch.finished:
                self._writing = True
                self._gathering = None
        if not batch.finished:
            self._write(batch)
        if batch.error is not None:
            raise batch.error

    def _write(self, batch: _Batch) -> None:
        try:
            upsert_counts(batch.counts)
        except BaseException as error:  # every tap of the batch learns it was not counted
            batch.error = error
        finally:
            with self._cond:
                batch.finished = True
                self._writing = False
                self._cond.notify_all()


def upsert_counts(counts: Counter[tuple[int, str]] | dict[tuple[int, str], int]) -> None:
    """Add `counts` ((space id, code) -> taps) to ReactionCount and ReactionBucket, one
    statement each. Rows go in key order, so two processes' batches lock rows in the same
    order."""
    if not counts:
        return
    rows = sorted(counts.items())
    # The replay's reactions timeline counts the same taps by 10-second window, in the same
    # transaction: both tables agree on every tap.
    window = ReactionBucket.SECONDS
    at = connection.ops.adapt_datetimefield_value(
        datetime.fromtimestamp(time.time() // window * window, UTC)
    )
    with transaction.atomic(), connection.cursor() as cursor:
        _upsert(cursor, ReactionCount, ("space", "code"), [(s, c, n) for (s, c), n in rows])
        _upsert(
            cursor, ReactionBucket, ("space", "at", "code"), [(s, at, c, n) for (s, c), n in rows]
        )


def _upsert(
    cursor: Any, model: type[models.Model], key: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE count = count + excluded.count: the ORM's upsert
    can only overwrite a column, and this SQL is both PostgreSQL's and SQLite's."""
    q = connection.ops.quote_name
    table = q(model._meta.db_table)
    columns = {f.name: str(f.column) for f in model._meta.concrete_fields}
    keys = [q(columns[f]) for f in key]
    count = q(columns["count"])
    values = ", ".join(["(" + ", ".join(["%s"] * (len(key) + 1)) + ")"] * len(rows))
    params = [value for row in rows for value in row]
    cursor.execute(
        f"INSERT INTO {table} ({', '.join(keys)}, {count}) VALUES {values} "
        f"ON CONFLICT ({', '.join(keys)}) "
        f"DO UPDATE SET {count} = {table}.{count} + excluded.{count}",
        params,
    )


ledger = TapLedger()
