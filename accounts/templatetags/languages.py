"""The language pieces of base.html: the JavaScript catalog's URL and the footer's switcher."""

from __future__ import annotations

from django import template
from django.conf import settings

from spaces_project.languages import javascript_catalog_url

register = template.Library()


@register.simple_tag
def js_catalog_url() -> str | None:
    return javascript_catalog_url()


@register.simple_tag
def site_languages() -> list[tuple[str, str]]:
    return list(settings.LANGUAGES)
