from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path, re_path
from django.urls.resolvers import RoutePattern
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from spaces_project.api import api_not_found
from spaces_project.headless import HeadlessResolver
from spaces_project.languages import javascript_catalog

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("spaces.urls")),
    path("", include("scheduling.urls")),
    path("", include("ticketing.urls")),
    path("", include("replays.urls")),
    path("", include("webpush.urls")),
    path("", include("alerts.urls")),
]

# Sign-up, login and sessions are allauth's headless API, documented by its own specification:
# the API docs link it (the schema's `externalDocs`, shown at the top of /api/docs/).
HEADLESS_SPEC = {
    "url": "/_allauth/openapi.json",
    "description": "Sign-up, login, logout and sessions: the headless auth API's own OpenAPI "
    "document (the `app` client is for mobile apps).",
}

HEADLESS_URLS, HEADLESS_APP, HEADLESS_NS = include("allauth.headless.urls")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    # allauth's headless API: /_allauth/app/v1/... for mobile apps (X-Session-Token), and its
    # OpenAPI document at /_allauth/openapi.json. Mounted as `path("_allauth/", include(...))`
    # would, by a resolver that adds Retry-After to its 429s (spaces_project/headless.py).
    HeadlessResolver(
        RoutePattern("_allauth/"), HEADLESS_URLS, app_name=HEADLESS_APP, namespace=HEADLESS_NS
    ),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(custom_settings={"EXTERNAL_DOCS": HEADLESS_SPEC}),
        name="api-schema",
    ),
    # Swagger UI with its start-up script as a file (no inline script under the CSP); only its
    # page's own inline <style> is allowed, on this page alone.
    path(
        "api/docs/",
        csp_update({"style-src": ["'unsafe-inline'"]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
    path("api/v1/", include(api_v1)),
    # Anything else under /api/ answers in the API's error shape, not with an HTML page.
    re_path(r"^api/", api_not_found),
    # The footer's language switcher (Django's set_language: the `django_language` cookie), and
    # the JavaScript catalog of static/js/i18n.js (spaces_project/languages.py).
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/<str:language>/", javascript_catalog, name="javascript-catalog"),
    path("", include("accounts.site_urls")),
    path("", include("spaces.site_urls")),
    path("", include("scheduling.site_urls")),
    path("", include("ticketing.site_urls")),
    path("", include("replays.site_urls")),
    path("", include("webpush.site_urls")),
    path("", include("alerts.site_urls")),
]
