"""System checks: a misspelt ``CAPTIONS_ENGINE`` fails `manage.py check` (and the deploy)
instead of leaving captions silent in production with only a log line."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error

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
