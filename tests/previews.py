"""Reading a page's link preview (templates/_meta_card.html) and a card image, for the tests of
every page kind that has one."""

from __future__ import annotations

import html as html_lib
import io
import re

from PIL import Image

TAGS = (
    "og:title",
    "og:description",
    "og:type",
    "og:url",
    "og:image",
    "og:image:width",
    "og:image:height",
    "og:image:alt",
    "og:site_name",
    "twitter:card",
    "twitter:title",
    "twitter:description",
    "twitter:image",
)


def meta(html: str) -> dict[str, str]:
    """The page's <meta property|name=... content=...> tags, and its canonical link."""
    found = {
        m.group(1): html_lib.unescape(m.group(2))
        for m in re.finditer(r'<meta (?:property|name)="([^"]+)" content="([^"]*)"', html)
    }
    canonical = re.search(r'<link rel="canonical" href="([^"]+)"', html)
    if canonical:
        found["canonical"] = html_lib.unescape(canonical.group(1))
    return found


def assert_preview(html: str, *, page: str, image: str, title: str) -> dict[str, str]:
    tags = meta(html)
    for name in TAGS:
        assert tags.get(name), f"missing {name}"
    assert tags["og:title"] == title
    assert tags["og:url"] == tags["canonical"] == f"http://testserver{page}"
    assert tags["og:image"].startswith(f"http://testserver{image}?v=")
    assert tags["twitter:image"] == tags["og:image"]
    assert (tags["og:image:width"], tags["og:image:height"]) == ("1200", "630")
    assert tags["twitter:card"] == "summary_large_image"
    assert tags["og:site_name"] == "Spaces"
    return tags


def png(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    assert image.format == "PNG"
    return image
