"""The site pages' shared pieces: who is signed in, where a form goes back to, and how a
service's refusal reaches the page (a message, form errors, or JSON for the page's script).

The API's counterparts are in `api.py`; both answer a refusal with the same code and message.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.utils.http import url_has_allowed_host_and_scheme

from spaces_project.errors import ApplicationError, RateLimited, ValidationFailed

HLS_SCRIPT = "vendor/hls.light.min.js"


def hls_script_url() -> str | None:
    """hls.js when `make vendor` put it in static/vendor/, else None (pages then rely on the
    browser's own HLS). Looked up per page, so installing it needs no restart. The replay page
    and the Space page (live HLS listeners) both load it."""
    if finders.find(HLS_SCRIPT) is None:
        return None
    try:
        return static(HLS_SCRIPT)
    except ValueError:  # found in static/, but not collected into the manifest
        return None


def signed_in(request: HttpRequest) -> Any:
    """The signed-in user of a view behind `login_required`: never anonymous there."""
    user = request.user
    assert isinstance(user, get_user_model())
    return user


def back(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    """Return to the page the form was posted from (`next`, in the form or the query), when it
    is on this site; else to `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = fallback
    return redirect(target)


def wants_json(request: HttpRequest) -> bool:
    """The page's script asks for JSON (`Accept: application/json`) where a form gets a page."""
    return "application/json" in request.headers.get("Accept", "")


def error_json(error: ApplicationError) -> JsonResponse:
    """A refusal for the page's script: `{"ok": false, "error": {"code", "message", "fields"}}`
    with the service's status, and `retry_after` (seconds) when rate-limited."""
    body: dict[str, Any] = {"code": error.code, "message": error.message, "fields": error.fields}
    if isinstance(error, RateLimited) and error.retry_after is not None:
        body["retry_after"] = round(error.retry_after, 3)
    return JsonResponse({"ok": False, "error": body}, status=error.status)


def form_add_refusal(form: forms.Form, error: ApplicationError) -> None:
    """Show a service's refusal on the form: each field error beside its field (or above the
    form when the form has no such field), else the message above the form."""
    for name, messages in error.fields.items():
        form.add_error(name if name in form.fields else None, messages)
    if not error.fields:
        form.add_error(None, error.message)


def form_refusal(form: forms.Form, message: str | None = None) -> ApplicationError:
    """An invalid form as the refusal a service would raise (`invalid`, with its fields), so a
    page answers it like any other: `message`, or the form's first error."""
    fields = {name: [str(e) for e in errs] for name, errs in form.errors.items()}
    return ValidationFailed(message or next(iter(fields.values()))[0], fields=fields)
