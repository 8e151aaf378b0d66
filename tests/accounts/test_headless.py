"""Mobile sign-up and login through allauth's headless API, then our API with the token."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import Follow, User
from tests.factories import PASSWORD, UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

APP = "/_allauth/app/v1"


def signup(client: APIClient, username: str, password: str = "a-long-enough-passphrase") -> str:
    response = client.post(
        f"{APP}/auth/signup",
        {"email": f"{username}@example.com", "username": username, "password": password},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["meta"]["is_authenticated"] is True
    return response.json()["meta"]["session_token"]


def test_sign_up_then_use_the_session_token_on_the_api(api_client):
    token = signup(api_client, "newbie")

    response = APIClient().get("/api/v1/me", HTTP_X_SESSION_TOKEN=token)

    assert response.status_code == 200
    assert response.json()["username"] == "newbie"
    assert response.json()["email"] == "newbie@example.com"
    assert User.objects.filter(username="newbie").exists()


def test_log_in_with_username_then_follow_with_the_token_and_no_csrf(other_user):
    UserFactory(username="alice")
    client = APIClient(enforce_csrf_checks=True)

    login = client.post(
        f"{APP}/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert login.status_code == 200, login.content
    token = login.json()["meta"]["session_token"]

    app = APIClient(enforce_csrf_checks=True)
    assert app.get("/api/v1/me", HTTP_X_SESSION_TOKEN=token).json()["username"] == "alice"
    follow = app.post("/api/v1/users/bob/follow", HTTP_X_SESSION_TOKEN=token)
    assert follow.status_code == 201
    assert Follow.objects.filter(follower__username="alice", followee=other_user).exists()


def test_log_in_with_email_works_too():
    UserFactory(username="alice")

    login = APIClient().post(
        f"{APP}/auth/login", {"email": "alice@example.com", "password": PASSWORD}, format="json"
    )

    assert login.status_code == 200, login.content
    token = login.json()["meta"]["session_token"]
    assert APIClient().get("/api/v1/me", HTTP_X_SESSION_TOKEN=token).status_code == 200


def test_a_wrong_password_gives_no_token():
    UserFactory(username="alice")

    login = APIClient().post(
        f"{APP}/auth/login", {"username": "alice", "password": "wrong-password"}, format="json"
    )

    assert login.status_code == 400
    assert "session_token" not in login.json().get("meta", {})


def test_an_invalid_session_token_is_401_in_the_error_shape(api_client):
    response = api_client.get("/api/v1/me", HTTP_X_SESSION_TOKEN="not-a-real-token")

    assert_error(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"]


def test_a_token_stops_working_after_logout(api_client):
    token = signup(api_client, "newbie")

    logout = APIClient().delete(f"{APP}/auth/session", HTTP_X_SESSION_TOKEN=token)
    assert logout.status_code == 401  # allauth answers "now logged out" with 401

    assert_error(
        APIClient().get("/api/v1/me", HTTP_X_SESSION_TOKEN=token), 401, "authentication_failed"
    )


def test_a_deactivated_users_token_is_refused(api_client):
    token = signup(api_client, "newbie")
    User.objects.filter(username="newbie").update(is_active=False)

    assert_error(
        APIClient().get("/api/v1/me", HTTP_X_SESSION_TOKEN=token), 401, "authentication_failed"
    )


def error_codes(response) -> list[str]:
    return [error["code"] for error in response.json().get("errors", [])]


def test_repeated_failed_logins_lock_the_account_out_even_for_the_right_password(api_client):
    UserFactory(username="target")
    attempts = [
        api_client.post(
            f"{APP}/auth/login", {"username": "target", "password": "wrong"}, format="json"
        )
        for _ in range(7)
    ]
    codes = [error_codes(r) for r in attempts]
    # allauth's login_failed limit (5 per account per 5 minutes) answers in its own flow shape.
    assert codes[:5] == [["username_password_mismatch"]] * 5
    assert codes[5:] == [["too_many_login_attempts"]] * 2
    locked_out = api_client.post(
        f"{APP}/auth/login", {"username": "target", "password": PASSWORD}, format="json"
    )
    assert locked_out.status_code == 400
    assert error_codes(locked_out) == ["too_many_login_attempts"]
    assert "session_token" not in locked_out.json().get("meta", {})


# --- The headless API's own specification and its rate limits ----------------------------------


def test_the_headless_auth_api_serves_its_openapi_specification(api_client):
    response = api_client.get("/_allauth/openapi.json")

    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    assert "/_allauth/{client}/v1/auth/login" in spec["paths"]
    assert "/_allauth/{client}/v1/auth/signup" in spec["paths"]
    # allauth's HTML page loads Redoc from a CDN: not served (the JSON and YAML are enough).
    assert api_client.get("/_allauth/openapi.html").status_code == 404


def test_the_api_docs_link_the_headless_specification(api_client):
    schema = api_client.get("/api/schema/?format=json").json()

    assert schema["externalDocs"]["url"] == "/_allauth/openapi.json"


def test_a_rate_limited_headless_login_is_429_with_retry_after(settings, api_client):
    settings.ACCOUNT_RATE_LIMITS = {"login": "2/m/ip"}
    UserFactory(username="alice")
    attempts = [
        api_client.post(
            f"{APP}/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
        )
        for _ in range(3)
    ]

    assert [r.status_code for r in attempts[:2]] == [200, 200]
    limited = attempts[2]
    assert limited.status_code == 429
    assert limited.json() == {"status": 429}
    assert 1 <= int(limited["Retry-After"]) <= 60


def test_retry_after_says_when_the_oldest_counted_request_leaves_the_window(
    settings, api_client, monkeypatch
):
    settings.ACCOUNT_RATE_LIMITS = {"signup": "1/5m/ip"}
    clock = [1_000_000.0]
    monkeypatch.setattr("time.time", lambda: clock[0])
    signup(api_client, "first")

    clock[0] += 100
    limited = APIClient().post(
        f"{APP}/auth/signup",
        {"email": "second@example.com", "username": "second", "password": "a-long-passphrase"},
        format="json",
    )

    assert limited.status_code == 429
    assert limited["Retry-After"] == "200"
