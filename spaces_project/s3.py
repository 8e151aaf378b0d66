"""The recordings storage on S3-compatible object storage (django-storages), with the headers a
CDN in front of the bucket caches live HLS by.

Its own module so that boto3 is imported only by a deployment that names a bucket
(`SPACES_RECORDINGS_S3_BUCKET`, spaces_project/settings.py).
"""

from __future__ import annotations

from typing import Any

from storages.backends.s3 import S3Storage

from spaces_project.storage import live_file_headers


class RecordingsS3Storage(S3Storage):
    def get_object_parameters(self, name: str) -> dict[str, Any]:
        params: dict[str, Any] = super().get_object_parameters(name)
        headers = live_file_headers(name)
        if headers is not None:
            params["ContentType"], params["CacheControl"] = headers
        return params
