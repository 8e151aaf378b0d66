"""The page scripts (static/js) show no English that escaped translation.

Not a JavaScript parser: a line-based check for the shapes our modules write text in, which a
new bare string would most likely take. Text between tags in an HTML template literal
(`>Leave</button>`), a shown attribute written out (`aria-label="Close"`), a text property set
to a literal (`el.textContent = "Copied"`), and a literal sentence handed to a function that
shows it (`toast("Link copied")`). Strings inside `gettext(...)`/`ngettext(...)` are marked
(static/js/i18n.js); the catalog is locale/<lang>/LC_MESSAGES/djangojs.po.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "static" / "js"
# A substitution in a template literal, one level of braces inside it.
SUBSTITUTION = re.compile(r"\$\{(?:[^{}]|\{[^{}]*\})*\}")
MARKED = re.compile(r"\b(?:gettext|ngettext)\((?:\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^()]*)")
WORDS = r"[^<>`\"']*[A-Za-z]{2,}[^<>`\"']*"
SHAPES = [
    # Not an arrow (`=>`) or a comparison: a tag's end, then words without code in them.
    (
        "text between tags",
        re.compile(r"(?<![=\-\s])>([^<>`\"'=&|;(){}]*[A-Za-z]{2,}[^<>`\"'=&|;(){}]*)<"),
    ),
    ("shown attribute", re.compile(rf"\b(?:aria-label|title|placeholder|alt)=\"({WORDS})\"")),
    (
        "text property",
        re.compile(rf"\.(?:textContent|placeholder|title|ariaLabel)\s*=\s*[\"'`]({WORDS})[\"'`]"),
    ),
    (
        "shown by a call",
        re.compile(
            rf"\b(?:toast|onStatus\?\.|onError\?\.|error|failAll)\(\s*[\"'`]({WORDS})[\"'`]"
        ),
    ),
]


def bare_strings(source: str, name: str = "<script>") -> list[str]:
    found = []
    for number, line in enumerate(source.splitlines(), start=1):
        code = line.strip()
        if code.startswith(("//", "*", "/*")) or "console." in code:
            continue
        text = MARKED.sub("MARKED", line)
        while SUBSTITUTION.search(text):
            text = SUBSTITUTION.sub("X", text)
        for shape, pattern in SHAPES:
            for match in pattern.finditer(text):
                words = match.group(1).strip()
                if words and words != "X" and re.search(r"[A-Za-z]{2,}", words.replace("X", "")):
                    found.append(f"{name}:{number}: {shape}: {words!r}")
    return found


def test_no_script_shows_a_bare_english_string() -> None:
    found = []
    for path in sorted(SCRIPTS.glob("*.js")):
        found.extend(bare_strings(path.read_text(encoding="utf-8"), path.name))
    assert not found, "Strings not marked for translation:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        'html += `<button type="submit">${icon("leave")}Leave</button>`;',
        'html += `<summary class="btn" aria-label="React">${icon("smile")}</summary>`;',
        'label.textContent = "Link copied";',
        'toast("Something went wrong. Try again.", "error");',
        "this.ui.onStatus?.(`Reconnecting audio…`);",
    ],
)
def test_the_checker_finds_a_bare_string(source: str) -> None:
    assert bare_strings(source), source


@pytest.mark.parametrize(
    "source",
    [
        'html += `<button type="submit">${icon("leave")}${esc(gettext("Leave"))}</button>`;',
        'html += `<summary aria-label="${esc(gettext("React"))}">${icon("smile")}</summary>`;',
        'label.textContent = gettext("Link copied");',
        'toast(interpolate(gettext("%(name)s muted you."), { name }), "info");',
        "el.className = `avatar avatar-${size}`;",
        "console.info(`Spaces audio: offering again: ${why}`);",
        "// A comment: <b>Leave</b> the room.",
    ],
)
def test_the_checker_passes_marked_strings_and_code(source: str) -> None:
    assert bare_strings(source) == [], source
