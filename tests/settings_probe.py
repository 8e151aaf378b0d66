"""What spaces_project/settings.py derives from an environment, without touching the running
test settings: the module is executed afresh under exactly the given variables.

`readme_production_env()` reads the README's "Production values" block, so a test of those
values follows the README rather than a copy of it.
"""

from __future__ import annotations

import os
import re
import runpy
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent


def settings_under(env: dict[str, str]) -> dict[str, Any]:
    """The settings module's names, evaluated with `env` as the whole environment."""
    with mock.patch.dict(os.environ, env, clear=True):
        return runpy.run_path(str(ROOT / "spaces_project" / "settings.py"))


def readme_production_env() -> dict[str, str]:
    """The variables of the README's production block (placeholders filled in)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Production values", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    env: dict[str, str] = {}
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.+)", line)
        if match:
            env[match[1]] = match[2]
    assert "DJANGO_SECRET_KEY" in env, "the README's production block has no DJANGO_SECRET_KEY"
    # A placeholder such as <50+ random characters> becomes a value of that kind.
    env["DJANGO_SECRET_KEY"] = "x7!Qm2#pL9@vR4$tZ8%wK1^nB6&cH3*jD5(fG0)sA-yU+eI=oP_" * 2
    if "WEBPUSH_VAPID_PRIVATE_KEY" in env:  # a P-256 private key of the test's, raw base64url
        env["WEBPUSH_VAPID_PRIVATE_KEY"] = "2UGBhT3XF0xJSHhnSOSRy-y40bjSh0kN9K7rK4wkd6Y"
    return env
