"""`manage.py media_worker`: one media worker process, the distributed shape (media_process).

Needs REDIS_URL (registry, placements and the channel layer) and the database. Run any number,
each with its own MEDIA_WORKER_ID (default: <hostname>-<pid>) and the addresses clients can reach
it on (MEDIA_HOST_ADDRESSES); the ASGI processes run with MEDIA_EMBEDDED=0. SIGTERM or SIGINT
stops it cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from spaces.audio import bridge
from spaces.audio.process import serve_forever

WORKER_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def default_worker_id() -> str:
    configured = str(settings.MEDIA_WORKER_ID)
    if configured and configured != "embedded":
        return configured
    return f"{socket.gethostname()}-{os.getpid()}"


class Command(BaseCommand):
    help = "Serve Spaces' audio as one media worker process (distributed shape)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--id", dest="worker_id", help="worker id (default MEDIA_WORKER_ID)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.REDIS_URL:
            raise CommandError("media_worker needs REDIS_URL (the registry and channel layer).")
        worker_id = options.get("worker_id") or default_worker_id()
        if not WORKER_ID.match(worker_id):
            raise CommandError("A worker id is 1-64 letters, digits, '.', '_' or '-'.")
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        # This process hears room events through the layer only: not also through the in-process
        # listener the embedded shape installs (that would apply each event twice).
        bridge.uninstall()
        asyncio.run(self._main(worker_id))

    async def _main(self, worker_id: str) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        self.stdout.write(f"media worker {worker_id} starting", ending="\n")
        self.stdout.flush()
        await serve_forever(worker_id, bridge.bridge, stop)
