from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from spaces_project.api import api_not_found

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("spaces.urls")),
    path("", include("scheduling.urls")),
    path("", include("ticketing.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    # allauth's headless API: /_allauth/app/v1/... for mobile apps (X-Session-Token).
    path("_allauth/", include("allauth.headless.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include(api_v1)),
    # Anything else under /api/ answers in the API's error shape, not with an HTML page.
    re_path(r"^api/", api_not_found),
    path("", include("accounts.site_urls")),
    path("", include("spaces.site_urls")),
    path("", include("scheduling.site_urls")),
    path("", include("ticketing.site_urls")),
]
