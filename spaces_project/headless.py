"""allauth's headless API, mounted with a `Retry-After` on its 429s.

allauth answers a headless request over one of its rate limits (ACCOUNT_RATE_LIMITS: `login`
30/m per address, `signup` 20/m, ...) with a bare `429 {"status": 429}` and offers no hook to
change it (`allauth.core.internal.ratelimit.respond_429`). So the resolver that mounts the
headless URLs wraps each of their views and adds `Retry-After`: the seconds until the oldest
counted request leaves the window of the limit that is full, read from allauth's own counters.

The failed-login lockout (`login_failed`: 5 wrong passwords per account in 5 minutes) is not one
of these: allauth reports it as an input error, 400 with `too_many_login_attempts`, as its
specification documents; it is left so (README, "API for mobile clients").
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import Any

from allauth.account import app_settings as account_settings
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.core.internal.ratelimit import Rate, get_cache_key, get_rates
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.urls import URLResolver
from django.urls.resolvers import ResolverMatch

# The headless URL names whose views consume an allauth rate limit, and the limit's action.
ACTION_OF_URL = {
    "login": "login",
    "signup": "signup",
    "request_password_reset": "reset_password",
    "reset_password": "reset_password_from_key",
    "change_password": "change_password",
    "manage_email": "manage_email",
    "manage_phone": "change_phone",
    "reauthenticate": "reauthenticate",
}
APP = "allauth.account"


def _rates(url_name: str | None) -> list[tuple[str, Rate]]:
    """The limits that may have refused this request: its endpoint's, or (an endpoint the
    table does not know, such as the verification e-mail a signup sends) all of them."""
    action = ACTION_OF_URL.get(url_name or "")
    actions = [action] if action else list(account_settings.RATE_LIMITS)
    return [(a, rate) for a in actions for rate in get_rates(app=APP, action=a)]


def _wait(request: HttpRequest, action: str, rate: Rate, now: float) -> float | None:
    """Seconds until `rate` lets this client through, or None when it is not full or cannot
    be read (a per-key limit: its key, an e-mail address, is inside the request body)."""
    if rate.per == "key" or (rate.per == "user" and not request.user.is_authenticated):
        return None
    key = get_cache_key(request, app=APP, action=action, rate=rate)
    counted = sorted(t for t in cache.get(key, []) if t > now - rate.duration)
    if len(counted) < rate.amount:
        return None
    # A slot frees when enough of the oldest leave the window to bring the count under amount.
    return counted[len(counted) - rate.amount] + rate.duration - now


def retry_after(request: HttpRequest) -> int:
    match = request.resolver_match
    rates = _rates(match.url_name if match else None)
    now = time.time()
    waits = [w for action, rate in rates if (w := _wait(request, action, rate, now)) is not None]
    if not waits:
        # A full per-key limit: at most its whole window.
        waits = [rate.duration for _, rate in rates] or [60]
    return max(1, math.ceil(max(waits)))


def _with_retry_after(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if response.status_code == 429 and not response.has_header("Retry-After"):
        response["Retry-After"] = str(retry_after(request))
    return response


def retry_after_on_429(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    # functools.wraps copies the view's attributes too (csrf_exempt, view_class).
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return _with_retry_after(request, view(request, *args, **kwargs))
        except ImmediateHttpResponse as exc:
            # allauth's AccountMiddleware answers with exc.response (a 429 from the e-mail
            # verification flow comes this way).
            _with_retry_after(request, exc.response)
            raise

    return wrapped


class HeadlessResolver(URLResolver):
    """Resolves like the resolver `path("_allauth/", include(...))` makes, and hands out the
    matched view wrapped by `retry_after_on_429`."""

    def resolve(self, path: str) -> ResolverMatch:
        match = super().resolve(path)
        match.func = retry_after_on_429(match.func)
        return match
