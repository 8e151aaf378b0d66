"""Database work from sockets: `socket_db`, Channels' `database_sync_to_async` on a thread pool of
the sockets' own.

Channels' default runs every sync call of the process on one shared thread, behind the HTTP views
and the auth middleware: a crowd opening sockets at once (a popular Space going live) then queues
there past Daphne's 5 s handshake timeout. On PostgreSQL socket work gets its own pool
(`SPACES_WS_DB_THREADS`, default 8; psycopg's pool serves them). On SQLite it stays on the shared
thread (0): SQLite serialises writers anyway, and the in-memory test database fails at once
("table is locked") rather than wait when two threads meet there.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.conf import settings
from django.db import connections

_db_pool: ThreadPoolExecutor | None = None
_db_pool_lock = threading.Lock()
R = TypeVar("R")


def _socket_db_pool() -> ThreadPoolExecutor | None:
    global _db_pool
    with _db_pool_lock:
        if _db_pool is None:
            postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
            workers = int(getattr(settings, "SPACES_WS_DB_THREADS", -1))
            if workers < 0:
                workers = 8 if postgres else 0
            if workers == 0:
                return None
            _db_pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spaces-ws-db")
        return _db_pool


def socket_db(fn: Callable[..., R]) -> Callable[..., Coroutine[Any, Any, R]]:
    """`database_sync_to_async`, on the sockets' own thread pool (module docstring). Each call
    still closes stale connections before and after."""
    from channels.db import DatabaseSyncToAsync

    def in_pool_thread(*args: Any, **kwargs: Any) -> R:
        try:
            return fn(*args, **kwargs)
        finally:
            # Hand the connection back to psycopg's pool now: an idle pool thread must not
            # hold one (the pool would run dry, and a database could not be dropped).
            connections.close_all()

    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> R:
        pool = _socket_db_pool()
        if pool is None:
            runner = DatabaseSyncToAsync(fn)
        else:
            runner = DatabaseSyncToAsync(in_pool_thread, thread_sensitive=False, executor=pool)
        result: R = await runner(*args, **kwargs)
        return result

    return call
