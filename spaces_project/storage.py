"""The storage of recordings and clips: Django's storage API, whole files or none.

Embedded, files live under ``SPACES_RECORDINGS_ROOT`` (``MEDIA_ROOT/recordings``); with
``SPACES_RECORDINGS_S3_BUCKET`` set they go to S3-compatible storage through django-storages
(``spaces_project/settings.py``). Recordings are never public files: every read goes through a
view that checks who may hear them.

A segment written while its process is killed must never be mistaken for a whole one. S3 gives
that by itself (an object appears when its upload completes). On a file system a file is written
under a temporary name in the same directory and renamed over the real one (``os.replace`` is
atomic); a temporary file a crash leaves behind names no segment, and finalizing a recording
deletes every file its playlist does not name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages

TEMPORARY_SUFFIX = ".partial"

# Live HLS (media/live.py) as a static server or CDN must serve it: the playlist changes every
# second, a segment never changes once written. deploy/nginx/live-hls.conf says the same.
LIVE_PLAYLIST_HEADERS = ("application/vnd.apple.mpegurl", "no-cache")
LIVE_MEDIA_HEADERS = ("audio/mp4", "public, max-age=60, immutable")


def recordings() -> Storage:
    return storages["recordings"]


def put(storage: Storage, name: str, data: bytes, *, public: bool = False) -> None:
    """Store ``data`` as ``name``, replacing what was there, atomically. ``public``: a file a
    static server in front of the folder serves (live HLS), readable by its user on disk."""
    if isinstance(storage, FileSystemStorage):
        path = storage.path(name)
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=directory, suffix=TEMPORARY_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as file:
                if public:
                    os.fchmod(file.fileno(), 0o644)  # mkstemp makes it 0600
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            with _quiet():
                os.unlink(temporary)
            raise
        return
    # S3 and the like: an object exists once its upload completes; `file_overwrite` keeps the
    # name as given.
    if storage.exists(name):
        storage.delete(name)
    storage.save(name, ContentFile(data))


def live_file_headers(name: str) -> tuple[str, str] | None:
    """(Content-Type, Cache-Control) of a live HLS file by its storage name; None for any other
    file (recordings are never cached by a CDN: a view checks who may hear them)."""
    if not (name.startswith("live/") or "/live/" in name):
        return None
    if name.endswith(".m3u8"):
        return LIVE_PLAYLIST_HEADERS
    if name.endswith((".m4s", ".mp4")):
        return LIVE_MEDIA_HEADERS
    return None


def live() -> Storage:
    """Where live HLS is written: the recordings storage (a CDN reads its `live/` folder)."""
    return recordings()


def get(storage: Storage, name: str) -> bytes:
    with storage.open(name, "rb") as file:
        return bytes(file.read())


def walk(storage: Storage, prefix: str) -> Iterator[tuple[str, int]]:
    """Every file under ``prefix`` (recursively): (name, size)."""
    try:
        directories, files = storage.listdir(prefix)
    except FileNotFoundError:
        return
    for file in files:
        name = f"{prefix}/{file}"
        yield name, storage.size(name)
    for directory in directories:
        yield from walk(storage, f"{prefix}/{directory}")


def delete_tree(storage: Storage, prefix: str) -> int:
    """Delete every file under ``prefix``; the number deleted."""
    names = [name for name, _ in walk(storage, prefix)]
    for name in names:
        storage.delete(name)
    if isinstance(storage, FileSystemStorage):
        _remove_empty_directories(storage.path(prefix))
    return len(names)


def _remove_empty_directories(root: str) -> None:
    for directory, _, _ in sorted(os.walk(root), key=lambda w: -len(w[0])):
        with _quiet():
            os.rmdir(directory)


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)  # type: ignore[arg-type]
