"""The translation catalogs as committed: each compiled .mo says what its .po says, and the
Spanish ones are complete (no empty or fuzzy translation, the same placeholders as the English).

`make messages` refreshes the .po files and compiles the .mo files; a .po edited without
compiling fails here, as does a new string left untranslated.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
# The project catalog (templates, spaces_project, static/js) and every app's.
CATALOGS = sorted(
    path
    for pattern in ("locale/*/LC_MESSAGES/*.po", "*/locale/*/LC_MESSAGES/*.po")
    for path in ROOT.glob(pattern)
    if ".venv" not in path.parts and "node_modules" not in path.parts
)
SPANISH = [path for path in CATALOGS if path.parent.parent.name == "es"]
PROJECT_SPANISH = ROOT / "locale" / "es" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%[sd]")


def _po(path: Path):
    with path.open("rb") as file:
        return read_po(file)


def _messages(catalog) -> dict[object, object]:
    """id -> translation for what a compiled catalog holds: translated, not fuzzy."""
    found = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        strings = (
            tuple(message.string) if isinstance(message.string, list | tuple) else (message.string,)
        )
        if not all(strings):
            continue
        key = tuple(message.id) if isinstance(message.id, list | tuple) else message.id
        found[key] = tuple(strings) if len(strings) > 1 else strings[0]
    return found


def test_there_is_a_spanish_catalog_for_the_templates_and_the_scripts() -> None:
    assert (PROJECT_SPANISH / "django.po").exists()
    assert (PROJECT_SPANISH / "djangojs.po").exists()


@pytest.mark.parametrize("po", CATALOGS, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_compiled_catalog_says_what_the_po_says(po: Path) -> None:
    mo = po.with_suffix(".mo")
    assert mo.exists(), f"{mo.relative_to(ROOT)} is missing: run `make messages`"
    with mo.open("rb") as file:
        compiled = _messages(read_mo(file))
    assert compiled == _messages(_po(po)), (
        f"{mo.relative_to(ROOT)} is behind its .po: run `make messages`"
    )


@pytest.mark.parametrize("po", SPANISH, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_spanish_message_is_translated_and_not_fuzzy(po: Path) -> None:
    left = []
    for message in _po(po):
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, list | tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            left.append(message.id)
    assert not left, f"{po.relative_to(ROOT)}: untranslated or fuzzy: {left}"


@pytest.mark.parametrize("po", SPANISH, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_translation_keeps_the_placeholders_of_its_message(po: Path) -> None:
    wrong = []
    for message in _po(po):
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, list | tuple) else (message.id,)
        strings = message.string if isinstance(message.string, list | tuple) else (message.string,)
        wanted = set(PLACEHOLDER.findall(ids[-1])) | set(PLACEHOLDER.findall(ids[0]))
        for string in strings:
            found = set(PLACEHOLDER.findall(string))
            # A plural's singular may drop the count ("un seguidor"); nothing else may vanish,
            # and nothing may be added.
            if string and (found - wanted or (len(strings) == 1 and found != wanted)):
                wrong.append((message.id, string))
    assert not wrong, f"{po.relative_to(ROOT)}: placeholders differ: {wrong}"


def test_the_checks_catch_a_stale_mo_and_an_empty_translation(tmp_path: Path) -> None:
    """The comparisons above can fail: a .po changed after compiling, and an empty msgstr."""
    from babel.messages.mofile import write_mo

    catalog = _po(PROJECT_SPANISH / "django.po")
    mo = tmp_path / "django.mo"
    with mo.open("wb") as file:
        write_mo(file, catalog)
    with mo.open("rb") as file:
        assert _messages(read_mo(file)) == _messages(catalog)

    changed = next(message for message in catalog if message.id == "Log in")
    changed.string = "Entrar"
    with mo.open("rb") as file:
        assert _messages(read_mo(file)) != _messages(catalog)

    changed.string = ""
    assert "Log in" not in _messages(catalog)
