"""The media loop never imports Django (it runs in the ASGI process and in its own worker)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_media_package_imports_without_django() -> None:
    code = (
        "import sys, media.worker, media.client, media.ice, media.origin, media.fanout; "
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "[]"
