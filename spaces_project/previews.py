"""Link previews: the Open Graph and Twitter Card tags of a page (`templates/_meta_card.html`,
in the `<head>` of base.html) and the card image behind them (`spaces_project/cards.py`).

The apps decide what a preview says and who may see it (their `previews.py`: the Space,
the scheduled Space, the profile, the replay, the clip); this module holds what they share:

- `Preview`: the tags of one page, with absolute URLs (`SITE_URL` when set, else the request's
  own scheme and host). The image URL carries the card's key (`?v=`), so a card that changed
  is a new URL to crawlers that keep images for days.
- `card_response`: the PNG, with an ETag that is the card's key (304 when it matches), and the
  rendered bytes kept in the Django cache under that key: a card is drawn once per content,
  not per request. The listener count is bucketed (`cards.count_bucket`), so a busy Space
  does not make a new card with every join.
- `signed_out_preview`: a page behind sign-in answers a signed-out visitor (a crawler, or a
  person opening a shared link) with its preview and a sign-in button instead of a redirect to
  the sign-in page, whose tags would say nothing about what was shared.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import get_conditional_response, patch_cache_control

from spaces_project.cards import HEIGHT, WIDTH, Card, render_card
from spaces_project.languages import language_codes
from spaces_project.site import wants_json

# The PNG of a card key stays in the cache this long; the key changes when the card does.
CARD_CACHE_SECONDS = 24 * 3600
CACHE_PREFIX = "card:"
# How long browsers and caches keep a card: what is live changes every few minutes, the rest
# seldom (a new count bucket, an edited title).
MAX_AGE_LIVE = 300
MAX_AGE_SETTLED = 3600

P = ParamSpec("P")


@dataclass(frozen=True)
class Preview:
    """The tags of one page. `title` and `description` are the page's words (the active
    language); `url` and `image` are absolute."""

    title: str
    description: str
    url: str
    image: str
    image_alt: str
    type: str = "website"
    width: int = WIDTH
    height: int = HEIGHT
    site_name: str = "Spaces"
    # og:type "profile" names the person.
    username: str = ""
    # The card for this site's own pages (preview.html): relative, so the page's CSP allows it
    # whatever `SITE_URL` says.
    image_src: str = ""
    # The sign-in button's words on preview.html ("Log in to listen" when blank).
    cta: str = ""


def card_language(person: Any) -> str:
    """The language a card is drawn in: its person's (the host's) own choice, else the site's.
    A card is one image for everyone who sees the link, so it cannot follow the viewer."""
    chosen = getattr(person, "language", "")
    return chosen if chosen in language_codes() else settings.LANGUAGE_CODE


def clock(ms: int) -> str:
    """A length as a player shows it: 0:30, 42:10, 1:02:13."""
    seconds = max(0, int(ms) // 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"


def absolute_url(request: HttpRequest, path: str) -> str:
    """`path` as an absolute URL: under `SITE_URL` when the deployment sets one (the canonical
    origin, whatever host a request came in by), else the request's scheme and host."""
    base = str(getattr(settings, "SITE_URL", "") or "").rstrip("/")
    if base:
        return base + path
    return request.build_absolute_uri(path)


def preview_for(
    request: HttpRequest,
    *,
    card: Card,
    title: str,
    description: str,
    path: str,
    image_path: str,
    image_alt: str,
    type: str = "website",
    username: str = "",
    cta: str = "",
) -> Preview:
    version = f"?v={card.key()[:12]}"
    return Preview(
        title=title,
        description=description,
        url=absolute_url(request, path),
        image=absolute_url(request, image_path) + version,
        image_alt=image_alt,
        type=type,
        username=username,
        image_src=image_path + version,
        cta=cta,
    )


def card_png(card: Card) -> tuple[bytes, bool]:
    """The card's PNG and whether it came from the cache."""
    key = CACHE_PREFIX + card.key()
    data = cache.get(key)
    if isinstance(data, bytes):
        return data, True
    data = render_card(card)
    cache.set(key, data, CARD_CACHE_SECONDS)
    return data, False


def card_response(
    request: HttpRequest, card: Card, *, max_age: int, public: bool = True
) -> HttpResponse:
    """The card as image/png, or 304 when the client holds this very card (If-None-Match).

    `public=False` for a card only some signed-in people may see (a ticketed Space's replay):
    shared caches must not hand it to others."""
    etag = f'"{card.key()}"'
    not_modified = get_conditional_response(request, etag=etag)
    if not_modified is not None:
        response = not_modified
    else:
        data, _ = card_png(card)
        response = HttpResponse(data, content_type="image/png")
        response["Content-Length"] = str(len(data))
    response["ETag"] = etag
    if public:
        patch_cache_control(response, public=True, max_age=max_age)
    else:
        patch_cache_control(response, private=True, max_age=max_age)
    return response


def preview_page(request: HttpRequest, preview: Preview) -> HttpResponse:
    """The page a signed-out visitor gets for a page that needs an account: the preview's tags
    and card, and sign-in and sign-up buttons that come back here."""
    context: dict[str, Any] = {"preview": preview, "next": request.get_full_path()}
    return render(request, "preview.html", context)


def signed_out_preview(
    build: Callable[..., Preview | HttpResponse],
) -> Callable[
    [Callable[Concatenate[HttpRequest, P], HttpResponse]],
    Callable[Concatenate[HttpRequest, P], HttpResponse],
]:
    """In place of `login_required` on a page that has a preview: signed in, the page; signed
    out, a GET or HEAD gets `preview.html` (the tags, the card, sign-in and sign-up buttons that
    come back here), anything else the sign-in redirect. `build(request, **view_kwargs)`
    returns the Preview, a response to send instead (a redirect to where the thing is now), or
    raises Http404 (nothing to show a signed-out visitor)."""

    def decorator(
        view: Callable[Concatenate[HttpRequest, P], HttpResponse],
    ) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
            if request.user.is_authenticated:
                return view(request, *args, **kwargs)
            if request.method not in ("GET", "HEAD") or wants_json(request):
                return redirect_to_login(request.get_full_path())
            preview = build(request, *args, **kwargs)
            if isinstance(preview, HttpResponse):
                return preview
            return preview_page(request, preview)

        return wrapper

    return decorator
