"""The link-preview card (spaces_project/cards.py) and its serving (spaces_project/previews.py):
the image itself, text that must not break it, its key, ETag/304 and the cache."""

from __future__ import annotations

import io

import pytest
from django.test import RequestFactory, override_settings
from PIL import Image

from spaces_project import cards, previews
from spaces_project.cards import Card, clean, count_bucket, count_short, render_card, runs, wrap


def _card(**overrides: object) -> Card:
    fields: dict[str, object] = {
        "tone": "live",
        "title": "Friday night synths",
        "badge": "LIVE",
        "name": "Ada Lovelace",
        "handle": "ada",
        "initial_seed": 3,
        "count": "1.2K listening",
    }
    fields.update(overrides)
    return Card(**fields)  # type: ignore[arg-type]


def _image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_a_card_is_a_1200_by_630_png():
    image = _image(render_card(_card()))
    assert image.format == "PNG"
    assert image.size == (1200, 630)


def test_each_state_draws_a_different_image():
    states = [
        _card(tone="live", badge="LIVE"),
        _card(tone="scheduled", badge="Scheduled · Tue 8 Dec, 18:00 CET", count=""),
        _card(tone="ended", badge="Ended", count="87 listened"),
        _card(tone="replay", badge="Replay · 42:10"),
    ]
    images = [render_card(card) for card in states]
    assert len(set(images)) == len(images)
    assert len({card.key() for card in states}) == len(states)


def test_the_live_card_is_purple_and_the_ended_one_darker():
    live = _image(render_card(_card(tone="live"))).convert("RGB")
    ended = _image(render_card(_card(tone="ended", badge="Ended"))).convert("RGB")
    # The top-left corner of the gradient: #9f67ff-ish for live, a quiet slate-violet when over.
    r, g, b = live.getpixel((2, 2))  # type: ignore[misc]
    assert b > 200
    assert r > 120
    assert g < 140
    assert sum(ended.getpixel((2, 2))) < sum(live.getpixel((2, 2)))  # type: ignore[arg-type]


def test_a_long_title_wraps_to_three_lines_ending_with_an_ellipsis():
    f = cards.font(58, bold=True)
    lines, cut = wrap("word " * 200, f, 58, 1056, 3)
    assert cut
    assert len(lines) == 3
    assert lines[-1].endswith("…")
    assert all(cards.width(line, f, 58) <= 1056 for line in lines)


def test_a_word_longer_than_a_line_is_broken_and_never_overflows():
    f = cards.font(58, bold=True)
    lines, cut = wrap("A" * 300, f, 58, 1056, 3)
    assert cut
    assert len(lines) == 3
    assert all(cards.width(line, f, 58) <= 1056 for line in lines)


def test_a_short_title_is_not_cut():
    f = cards.font(76, bold=True)
    lines, cut = wrap("Hello there", f, 76, 1056, 3)
    assert (lines, cut) == (["Hello there"], False)


@pytest.mark.parametrize(
    "title",
    [
        "שלום עולם: שיחה על מוזיקה 🎶 ועל החיים בתל אביב, עם אורחים מיוחדים",
        "مرحبا بكم في المساحة 👋🏽 نقاش حول التقنية",
        "👩‍👩‍👧 🇫🇷 1️⃣ ❤️ 🔥🔥🔥 party ✨",
        "🎙️" * 80,
        "混合 English 和中文 title",
        "x" * 5000,
        "",
    ],
)
def test_right_to_left_emoji_and_odd_titles_render(title):
    card = _card(title=title, name=title[:20], body=title)
    assert _image(render_card(card)).size == (1200, 630)


def test_right_to_left_titles_are_recognised():
    assert cards.is_rtl("שלום world")
    assert cards.is_rtl("🎶 مرحبا")
    assert not cards.is_rtl("hello שלום")


def test_emoji_sequences_stay_whole():
    pieces = runs("hi 👩‍👩‍👧 🇫🇷🇩🇪 👋🏽 1️⃣ ok")
    emoji = [piece for piece, is_emoji in pieces if is_emoji]
    assert emoji == ["👩‍👩‍👧", "🇫🇷🇩🇪", "👋🏽", "1️⃣"]
    assert "".join(piece for piece, _ in pieces) == "hi 👩‍👩‍👧 🇫🇷🇩🇪 👋🏽 1️⃣ ok"


def test_control_characters_never_reach_the_drawing(monkeypatch):
    assert clean("a\x00b\x07c\u202ed\u2066e\ud800f\n g") == "a b cdef g"
    assert clean("👩\u200d👩") == "👩\u200d👩"  # a joiner inside an emoji stays
    drawn: list[str] = []
    real = cards.draw_line

    def spy(canvas, xy, text, *args, **kwargs):  # type: ignore[no-untyped-def]
        drawn.append(text)
        return real(canvas, xy, text, *args, **kwargs)

    monkeypatch.setattr(cards, "draw_line", spy)
    render_card(
        _card(title="bad\x00title\u202e here", name="n\x00ame", handle="h\x01", count="\x02")
    )
    assert drawn
    for text in drawn:
        assert not any(ch in text for ch in "\x00\x01\x02\u202e")


