"""The link-preview image (Open Graph / Twitter Card) of a Space, a scheduled Space, a profile, a
replay or a clip: 1200x630 PNG, drawn with Pillow from a small `Card` of plain strings.

Pure drawing: no models, no requests. The apps build a `Card` from what a signed-out visitor
may see (their `previews.py`), `spaces_project/previews.py` caches and serves the bytes.

Fonts. Nothing is fetched and no font is assumed beyond Debian's `fonts-dejavu-core` (DejaVu
Sans: Latin, Greek, Cyrillic, Hebrew, Arabic) and `fonts-noto-color-emoji` (emoji, drawn as
bitmaps at the font's one size, 109 px, then scaled). Without DejaVu the font Pillow bundles
(`ImageFont.load_default(size=...)`) draws the text; without the emoji font emoji are left out
rather than drawn as empty boxes. Characters no font has (CJK without a CJK font) show as the
font's box: legible enough for a preview, never a crash.

Text. Control and format characters never reach FreeType (NUL, bidi overrides, unassigned and
private-use code points are dropped; ZWJ and variation selectors stay inside emoji). A
right-to-left title is laid out right to left (libraqm through Pillow, when the wheel found
FriBiDi) and aligned to the right. Titles wrap to at most three lines; the last one ends with
an ellipsis when the text goes on.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import io
import json
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont, features

WIDTH, HEIGHT = 1200, 630
# Bump when the drawing changes: it is part of every card's key (ETag and cache).
RENDER_VERSION = 1

Tone = Literal["live", "scheduled", "ended", "replay", "clip", "profile", "cancelled"]

# static/css/app.css: .live-card's radial gradient (#9f67ff → #7c3aed → #4c1d95); a quieter
# slate-violet one for what is over.
_GRADIENTS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "bright": ((0x9F, 0x67, 0xFF), (0x7C, 0x3A, 0xED), (0x4C, 0x1D, 0x95)),
    "quiet": ((0x5B, 0x4B, 0x8A), (0x35, 0x2A, 0x5E), (0x17, 0x14, 0x2B)),
}
_TONE_GRADIENT = {
    "live": "bright",
    "scheduled": "bright",
    "profile": "bright",
    "clip": "bright",
    "replay": "quiet",
    "ended": "quiet",
    "cancelled": "quiet",
}
WHITE = (255, 255, 255)
# Secondary text: white at about 80% over the gradient, as a solid colour (a translucent fill
# would replace the canvas's alpha instead of blending).
SOFT = (226, 216, 255)
LIVE_RED = (0xFF, 0x4D, 0x6D)
PAD = 72

_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts"),
)
_EMOJI_FONTS = (
    Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"),
    Path("/usr/share/fonts/noto/NotoColorEmoji.ttf"),
)
_EMOJI_SIZE = 109  # the only size a CBDT bitmap font has

_RAQM = features.check("raqm")


@dataclass(frozen=True)
class Card:
    """What a card shows, as final strings (translated and formatted by the caller).

    `badge`: "LIVE", "Scheduled · Tue 8 Dec, 18:00 CET", "Ended", "Replay · 42:10".
    `name` / `handle`: the person at the bottom (the host; a profile's own). `initial_seed`
    picks the avatar's colour as the site does (the user's id). `count`: "1.2K listening",
    already bucketed (`count_bucket`) so that the card, and its key, change in steps.
    `body`: a smaller line or two under the title (a profile's bio, a clip's Space)."""

    tone: Tone
    title: str
    badge: str
    name: str = ""
    handle: str = ""
    initial_seed: int = 7
    count: str = ""
    body: str = ""

    def key(self) -> str:
        """A digest of everything drawn: the ETag and the cache key."""
        payload = json.dumps([RENDER_VERSION, asdict(self)], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def count_bucket(n: int) -> int:
    """`n` rounded down to two significant figures (1,234 → 1,200; 87 → 87), so that a count
    that moves by one does not make a new card on every request."""
    n = max(0, int(n))
    if n < 100:
        return n
    step = 10 ** (len(str(n)) - 2)
    return n // step * step


def count_short(n: int) -> str:
    """A bucketed count written short: 87, 1.2K, 34K, 1.5M."""
    n = count_bucket(n)
    for size, suffix in ((1_000_000, "M"), (1_000, "K")):
        if n >= size:
            value = f"{n / size:.1f}".removesuffix(".0")
            return f"{value}{suffix}"
    return str(n)


# --- Text cleaning and runs ------------------------------------------------------------------

_ZWJ, _VS16, _KEYCAP = "\u200d", "\ufe0f", "\u20e3"
# Inside an emoji sequence these join or modify; anywhere else they are dropped.
_EMOJI_JOINERS = frozenset({_ZWJ, _VS16, "\ufe0e", _KEYCAP})
# BMP characters that are emoji by default (Emoji_Presentation=Yes) in the blocks DejaVu also
# covers as text; others there become emoji only when followed by VS16.
_BMP_EMOJI = frozenset(
    "⌚⌛⏩⏪⏫⏬⏰⏳◽◾☔☕♈♉♊♋♌♍♎♏♐♑♒♓♿⚓⚡⚪⚫⚽⚾⛄⛅⛎⛔⛪⛲⛳⛵⛺⛽✅✊✋✨❌❎❓❔❕❗➗➰➿⬛⬜⭐⭕"
    "\u2795\u2796"  # heavy plus and minus
)


def clean(text: str) -> str:
    """`text` with only what may be drawn: control (Cc), format (Cf: bidi overrides and
    isolates, soft hyphens), surrogate, private-use and unassigned characters removed, except the
    joiners inside emoji; whitespace runs made one space."""
    kept = []
    for ch in str(text):
        category = unicodedata.category(ch)
        if ch in _EMOJI_JOINERS or ("\U000e0020" <= ch <= "\U000e007f"):  # emoji tag sequences
            kept.append(ch)
        elif category in ("Cc", "Zl", "Zp") or category == "Zs":
            kept.append(" ")
        elif category in ("Cf", "Cs", "Co", "Cn"):
            continue
        else:
            kept.append(ch)
    return " ".join("".join(kept).split())


def _is_emoji_start(text: str, i: int) -> bool:
    ch = text[i]
    code = ord(ch)
    if 0x1F000 <= code <= 0x1FAFF or ch in _BMP_EMOJI:
        return True
    following = text[i + 1 : i + 3]
    # Keycaps ("1️⃣") and text-default symbols asked to be emoji ("❤️").
    if following[:1] == _VS16 and (code >= 0x2000 or ch in "#*0123456789"):
        return True
    return following[:1] == _KEYCAP


def runs(text: str) -> list[tuple[str, bool]]:
    """`text` cut into (piece, is_emoji) runs: an emoji run holds whole sequences (ZWJ
    families, flags, skin tones, keycaps); joiners left outside emoji are dropped."""
    out: list[tuple[str, bool]] = []
    buf, emoji = "", False
    i = 0
    while i < len(text):
        ch = text[i]
        if _is_emoji_start(text, i):
            piece = ch
            i += 1
            # Modifiers, joiners, tags, and whatever a ZWJ joins, belong to the sequence.
            while i < len(text):
                nxt = text[i]
                code = ord(nxt)
                if (
                    nxt in _EMOJI_JOINERS
                    or 0x1F3FB <= code <= 0x1F3FF
                    or 0xE0020 <= code <= 0xE007F
                ):
                    piece += nxt
                    i += 1
                    if nxt == _ZWJ and i < len(text):
                        piece += text[i]
                        i += 1
                elif 0x1F1E6 <= code <= 0x1F1FF and 0x1F1E6 <= ord(piece[-1]) <= 0x1F1FF:
                    piece += nxt  # the second regional indicator of a flag
                    i += 1
                    break
                else:
                    break
            if buf and not emoji:
                out.append((buf, False))
                buf = ""
            buf, emoji = buf + piece, True
            continue
        i += 1
        if ch in _EMOJI_JOINERS or 0xE0020 <= ord(ch) <= 0xE007F:
            continue
        if emoji and buf:
            out.append((buf, True))
            buf = ""
        buf, emoji = buf + ch, False
    if buf:
        out.append((buf, emoji))
    return out


def is_rtl(text: str) -> bool:
    """The first strong character is right-to-left (Hebrew, Arabic...): the paragraph's
    direction by the Unicode bidi algorithm's rule P2."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


