"""The viewer's time zone for each request of the site (spaces_project/timezones.py).

Signed in: the user's zone. A user who has none yet gets the zone their browser reported in the
`tz` cookie (static/js/time.js writes it on every page, signed in or not), stored once
(`user_time_zone_guess`), so the first page after signing up is already in their time. Signed
out: the cookie, else UTC. A cookie that is not a zone is ignored.

The API is left in UTC: its clients get ISO 8601 with offsets and convert for themselves, and
the same request must not answer `+01:00` to one user and `Z` to another.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers

from accounts.models import User
from accounts.services import user_time_zone_guess
from spaces_project.errors import ValidationFailed
from spaces_project.languages import activate_for
from spaces_project.timezones import zone_named

COOKIE_NAME = "tz"
# Paths of machine clients: the REST API, allauth's headless API, the schema and its docs.
MACHINE_PREFIXES = ("/api/", "/_allauth/")


class TimeZoneMiddleware:
    """Goes after AuthenticationMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(MACHINE_PREFIXES):
            timezone.deactivate()
            return self.get_response(request)
        timezone.activate(zone_named(self._zone_name(request)))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

    def _zone_name(self, request: HttpRequest) -> str:
        guess = request.COOKIES.get(COOKIE_NAME, "")
        user = getattr(request, "user", None)
        if not isinstance(user, User) or not user.is_authenticated:
            return guess
        if not user.time_zone and guess:
            try:
                return user_time_zone_guess(user=user, time_zone=guess)
            except ValidationFailed:
                return ""
        return user.time_zone


class LanguageMiddleware:
    """The viewer's language, for the site and the API alike (spaces_project/languages.py):
    their own setting, else the `django_language` cookie, else Accept-Language. Goes after
    AuthenticationMiddleware, which Django's LocaleMiddleware cannot (it runs before the user
    is known); what it adds to the response is LocaleMiddleware's."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        activate_for(request, getattr(request, "user", None))
        try:
            response = self.get_response(request)
            # A page differs by language: caches must key on what chose it.
            patch_vary_headers(response, ("Accept-Language", "Cookie"))
            response.headers.setdefault("Content-Language", translation.get_language())
            return response
        finally:
            translation.deactivate()
