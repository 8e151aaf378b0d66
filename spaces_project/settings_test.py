"""Test settings: the same shape as the environment asks for, made fast and deterministic."""

import os
from typing import Any, cast

from .settings import *  # noqa: F403
from .settings import CACHES, CHANNEL_LAYERS, REST_FRAMEWORK

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Each test run gets its own cache namespace, so rate-limit counters of one run (or of a
# developer's server on the same Redis) never leak into another.
# The servers a test starts get the same namespace (tests/servers.py), as one deployment would.
CACHES["default"]["KEY_PREFIX"] = os.environ.get(
    "SPACES_CACHE_PREFIX", f"spaces-test-{os.getpid()}"
)
# Rate limits stay on but generous; the tests of the limits themselves lower them locally.
# (settings.py's literals are inferred as narrowly as their values; these are plain dicts.)
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    **cast(dict[str, str], REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]),
    "write": "10000/min",
}
# Likewise for channel-layer groups, unless a test hands one prefix to the servers it starts.
_channel_config = cast(dict[str, Any], CHANNEL_LAYERS["default"].get("CONFIG", {}))
if "prefix" in _channel_config:
    _channel_config["prefix"] = os.environ.get(
        "SPACES_CHANNEL_PREFIX", f"spaces-test-{os.getpid()}"
    )
# Serve static files straight from the app folders: no collectstatic before tests.
SERVESTATIC_AUTOREFRESH = True
# Importing asgi.py must not start sweeps against the test database; tests call them directly.
SPACES_TICKER = False
# Socket tests expect `media_unavailable` unless they install the media bridge themselves.
MEDIA_EMBEDDED = False