# --- Fonts -----------------------------------------------------------------------------------

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.lru_cache(maxsize=32)
def font(size: int, *, bold: bool = False) -> Font:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in _FONT_DIRS:
        path = folder / name
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=1)
def _emoji_font() -> ImageFont.FreeTypeFont | None:
    for path in _EMOJI_FONTS:
        if path.is_file():
            try:
                return ImageFont.truetype(str(path), _EMOJI_SIZE)
            except OSError:  # a FreeType without PNG glyph support
                return None
    return None


@functools.lru_cache(maxsize=512)
def _emoji_image(sequence: str, size: int) -> Image.Image | None:
    """One emoji run drawn at the text's `size` (its em square), or None without the font."""
    emoji_font = _emoji_font()
    if emoji_font is None:
        return None
    width = int(emoji_font.getlength(sequence)) or _EMOJI_SIZE
    canvas = Image.new("RGBA", (width + 8, _EMOJI_SIZE + 32), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((4, 0), sequence, font=emoji_font, embedded_color=True)
    box = canvas.getbbox()
    if box is None:
        return None
    canvas = canvas.crop((0, 0, canvas.width, box[3]))
    scale = size / _EMOJI_SIZE
    return canvas.resize(
        (max(1, round(canvas.width * scale)), max(1, round(canvas.height * scale))),
        Image.Resampling.LANCZOS,
    )


def _direction(piece: str, f: Font) -> str | None:
    """The run's direction for libraqm; None where the font lays out without it (Pillow's
    bundled font, a wheel without FriBiDi), which refuses a direction."""
    if not _RAQM or getattr(f, "layout_engine", None) != ImageFont.Layout.RAQM:
        return None
    return "rtl" if is_rtl(piece) else "ltr"


def _text_width(piece: str, f: Font) -> float:
    direction = _direction(piece, f)
    if direction is None:
        return f.getlength(piece)
    return f.getlength(piece, direction=direction)


def width(text: str, f: Font, size: int) -> float:
    total = 0.0
    for piece, emoji in runs(text):
        if emoji:
            image = _emoji_image(piece, size)
            total += image.width if image is not None else 0
        else:
            total += _text_width(piece, f)
    return total


def draw_line(
    canvas: Image.Image,
    xy: tuple[float, float],
    text: str,
    f: Font,
    size: int,
    fill: tuple[int, ...],
    *,
    rtl: bool = False,
) -> float:
    """Draw `text` with its top-left at `xy`; emoji runs as scaled bitmaps. A right-to-left
    line places its runs from right to left. Returns the width drawn."""
    draw = ImageDraw.Draw(canvas)
    pieces = runs(text)
    if rtl:
        pieces = list(reversed(pieces))
    x, y = xy
    ascent = f.getmetrics()[0] if isinstance(f, ImageFont.FreeTypeFont) else size
    for piece, emoji in pieces:
        if emoji:
            image = _emoji_image(piece, size)
            if image is None:
                continue
            # Sit the emoji on the text's baseline, a little below like system emoji do.
            top = round(y + ascent - image.height + size * 0.12)
            canvas.alpha_composite(image, (round(x), max(0, top)))
            x += image.width
            continue
        direction = _direction(piece, f)
        if direction is None:
            draw.text((x, y), piece, font=f, fill=fill)
        else:
            draw.text((x, y), piece, font=f, fill=fill, direction=direction)
        x += _text_width(piece, f)
    return x - xy[0]


# --- Wrapping --------------------------------------------------------------------------------


def _split_long(word: str, f: Font, size: int, limit: float) -> list[str]:
    """A word wider than the line cut into pieces that fit, never inside an emoji sequence."""
    parts: list[str] = []
    current = ""
    for piece, emoji in runs(word):
        units = [piece] if emoji else list(piece)
        for unit in units:
            if current and width(current + unit, f, size) > limit:
                parts.append(current)
                current = ""
            current += unit
    if current:
        parts.append(current)
    return parts


def _ellipsize(line: str, f: Font, size: int, limit: float) -> str:
    """The longest start of `line` that fits with an ellipsis after it (binary search over
    run boundaries and characters, never inside an emoji sequence)."""
    cuts = [0]
    for piece, emoji in runs(line):
        start = cuts[-1]
        cuts.extend([start + len(piece)] if emoji else range(start + 1, start + len(piece) + 1))
    lo, hi = 0, len(cuts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if width(line[: cuts[mid]].rstrip() + "…", f, size) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return line[: cuts[lo]].rstrip() + "…"


def wrap(text: str, f: Font, size: int, limit: float, max_lines: int) -> tuple[list[str], bool]:
    """`text` in at most `max_lines` lines no wider than `limit`; True if it was cut (the last
    line then ends with an ellipsis)."""
    words: list[str] = []
    for word in text.split(" "):
        if not word:
            continue
        if width(word, f, size) > limit:
            words.extend(_split_long(word, f, size, limit))
        else:
            words.append(word)
    lines: list[str] = []
    current = ""
    for n, word in enumerate(words):
        candidate = f"{current} {word}" if current else word
        if not current or width(candidate, f, size) <= limit:
            current = candidate
            continue
        lines.append(current)
        current = word
        if len(lines) == max_lines:
            rest = " ".join(words[n:])
            lines[-1] = _ellipsize(f"{lines[-1]} {rest}", f, size, limit)
            return lines, True
    if current:
        lines.append(current)
    return lines, False


# --- Drawing ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _background(gradient: str) -> Image.Image:
    """The radial gradient from the top-left corner, as the site's live card, with a faint
    sound-wave of bars on the right (the logo's shape). Drawn once per process."""
    import numpy as np

    inner, middle, outer = (np.array(c, dtype=np.float32) for c in _GRADIENTS[gradient])
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    # 120% x 130% ellipse at 0 0, as the CSS.
    t = np.sqrt((xs / (1.2 * WIDTH)) ** 2 + (ys / (1.3 * HEIGHT)) ** 2)
    t = np.clip(t, 0.0, 1.0)[..., None]
    near = inner + (middle - inner) * np.clip(t / 0.45, 0, 1)
    far = middle + (outer - middle) * np.clip((t - 0.45) / 0.55, 0, 1)
    rgb = np.where(t < 0.45, near, far).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB").convert("RGBA")
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    heights = (80, 150, 230, 330, 250, 170, 290, 390, 300, 200, 130, 220, 160, 90)
    x0 = WIDTH - 60 - len(heights) * 40
    for n, h in enumerate(heights):
        x = x0 + n * 40
        cy = 300
        draw.rounded_rectangle(
            (x, cy - h // 2, x + 18, cy + h // 2), radius=9, fill=(255, 255, 255, 20)
        )
    return Image.alpha_composite(image, overlay)


def _avatar_colors(seed: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """The avatar gradient of static/css/app.css (.avatar): hue = id x 137.508°."""
    hue = (seed * 137.508) % 360

    def hsl(h: float, s: float, light: float) -> tuple[int, int, int]:
        r, g, b = colorsys.hls_to_rgb((h % 360) / 360, light, s)
        return round(r * 255), round(g * 255), round(b * 255)

    return hsl(hue, 0.6, 0.55), hsl(hue + 40, 0.6, 0.42)


@functools.lru_cache(maxsize=256)
def _avatar(size: int, seed: int, letter: str) -> Image.Image:
    """Only read after (composited onto a card), so one image serves every card of a person."""
    import numpy as np

    start, end = _avatar_colors(seed)
    # 135deg: from the top-left corner to the bottom-right one.
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    t = ((xs + ys) / (2 * (size - 1)))[..., None]
    rgb = np.array(start, np.float32) + (np.array(end, np.float32) - np.array(start)) * t
    fill = Image.fromarray(rgb.astype(np.uint8), "RGB").convert("RGBA")
    mask = Image.new("L", (size * 4, size * 4), 0)
    ImageDraw.Draw(mask).ellipse((0, 0, size * 4 - 1, size * 4 - 1), fill=255)
    circle = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    circle.paste(fill, (0, 0), mask.resize((size, size), Image.Resampling.LANCZOS))
    ring = Image.new("RGBA", (size + 8, size + 8), (0, 0, 0, 0))
    ImageDraw.Draw(ring).ellipse((0, 0, size + 7, size + 7), fill=(255, 255, 255, 60))
    ring.alpha_composite(circle, (4, 4))
    if letter:
        text_size = round(size * 0.42)
        f = font(text_size, bold=True)
        w = width(letter, f, text_size)
        top, bottom = f.getbbox("H")[1], f.getbbox("H")[3]
        y = 4 + (size - (bottom - top)) / 2 - top
        draw_line(ring, (4 + (size - w) / 2, y), letter, f, text_size, WHITE)
    return ring


@functools.lru_cache(maxsize=2)
def _logo(size: int) -> Image.Image:
    """static/img/logo.svg: five rounded bars on a rounded square, drawn at 4x and reduced."""
    scale = 4
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=round(big * 9 / 32), fill=WHITE)
    unit = big / 32
    stroke = round(2.6 * unit)
    for x, y0, y1 in ((8, 14, 18), (12, 11, 21), (16, 7.5, 24.5), (20, 11, 21), (24, 14, 18)):
        draw.line((x * unit, y0 * unit, x * unit, y1 * unit), fill=(0x6D, 0x28, 0xD9), width=stroke)
        for y in (y0, y1):
            r = stroke / 2
            draw.ellipse(
                (x * unit - r, y * unit - r, x * unit + r, y * unit + r), fill=(0x6D, 0x28, 0xD9)
            )
    return image.resize((size, size), Image.Resampling.LANCZOS)


def _pill(canvas: Image.Image, right: int, top: int, text: str, *, dot: bool) -> None:
    """The state badge, right-aligned at (`right`, `top`), as .live-pill: white at 18%."""
    size = 26
    f = font(size, bold=True)
    text_w = width(text, f, size)
    dot_w = 30 if dot else 0
    w = round(text_w + dot_w + 2 * 24)
    h = 56
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    left = right - w
    draw.rounded_rectangle((left, top, right, top + h), radius=h // 2, fill=(255, 255, 255, 46))
    canvas.alpha_composite(layer)
    draw = ImageDraw.Draw(canvas)
    x = left + 24
    if dot:
        cy = top + h / 2
        draw.ellipse((x, cy - 9, x + 18, cy + 9), fill=LIVE_RED)
        x += dot_w
    ascent, descent = f.getmetrics() if isinstance(f, ImageFont.FreeTypeFont) else (size, 0)
    draw_line(canvas, (x, top + (h - ascent - descent) / 2), text, f, size, WHITE)


# Title sizes, largest first: the largest at which the title fits in three lines wins.
_TITLE_SIZES = (76, 66, 58)
_TITLE_LINES = 3
_TITLE_LEADING = 1.2


# More than three lines hold at the smallest size; a longer text is cut before it is measured,
# so that the layout's cost has a bound whatever the caller passes.
_MAX_CHARS = 160


def shorten(text: str, limit: int = _MAX_CHARS) -> str:
    """`text` cut to about `limit` characters at a run boundary, with an ellipsis if cut."""
    if len(text) <= limit:
        return text
    kept = ""
    for piece, emoji in runs(text):
        room = limit - len(kept)
        if len(piece) <= room:
            kept += piece
        elif not emoji and room > 0:
            kept += piece[:room]
            break
        else:
            break  # never half an emoji sequence
    return kept.rstrip() + "…"


def _title_layout(title: str, limit: float, max_lines: int) -> tuple[int, list[str]]:
    for size in _TITLE_SIZES:
        if (
            size != _TITLE_SIZES[-1]
            and width(title, font(size, bold=True), size) > limit * max_lines
        ):
            continue  # cannot fit at this size, whatever the breaks
        lines, cut = wrap(title, font(size, bold=True), size, limit, max_lines)
        if not cut:
            return size, lines
    size = _TITLE_SIZES[-1]
    return size, wrap(title, font(size, bold=True), size, limit, max_lines)[0]


def render_card(card: Card) -> bytes:
    """The card as PNG bytes (1200x630)."""
    canvas = _background(_TONE_GRADIENT.get(card.tone, "bright")).copy()
    draw = ImageDraw.Draw(canvas)

    # Top row: the brand on the left, the state on the right.
    logo = _logo(60)
    canvas.alpha_composite(logo, (PAD, 58))
    brand = font(36, bold=True)
    draw_line(canvas, (PAD + 78, 66), "Spaces", brand, 36, WHITE)
    badge = shorten(clean(card.badge), 48)
    if badge:
        _pill(canvas, WIDTH - PAD, 60, badge, dot=card.tone == "live")

    # The title, and the body under it.
    title = shorten(clean(card.title)) or "Spaces"
    body = shorten(clean(card.body))
    limit = WIDTH - 2 * PAD
    size, lines = _title_layout(title, limit, _TITLE_LINES - (1 if body else 0))
    title_font = font(size, bold=True)
    rtl = is_rtl(title)
    y = 176.0
    for line in lines:
        x = PAD + (limit - width(line, title_font, size) if rtl else 0)
        draw_line(canvas, (x, y), line, title_font, size, WHITE, rtl=rtl)
        y += size * _TITLE_LEADING
    if body:
        body_size = 34
        body_font = font(body_size)
        body_rtl = is_rtl(body)
        body_lines, _ = wrap(body, body_font, body_size, limit, 2)
        y += 8
        for line in body_lines:
            x = PAD + (limit - width(line, body_font, body_size) if body_rtl else 0)
            draw_line(canvas, (x, y), line, body_font, body_size, SOFT, rtl=body_rtl)
            y += body_size * 1.3

    # Bottom row: the person, and the count.
    bottom = HEIGHT - 58
    count = shorten(clean(card.count), 24)
    count_w = 0.0
    if count:
        count_size = 32
        count_font = font(count_size, bold=True)
        count_w = width(count, count_font, count_size)
        draw_line(
            canvas, (WIDTH - PAD - count_w, bottom - 62), count, count_font, count_size, WHITE
        )
    name, handle = shorten(clean(card.name), 60), shorten(clean(card.handle), 40)
    if name or handle:
        avatar_size = 88
        letter = (name or handle)[:1].upper()
        first = runs(name or handle)[0]
        if first[1]:  # an emoji first: the whole emoji, not half of it
            letter = first[0] if len(first[0]) <= 8 else ""
        canvas.alpha_composite(
            _avatar(avatar_size, card.initial_seed, letter), (PAD - 4, bottom - avatar_size - 4)
        )
        text_x = PAD + avatar_size + 24
        room = WIDTH - PAD - text_x - (count_w + 40 if count else 0)
        name_size, handle_size = 36, 28
        name_font, handle_font = font(name_size, bold=True), font(handle_size)
        rows: list[tuple[str, Font, int, tuple[int, ...]]] = []
        if name:
            rows.append((name, name_font, name_size, WHITE))
        if handle:
            rows.append((f"@{handle}", handle_font, handle_size, SOFT))
        block = sum(round(row[2] * 1.25) for row in rows)
        y = bottom - avatar_size / 2 - block / 2 - 2
        for text, row_font, row_size, fill in rows:
            fitted = wrap(text, row_font, row_size, room, 1)[0]
            if fitted:
                draw_line(
                    canvas, (text_x, y), fitted[0], row_font, row_size, fill, rtl=is_rtl(fitted[0])
                )
            y += round(row_size * 1.25)
    del draw

    out = io.BytesIO()
    # zlib's level 6 is most of a render's time (a smooth gradient compresses poorly), and a
    # third smaller than level 1: the bytes are cached and sent many times, drawn once.
    canvas.convert("RGB").save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()


CARD_SIZE = (WIDTH, HEIGHT)
__all__ = ["CARD_SIZE", "Card", "clean", "count_bucket", "count_short", "render_card"]
