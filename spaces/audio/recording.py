"""Where the media worker's recordings go: Django's `recordings` storage, and the domain told.

`StorageSink` is the `media.recording.RecordingSink` of one Space. The recorder calls it on its
writer thread, never on the media loop: files go to ``spaces/<space id>/<part>/`` in the
`recordings` storage (spaces_project/storage.py: whole files or none), the first stored segment
creates the Space's `Recording` (`recording.started`), and a closed part lets `replays` turn the
recording of an ended Space into a replay.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.db import close_old_connections, connection

from media.recording import PartSummary
from spaces import services
from spaces.models import recording_prefix
from spaces_project import storage

logger = logging.getLogger(__name__)


class StorageSink:
    def __init__(self, space_id: int) -> None:
        self.space_id = space_id
        self.prefix = recording_prefix(space_id)

    def write(self, part: str, name: str, data: bytes) -> None:
        storage.put(storage.recordings(), f"{self.prefix}/{part}/{name}", data)

    def started(self, part: str, wall_start: float) -> None:
        close_old_connections()
        try:
            services.recording_mark_started(
                space_id=self.space_id, started_at=datetime.fromtimestamp(wall_start, UTC)
            )
        except Exception:
            logger.exception("space %s: recording start not saved", self.space_id)

    def closed(self, summary: PartSummary) -> None:
        try:
            services.recording_part_closed(space_id=self.space_id)
        except Exception:
            logger.exception(
                "space %s: recording part %s not finalized", self.space_id, summary.name
            )
        finally:
            connection.close()  # the writer thread ends here: its connection must not leak
