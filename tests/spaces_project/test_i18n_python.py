"""The apps' own Spanish catalogs (`<app>/locale/es/`): the Python strings each app marks.

Every app that marks a string has its catalog, each translation keeps the placeholders of its
source (`%(count)s`, and `{count}` for `format_lazy`), and each catalog is current: xgettext,
run over the app the way `make messages` runs it, finds no marked string the catalog lacks.
That check needs GNU gettext (`apt-get install gettext`): it skips without it on a person's
machine and fails with CI=true. test_i18n_catalogs.py checks every catalog is complete and
compiled.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
# Every installed app that marks strings in its Python files. spaces_project is not an app: its
# strings are in the project catalog (locale/), with the templates'.
APPS = ["accounts", "spaces", "scheduling", "ticketing", "replays", "alerts", "webpush"]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# The keywords `manage.py makemessages` hands xgettext for Python files.
KEYWORDS = [
    "--keyword=gettext_noop",
    "--keyword=gettext_lazy",
    "--keyword=ngettext_lazy:1,2",
    "--keyword=pgettext:1c,2",
    "--keyword=npgettext:1c,2,3",
    "--keyword=pgettext_lazy:1c,2",
    "--keyword=npgettext_lazy:1c,2,3",
]
PERCENT = re.compile(r"%\((\w+)\)[sdr]")
BRACES = re.compile(r"\{(\w*)\}")


def _po(app: str) -> Path:
    return ROOT / app / "locale" / "es" / "LC_MESSAGES" / "django.po"


def _catalog(app: str) -> Catalog:
    with _po(app).open("rb") as handle:
        return read_po(handle, locale="es")


def _entries(app: str) -> list[Message]:
    return [message for message in _catalog(app) if message.id]


def _forms(message: Message) -> list[str]:
    string = message.string
    return list(string) if isinstance(string, (list, tuple)) else [string]


def _ids(message: Message) -> list[str]:
    return list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]


@pytest.mark.parametrize("app", APPS)
def test_each_app_has_a_spanish_catalog(app: str) -> None:
    assert _po(app).exists(), f"{app}: run `make messages`"
    assert _po(app).with_suffix(".mo").exists(), f"{app}: run `make messages` (compile)"


@pytest.mark.parametrize("app", APPS)
def test_every_translation_keeps_the_placeholders_of_its_source(app: str) -> None:
    wrong = []
    for message in _entries(app):
        source = " ".join(_ids(message))
        for pattern in (PERCENT, BRACES):
            wanted = set(pattern.findall(source))
            for form in _forms(message):
                if set(pattern.findall(form)) != wanted:
                    wrong.append((message.id, form))
    assert wrong == []


def _xgettext_ids(app: str) -> set[str]:
    files = sorted(
        str(path.relative_to(ROOT / app))
        for path in (ROOT / app).rglob("*.py")
        if "locale" not in path.parts
    )
    out = subprocess.run(
        ["xgettext", "--language=Python", "--from-code=UTF-8", *KEYWORDS, "--output=-", *files],
        cwd=ROOT / app,
        capture_output=True,
        check=True,
    ).stdout
    # A template's header has placeholders where a catalog has a charset and plural forms.
    out = out.replace(b"charset=CHARSET", b"charset=UTF-8")
    out = out.replace(b"nplurals=INTEGER; plural=EXPRESSION;", b"nplurals=2; plural=(n != 1);")
    pot = read_po(io.BytesIO(out))
    return {_ids(message)[0] for message in pot if message.id}


@pytest.mark.parametrize("app", APPS)
def test_the_catalog_holds_every_string_the_app_marks(app: str) -> None:
    if shutil.which("xgettext") is None:
        missing = "needs GNU gettext: apt-get install gettext"
        if IN_CI:
            pytest.fail(f"CI=true and this test {missing}", pytrace=False)
        pytest.skip(missing)
    in_catalog = {_ids(message)[0] for message in _entries(app)}
    assert sorted(_xgettext_ids(app) - in_catalog) == [], f"{app}: run `make messages`"
