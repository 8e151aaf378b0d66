"""Which language a request is answered in, and which codes a person may choose.

One rule for the site and the API (accounts/middleware.py `LanguageMiddleware`, and
spaces_project/drf.py for clients that sign in with a session token, whom the middleware cannot
see): a signed-in person's own setting (`accounts.User.language`) when they chose one; else
Django's choice from the request, which reads the `django_language` cookie (the footer's
switcher sets it through `set_language`) and then Accept-Language (what a mobile client sends).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header
from django.views.decorators.cache import cache_control
from django.views.i18n import JavaScriptCatalog

from spaces_project.errors import ValidationFailed

INVALID_LANGUAGE = "invalid_language"


def language_codes() -> list[str]:
    return [code for code, _ in settings.LANGUAGES]


def clean_language(value: object) -> str:
    """A code from settings.LANGUAGES, or "" (let the browser decide). ValidationFailed with
    code `invalid_language` for anything else."""
    if value is None or value == "":
        return ""
    if isinstance(value, str) and value.strip().lower() in language_codes():
        return value.strip().lower()
    message = translation.gettext("That is not a language the site is offered in.")
    raise ValidationFailed(
        message,
        code=INVALID_LANGUAGE,
        fields={"language": [message]},
    )


def language_for(request: HttpRequest, user: Any = None) -> str:
    """The language to answer `request` in; `user` is its signed-in person, if any."""
    chosen = getattr(user, "language", "") if getattr(user, "is_authenticated", False) else ""
    if chosen in language_codes():
        return str(chosen)
    return translation.get_language_from_request(request)


def activate_for(request: Any, user: Any = None) -> str:
    """Activate the language for `request` (a Django or DRF request) and note it on the request,
    as LocaleMiddleware does (`request.LANGUAGE_CODE`)."""
    django_request = getattr(request, "_request", request)
    language = language_for(django_request, user)
    translation.activate(language)
    django_request.LANGUAGE_CODE = translation.get_language()
    return language


def language_for_scope(scope: Any) -> str:
    """The same rule for a socket, from its handshake: the signed-in person's setting, else the
    `django_language` cookie, else Accept-Language, else the default. The consumers activate it
    in `connect`, so every `error` frame of the socket is in its person's language."""
    user = scope.get("user")
    chosen = getattr(user, "language", "") if getattr(user, "is_authenticated", False) else ""
    if chosen in language_codes():
        return str(chosen)
    cookie = (scope.get("cookies") or {}).get(settings.LANGUAGE_COOKIE_NAME)
    accept = ""
    for key, value in scope.get("headers", []):
        if key == b"accept-language":
            accept = value.decode("latin-1")
    for code in [cookie or "", *(code for code, _ in parse_accept_lang_header(accept))]:
        if not code or code == "*":
            continue
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE


# --- The JavaScript catalog -------------------------------------------------------------------
# static/js/i18n.js reads `window.django` (gettext, ngettext, interpolate), which Django's
# JavaScriptCatalog defines. The catalog is a script from the site's own origin, so the CSP's
# `script-src 'self'` allows it, loaded by base.html before the modules. Its URL names the
# language and a digest of the compiled catalogs, so it is cached for a year and a new
# translation is a new URL; English pages load none (the strings are already English).


def _catalog_files(language: str) -> list[Path]:
    files = []
    for folder in [*settings.LOCALE_PATHS, *_app_locale_folders()]:
        path = Path(folder) / language / "LC_MESSAGES" / "djangojs.mo"
        if path.exists():
            files.append(path)
    return files


def _app_locale_folders() -> list[Path]:
    from django.apps import apps

    return [Path(config.path) / "locale" for config in apps.get_app_configs()]


@functools.cache
def catalog_version(language: str) -> str:
    digest = hashlib.blake2b(digest_size=6)
    for path in _catalog_files(language):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def javascript_catalog_url(language: str | None = None) -> str | None:
    """The catalog script for `language` (default: the active one); None for English."""
    language = (language or translation.get_language() or "en").split("-")[0]
    if language == "en" or language not in language_codes():
        return None
    return (
        reverse("javascript-catalog", kwargs={"language": language})
        + f"?v={catalog_version(language)}"
    )


@cache_control(public=True, max_age=365 * 86400, immutable=True)
def javascript_catalog(request: HttpRequest, language: str) -> HttpResponseBase:
    if language not in language_codes():
        raise Http404("No such language.")
    with translation.override(language):
        return JavaScriptCatalog.as_view(domain="djangojs")(request)