def test_without_fonts_installed_the_bundled_font_draws_the_card(monkeypatch):
    monkeypatch.setattr(cards, "_FONT_DIRS", ())
    monkeypatch.setattr(cards, "_EMOJI_FONTS", ())
    cards.font.cache_clear()
    cards._emoji_font.cache_clear()
    cards._emoji_image.cache_clear()
    try:
        assert isinstance(cards.font(40), cards.ImageFont.FreeTypeFont)
        assert _image(render_card(_card(title="No fonts 🎙️ here, שלום"))).size == (1200, 630)
    finally:
        cards.font.cache_clear()
        cards._emoji_font.cache_clear()
        cards._emoji_image.cache_clear()


@pytest.mark.parametrize(
    ("n", "bucket", "short"),
    [
        (0, 0, "0"),
        (87, 87, "87"),
        (99, 99, "99"),
        (123, 120, "120"),
        (1234, 1200, "1.2K"),
        (1299, 1200, "1.2K"),
        (34_567, 34_000, "34K"),
        (1_534_567, 1_500_000, "1.5M"),
    ],
)
def test_counts_are_bucketed_to_two_significant_figures(n, bucket, short):
    assert count_bucket(n) == bucket
    assert count_short(n) == short


def test_the_key_follows_what_is_drawn():
    assert _card().key() == _card().key()
    assert (
        _card(count=f"{count_short(1201)} listening").key()
        == _card(count=f"{count_short(1299)} listening").key()
    )
    assert _card(title="Other").key() != _card().key()
    assert _card(badge="Ended").key() != _card().key()


# --- Serving ---------------------------------------------------------------------------------


def test_the_response_has_an_etag_a_cache_policy_and_the_png():
    request = RequestFactory().get("/x/card.png")
    response = previews.card_response(request, _card(), max_age=300)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["ETag"] == f'"{_card().key()}"'
    assert "public" in response["Cache-Control"]
    assert "max-age=300" in response["Cache-Control"]
    assert _image(response.content).size == (1200, 630)


def test_a_matching_if_none_match_is_answered_304_without_drawing(monkeypatch):
    calls: list[Card] = []
    monkeypatch.setattr(previews, "render_card", lambda card: calls.append(card) or b"png")
    etag = f'"{_card().key()}"'
    request = RequestFactory().get("/x/card.png", HTTP_IF_NONE_MATCH=etag)
    response = previews.card_response(request, _card(), max_age=300)
    assert response.status_code == 304
    assert response["ETag"] == etag
    assert response.content == b""
    assert calls == []
    stale = RequestFactory().get("/x/card.png", HTTP_IF_NONE_MATCH='"something-else"')
    assert previews.card_response(stale, _card(), max_age=300).status_code == 200
    assert len(calls) == 1


def test_a_card_is_drawn_once_then_served_from_the_cache(monkeypatch):
    calls: list[Card] = []
    real = previews.render_card

    def counting(card: Card) -> bytes:
        calls.append(card)
        return real(card)

    monkeypatch.setattr(previews, "render_card", counting)
    first, hit_first = previews.card_png(_card())
    second, hit_second = previews.card_png(_card())
    assert (hit_first, hit_second) == (False, True)
    assert first == second
    assert len(calls) == 1
    previews.card_png(_card(title="Another"))
    assert len(calls) == 2


def test_a_private_card_is_not_kept_by_shared_caches():
    request = RequestFactory().get("/x/card.png")
    response = previews.card_response(request, _card(), max_age=3600, public=False)
    assert "private" in response["Cache-Control"]
    assert "public" not in response["Cache-Control"]


@override_settings(SITE_URL="https://spaces.example")
def test_absolute_urls_use_site_url_when_set():
    request = RequestFactory().get("/", HTTP_HOST="internal:8000")
    assert previews.absolute_url(request, "/u/ada/") == "https://spaces.example/u/ada/"


def test_absolute_urls_use_the_request_without_site_url():
    request = RequestFactory().get("/", HTTP_HOST="testserver")
    assert previews.absolute_url(request, "/u/ada/") == "http://testserver/u/ada/"


@pytest.mark.parametrize(
    ("ms", "text"), [(30_000, "0:30"), (2_530_000, "42:10"), (3_733_000, "1:02:13")]
)
def test_lengths_are_written_as_a_player_shows_them(ms, text):
    assert previews.clock(ms) == text
