"""Where a media worker writes a live Space's HLS: `live/<space>-<token>/` in the recordings
storage, which a static server or CDN serves to HLS listeners (`SPACES_HLS_URL`).

`LiveFolder` is the `media.live.LiveSink` of one Space; the writer calls it on its own thread.
Files are written whole (spaces_project/storage.py) and readable by the static server; the
folder is deleted after the Space ends (`spaces.services.listening.live_sweep`).
"""

from __future__ import annotations

from spaces.models import live_prefix
from spaces_project import storage


class LiveFolder:
    def __init__(self, space_id: int) -> None:
        self.prefix = live_prefix(space_id)
        self.storage = storage.live()

    def write(self, name: str, data: bytes) -> None:
        storage.put(self.storage, f"{self.prefix}/{name}", data, public=True)

    def read(self, name: str) -> bytes | None:
        try:
            return storage.get(self.storage, f"{self.prefix}/{name}")
        except OSError:  # FileNotFoundError: the first origin of this Space
            return None

    def delete(self, name: str) -> None:
        self.storage.delete(f"{self.prefix}/{name}")
