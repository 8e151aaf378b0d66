"""The Markdown files render as their authors meant: no table cut short by a blank line or a
malformed row, whose rest would show as lines of raw pipes (GitHub renders tables as CommonMark
with the table extension does)."""

from __future__ import annotations

from pathlib import Path

import pytest

markdown_it = pytest.importorskip("markdown_it")  # installed with the dev tools (rich)

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_table_row_renders_inside_a_table(path: Path) -> None:
    md = markdown_it.MarkdownIt("commonmark").enable("table")
    tokens = md.parse(path.read_text())
    raw_rows = [
        f"line {tokens[i - 1].map[0] + 1}: {token.content[:80]}"
        for i, token in enumerate(tokens)
        if token.type == "inline"
        and tokens[i - 1].type == "paragraph_open"
        and token.content.lstrip().startswith("|")
    ]
    assert raw_rows == [], "rows outside any table:\n" + "\n".join(raw_rows)
