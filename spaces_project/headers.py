"""Response headers that go with the Content-Security-Policy (django-csp's middleware writes
that one from settings.CONTENT_SECURITY_POLICY).

Listed after `csp.middleware.CSPMiddleware` in MIDDLEWARE, so its response pass runs first and
can still add to the policy of this one response.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin


def permissions_policy_header(policy: dict[str, list[str]]) -> str:
    """`{"microphone": ["self"], "camera": []}` as `microphone=(self), camera=()`."""
    return ", ".join(f"{feature}=({' '.join(allow)})" for feature, allow in policy.items())


class SecurityHeadersMiddleware(MiddlewareMixin):
    """Adds Permissions-Policy, and the page's own socket origin to `connect-src`.

    `connect-src 'self'` covers same-origin ws:/wss: only in CSP Level 3 browsers (older Safari
    refused the socket), so the exact origin the page's script connects to (`ws(s)://` + the
    host it was served from, already checked against ALLOWED_HOSTS) is named as well.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if "Permissions-Policy" not in response:
            response["Permissions-Policy"] = permissions_policy_header(settings.PERMISSIONS_POLICY)
        try:
            host = request.get_host()
        except DisallowedHost:  # Django answers 400 itself; nothing to allow
            return response
        socket_origin = f"{'wss' if request.is_secure() else 'ws'}://{host}"
        update = dict(getattr(response, "_csp_update", None) or {})
        update["connect-src"] = [*update.get("connect-src", []), socket_origin]
        response._csp_update = update  # type: ignore[attr-defined]
        return response
