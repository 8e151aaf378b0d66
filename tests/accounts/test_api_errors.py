"""What the API answers to bad requests: every 4xx in the one error shape."""

from __future__ import annotations

import json

import pytest
from django.utils.crypto import get_random_string
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from accounts.models import Follow
from spaces_project.drf import WriteRateThrottle
from tests.factories import UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def patch_me(client: APIClient, body: bytes | str, content_type: str = "application/json"):
    return client.generic("PATCH", "/api/v1/me", body, content_type=content_type)


# --- Bodies -----------------------------------------------------------------------------------


def test_malformed_json_is_400_malformed_request(auth_client):
    assert_error(patch_me(auth_client, '{"bio": '), 400, "malformed_request")


def test_json_that_is_not_utf8_is_400_malformed_request(auth_client):
    assert_error(patch_me(auth_client, b'{"bio": "\xff\xfe"}'), 400, "malformed_request")


def test_json_with_nan_is_400_malformed_request(auth_client):
    assert_error(patch_me(auth_client, '{"bio": NaN}'), 400, "malformed_request")


def test_pathologically_nested_json_is_400_malformed_request(auth_client):
    depth = 50_000
    assert_error(patch_me(auth_client, "[" * depth + "]" * depth), 400, "malformed_request")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("bio=hello", "application/x-www-form-urlencoded"), ("hello", "text/plain")],
)
def test_a_body_that_is_not_json_is_415(auth_client, user, body, content_type):
    response = patch_me(auth_client, body, content_type)

    assert_error(response, 415, "unsupported_media_type")
    user.refresh_from_db()
    assert user.bio == ""


def test_a_body_over_256_kib_is_413_request_too_large(auth_client, user):
    body = json.dumps({"bio": "x" * (256 * 1024)})

    assert_error(patch_me(auth_client, body), 413, "request_too_large")
    user.refresh_from_db()
    assert user.bio == ""


def test_a_large_body_under_the_limit_is_judged_on_its_fields(auth_client):
    body = json.dumps({"bio": "x" * (200 * 1024)})

    error = assert_error(patch_me(auth_client, body), 400, "invalid")
    assert list(error["fields"]) == ["bio"]


def test_the_body_limit_follows_the_setting(settings, auth_client):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64

    assert_error(patch_me(auth_client, json.dumps({"bio": "x" * 100})), 413, "request_too_large")
    assert patch_me(auth_client, json.dumps({"bio": "short"})).status_code == 200


# --- Routing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/me/", "/api/v1/users/bob/nope"])
def test_an_unknown_api_path_is_404_in_the_error_shape(auth_client, api_client, path):
    assert_error(auth_client.get(path), 404, "not_found")
    assert_error(api_client.post(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [("put", "/api/v1/me"), ("delete", "/api/v1/notifications"), ("get", "/api/v1/users/x/follow")],
)
def test_a_method_an_endpoint_does_not_have_is_405(auth_client, method, path):
    assert_error(getattr(auth_client, method)(path), 405, "method_not_allowed")


# --- Throttling -------------------------------------------------------------------------------


@pytest.fixture
def write_rate(settings, monkeypatch):
    """Lower the write rate for one test.

    DRF reloads `api_settings` when the setting changes, but the throttle class read its rates
    once at import, so the class attribute is pointed at the reloaded ones too.
    """

    def set_rate(rate: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                "write": rate,
            },
        }
        monkeypatch.setattr(
            WriteRateThrottle, "THROTTLE_RATES", api_settings.DEFAULT_THROTTLE_RATES
        )

    return set_rate


def test_too_many_writes_are_429_rate_limited_with_retry_after(write_rate, auth_client, other_user):
    write_rate("3/min")
    for _ in range(3):
        assert auth_client.post("/api/v1/users/bob/follow").status_code in (200, 201)

    response = auth_client.delete("/api/v1/users/bob/follow")

    assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) > 0
    assert Follow.objects.count() == 1  # the refused unfollow did not run


def test_reads_are_not_counted_against_the_write_rate(write_rate, auth_client, other_user):
    write_rate("1/min")
    for _ in range(5):
        assert auth_client.get("/api/v1/users/bob").status_code == 200

    assert auth_client.post("/api/v1/users/bob/follow").status_code == 201


def test_the_write_rate_is_counted_per_user(write_rate, auth_client, client_for, other_user):
    write_rate("1/min")
    assert auth_client.post("/api/v1/users/bob/follow").status_code == 201
    assert_error(auth_client.post("/api/v1/users/bob/follow"), 429, "rate_limited")

    carol = client_for(UserFactory(username="carol"))
    assert carol.post("/api/v1/users/bob/follow").status_code == 201


# --- Site session ---------------------------------------------------------------------------


def test_a_site_session_works_for_reads_but_writes_need_the_csrf_token(user, other_user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/api/v1/me").json()["username"] == "alice"

    refused = client.post("/api/v1/users/bob/follow")
    assert "CSRF" in assert_error(refused, 403, "forbidden")["message"]
    assert not Follow.objects.exists()

    token = get_random_string(32)
    client.cookies["csrftoken"] = token
    assert client.post("/api/v1/users/bob/follow", HTTP_X_CSRFTOKEN=token).status_code == 201
