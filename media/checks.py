"""System checks: a misspelt ``CAPTIONS_ENGINE`` fails `manage.py check` (and the deploy)
instead of leaving captions silent in production with only a log line."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Warning

from media import denoise
from media.captions.engine import EngineUnavailable, configured_engine_name, engine_factory


def check_captions_engine(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    name = configured_engine_name()
    try:
        engine_factory(name)
    except EngineUnavailable as exc:
        return [
            Error(
                str(exc),
                hint="Set CAPTIONS_ENGINE to one of the names in media/captions/engine.py "
                "(ENGINES) or to 'package.module:Factory'.",
                id="media.E001",
            )
        ]
    return []


def check_noise_suppression(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Without the suppressor library a host's noise-suppression switch does nothing: say so
    at deploy time, not only in the media worker's log."""
    if denoise.backend() is None:
        return [
            Warning(
                f"Noise suppression is unavailable: the {denoise.PACKAGE!r} package "
                "(RNNoise) is not installed, so the Spaces' noise-suppression switch has no "
                "effect.",
                hint="pip install -r requirements.txt",
                id="media.W001",
            )
        ]
    return []
