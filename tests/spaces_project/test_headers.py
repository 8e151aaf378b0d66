"""Every page answers with a strict Content-Security-Policy and a Permissions-Policy that lets
the microphone be used by the site itself only (issue #16, item 5). The same pages are loaded in
Chromium by tests/e2e with no policy violation in the console."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from scheduling.services import schedule as scheduling_schedule
from spaces.models import Space
from tests.factories import UserFactory, every_page_type

pytestmark = pytest.mark.django_db


def directives(response: Any) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    parsed: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.fixture
def world(settings: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(scheduling_schedule, "_kick_sweep", lambda: None)
    settings.SPACES_HOST_MIN_FOLLOWERS = 1
    settings.SPACES_TICKETED_MIN_FOLLOWERS = 1
    settings.PAYMENT_PROVIDERS = ["offline"]
    return every_page_type(host_name="hostess", listener_name="lis")


def pages(w: dict[str, Any]) -> list[tuple[str, User | None, str]]:
    host, listener = w["host"], w["listener"]
    live: Space = w["live"]
    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    return [
        ("landing", None, reverse("home")),
        ("login", None, reverse("account_login")),
        ("signup", None, reverse("account_signup")),
        ("admin login", None, "/admin/login/"),
        ("api docs", None, reverse("api-docs")),
        ("home", listener, reverse("home")),
        ("space list", listener, reverse("space_list")),
        ("ended list", listener, reverse("space_ended_list")),
        ("new space", host, reverse("space_new")),
        ("space as host", host, reverse("space_detail", args=[live.pk])),
        ("space as listener", listener, reverse("space_detail", args=[live.pk])),
        ("ended space", listener, reverse("space_detail", args=[w["ended"].pk])),
        ("scheduled list", listener, reverse("scheduled_list")),
        ("scheduled detail", listener, reverse("scheduled_detail", args=[w["scheduled"].pk])),
        ("ticket buy", listener, reverse("ticket_buy", args=[w["ticketed"].pk])),
        ("tickets mine", listener, reverse("tickets_mine")),
        ("profile", listener, reverse("profile", args=[host.username])),
        ("settings", listener, reverse("settings_profile")),
        ("notifications", listener, reverse("notifications")),
        ("admin", staff, "/admin/"),
        ("not found", listener, "/no-such-page/"),
        ("api", listener, "/api/v1/me"),
    ]


def test_every_page_type_answers_with_csp_and_permissions_policy(world):
    for name, who, path in pages(world):
        client = Client()
        if who is not None:
            client.force_login(who)
        response = client.get(path)
        assert response.status_code in (200, 404), (name, response.status_code)
        assert "Content-Security-Policy" in response, name
        policy = directives(response)
        assert policy["default-src"] == ["'self'"], name
        assert policy["frame-ancestors"] == ["'none'"], name
        assert policy["base-uri"] == ["'self'"], name
        assert policy["object-src"] == ["'none'"], name
        assert policy["form-action"][0] == "'self'", name
        if name != "api docs":  # Swagger UI's own page keeps an inline <style> (below)
            assert policy["script-src"] == ["'self'"], name
            assert policy["style-src"] == ["'self'"], name
        assert policy["img-src"] == ["'self'", "data:"], name
        assert policy["media-src"] == ["'self'", "blob:"], name
        assert policy["connect-src"] == ["'self'", "ws://testserver"], name
        permissions = response["Permissions-Policy"]
        assert "microphone=(self)" in permissions, name
        assert "camera=()" in permissions, name
        assert "geolocation=()" in permissions, name


def test_the_socket_origin_follows_the_scheme_and_host(world, settings):
    settings.ALLOWED_HOSTS = ["spaces.example"]
    response = Client().get("/", HTTP_HOST="spaces.example", secure=True)
    assert directives(response)["connect-src"] == ["'self'", "wss://spaces.example"]


def test_api_docs_run_no_inline_script(world):
    """Swagger UI's start-up script is served as a file from the same URL (the split view), so
    the docs page needs no `'unsafe-inline'` for scripts; only its one inline <style>."""
    response = Client().get(reverse("api-docs"))
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    body = response.content.decode()
    assert "<script>" not in body
    assert "/static/drf_spectacular_sidecar/" in body
