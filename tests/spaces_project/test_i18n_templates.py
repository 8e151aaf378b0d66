"""Every string a template shows is marked for translation.

The checker reads each template under templates/ with Django's own Lexer, stands a placeholder
in for every template tag and variable (a `{% translate %}` or a `{% blocktranslate %}` block is
such output too), and reads the HTML that is left with Python's HTMLParser: any text a person
sees (outside <script> and <style>) and any attribute a person hears or sees (aria-label, title,
placeholder, alt...) that still has a letter in it was not marked. So are literal words handed
to an include or a filter (`with label="Follow"`, `|default:"Nobody"`), which the page shows.

Run it by hand for the list of what is left: `python -m tests.spaces_project.test_i18n_templates`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.template.base import Lexer, TokenType

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

# Attributes a person reads or hears.
VISIBLE_ATTRIBUTES = frozenset(
    {"aria-label", "aria-description", "aria-roledescription", "title", "placeholder", "alt"}
)
# <meta name="description" content="...">: what a search result shows.
META_NAMES = frozenset({"description"})
# Words that are the same in every language: the product's name, the people of the landing
# page's example Space and their initials.
ALLOWED = frozenset({"Spaces", "Space", "RSS", "Grace", "Margaret", "Linus", "A", "G", "M", "L"})
# A lone class name (`{% block body_class %}space-page{% endblock %}`) is not shown.
CSS_CLASS = re.compile(r"^[a-z]+(-[a-z]+)+$")
PLACEHOLDER = "\x00"
LETTER = re.compile(r"[^\W\d_]")
# A literal handed to an include (`with label="Follow"`) or to a filter (`|default:"Nobody"`):
# shown when it has a capital letter or a space (lower-case single words are CSS classes,
# sizes and ids).
WITH_LITERAL = re.compile(r"""\b\w+=(["'])(?P<text>[^"']*)\1""")
DEFAULT_LITERAL = re.compile(r"""\|default(?:_if_none)?:(["'])(?P<text>[^"']*)\1""")
BLOCK_OPENERS = {
    "blocktranslate": "endblocktranslate",
    "blocktrans": "endblocktrans",
    "comment": "endcomment",
    "verbatim": "endverbatim",
}


@dataclass(frozen=True)
class Bare:
    template: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.template}:{self.line}: {self.text!r}"


def _shown(text: str) -> bool:
    text = text.replace(PLACEHOLDER, " ").strip()
    if not LETTER.search(text) or all(
        CSS_CLASS.match(word) for word in text.split() if LETTER.search(word)
    ):
        return False
    words = [word for word in re.split(r"[\s·|/,.:;!?()\[\]@#+\-\u2013\u2014…]+", text) if word]
    return any(LETTER.search(word) and word not in ALLOWED for word in words)


def _literal_shown(text: str) -> bool:
    return bool(LETTER.search(text)) and (" " in text.strip() or text != text.lower())


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._raw = 0  # inside <script> or <style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._raw += 1
        named = dict(attrs)
        for name, value in attrs:
            if value is None:
                continue
            visible = name in VISIBLE_ATTRIBUTES or (
                tag == "meta" and name == "content" and named.get("name") in META_NAMES
            )
            # A button's text given as an attribute.
            if tag == "input" and name == "value" and named.get("type") in ("submit", "button"):
                visible = True
            if visible and _shown(value):
                self.found.append((self.getpos()[0], f"{name}={value.strip()}"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in ("script", "style"):
            self._raw -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._raw:
            self._raw -= 1

    def handle_data(self, data: str) -> None:
        if not self._raw and _shown(data):
            self.found.append((self.getpos()[0], " ".join(data.replace(PLACEHOLDER, "…").split())))


def bare_strings(source: str, name: str = "<template>") -> list[Bare]:
    """The strings of one template's source that a person would see untranslated."""
    found: list[Bare] = []
    parts: list[str] = []
    closing: str | None = None
    for token in Lexer(source).tokenize():
        if closing is not None:
            if token.token_type == TokenType.BLOCK and token.contents.split()[0] == closing:
                closing = None
            parts.append(PLACEHOLDER)  # the block's text is translated (or not shown) as a whole
            continue
        if token.token_type == TokenType.TEXT:
            parts.append(token.contents.replace(PLACEHOLDER, ""))
            continue
        if token.token_type == TokenType.COMMENT:
            continue
        contents = token.contents
        if token.token_type == TokenType.BLOCK:
            keyword = contents.split()[0] if contents.split() else ""
            if keyword in BLOCK_OPENERS:
                closing = BLOCK_OPENERS[keyword]
            elif keyword == "include":
                for match in WITH_LITERAL.finditer(contents):
                    if _literal_shown(match["text"]):
                        found.append(Bare(name, token.lineno, match.group(0)))
        for match in DEFAULT_LITERAL.finditer(contents):
            if _literal_shown(match["text"]):
                found.append(Bare(name, token.lineno, match.group(0)))
        parts.append(PLACEHOLDER)
    reader = _Reader()
    # A tag whose name a template tag writes (`<{% if href %}a href=…{% else %}button{% endif %}`)
    # is still a tag.
    reader.feed("".join(parts).replace("<" + PLACEHOLDER, "<x-tag "))
    reader.close()
    found.extend(Bare(name, line, text) for line, text in reader.found)
    return sorted(found, key=lambda bare: bare.line)


def all_bare_strings(root: Path = TEMPLATES) -> list[Bare]:
    found: list[Bare] = []
    for path in sorted(root.rglob("*.html")):
        name = str(path.relative_to(root))
        found.extend(bare_strings(path.read_text(encoding="utf-8"), name))
    return found


# --- The tests ----------------------------------------------------------------------------------


def test_every_template_string_is_marked_for_translation() -> None:
    bare = all_bare_strings()
    assert not bare, "Strings not marked for translation:\n" + "\n".join(map(str, bare))


@pytest.mark.parametrize(
    "source",
    [
        "<p>Hello there</p>",
        "{% load i18n %}<p>{% translate 'Hi' %} and more words</p>",
        '<button aria-label="Close">\u00d7</button>',
        '<img src="x.png" alt="A cat">',
        '<input placeholder="Search Spaces">',
        '<a href="{% url "home" %}" title="Go home">{% translate "Home" %}</a>',
        "{% block title %}Edit profile{% endblock %}",
        '{% include "includes/field.html" with label_text="Your name" %}',
        '{{ user.bio|default:"No bio yet" }}',
        "<p>{{ count }} listeners</p>",
        '<input type="submit" value="Save">',
    ],
)
def test_the_checker_finds_a_bare_string(source: str) -> None:
    assert bare_strings(source), source


@pytest.mark.parametrize(
    "source",
    [
        "{% load i18n %}<p>{% translate 'Hello there' %}</p>",
        "{% load i18n %}<p>{% blocktranslate trimmed count n=k %}One\n{% plural %}Many"
        "{% endblocktranslate %}</p>",
        '{% load i18n %}<button aria-label="{% translate "Close" %}">\u00d7</button>',
        "<p>{{ user.name }} · @{{ user.username }}</p>",
        "<script>const a = 'words here';</script><style>.a::after { content: 'x y'; }</style>",
        "{# a comment with words #}{% comment %}More words{% endcomment %}<!-- html words -->",
        '<span class="avatar" data-kind="user">&middot; &times; 99+ ✨</span>',
        '{% include "includes/avatar.html" with size="sm" %}',
        "<span>Spaces</span>",
    ],
)
def test_the_checker_passes_marked_or_wordless_text(source: str) -> None:
    assert bare_strings(source) == [], source


def test_the_checker_fails_when_a_template_gains_a_bare_string(tmp_path: Path) -> None:
    """The whole check, on a copy of one real template with one sentence added."""
    base = (TEMPLATES / "base.html").read_text(encoding="utf-8")
    (tmp_path / "base.html").write_text(base, encoding="utf-8")
    assert all_bare_strings(tmp_path) == []
    (tmp_path / "base.html").write_text(
        base.replace("</main>", "<p>Welcome back</p></main>", 1), encoding="utf-8"
    )
    assert [bare.text for bare in all_bare_strings(tmp_path)] == ["Welcome back"]


if __name__ == "__main__":
    for item in all_bare_strings():
        print(item)
    sys.exit(0)
