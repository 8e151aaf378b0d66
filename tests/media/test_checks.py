"""`manage.py check` refuses a captions engine that cannot be found."""

from __future__ import annotations

from media.checks import check_captions_engine


def test_the_default_engine_passes(settings):
    settings.CAPTIONS_ENGINE = "pocketsphinx"
    assert check_captions_engine() == []


def test_an_unknown_engine_is_an_error_naming_it(settings):
    settings.CAPTIONS_ENGINE = "pocketsfinx"
    (error,) = check_captions_engine()
    assert error.id == "media.E001"
    assert "pocketsfinx" in error.msg


def test_an_engine_that_cannot_be_imported_is_an_error(settings):
    settings.CAPTIONS_ENGINE = "no_such_module_here:Engine"
    (error,) = check_captions_engine()
    assert error.id == "media.E001"
    assert "cannot be imported" in error.msg
