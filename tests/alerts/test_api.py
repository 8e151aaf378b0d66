"""The alerts API: the bell (`/users/<username>/alerts`) and the switches (`/me/alerts`), and
what it answers to bad input, in the API's one error shape."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from accounts.models import Block, Follow
from tests.factories import FollowFactory, UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def put(client: APIClient, path: str, body: object) -> object:
    return client.put(path, json.dumps(body), content_type="application/json")


@pytest.fixture
def followed(user):
    star = UserFactory(username="star")
    FollowFactory(follower=user, followee=star)
    return star


def bell(follower, followee) -> str:
    return Follow.objects.get(follower=follower, followee=followee).alerts


# --- The bell ----------------------------------------------------------------------------------


def test_a_new_follow_has_the_bell_on(auth_client, followed):
    response = auth_client.get("/api/v1/users/star/alerts")

    assert response.status_code == 200
    assert response.json() == {"username": "star", "alerts": "all"}


def test_the_bell_is_turned_off_and_on(auth_client, user, followed):
    response = put(auth_client, "/api/v1/users/STAR/alerts", {"alerts": "none"})

    assert response.status_code == 200, response.content
    assert response.json() == {"username": "star", "alerts": "none"}
    assert bell(user, followed) == "none"
    assert put(auth_client, "/api/v1/users/star/alerts", {"alerts": "all"}).json()["alerts"] == (
        "all"
    )
    assert bell(user, followed) == "all"


@pytest.mark.parametrize(
    "body",
    [
        {"alerts": 1},
        {"alerts": True},
        {"alerts": None},
        {"alerts": ["none"]},
        {"alerts": "some"},
        {"alerts": "NONE"},
        {"alerts": "none\x00"},
        {},
        {"alerts": "none", "email": True},
        ["none"],
        "none",
    ],
)
def test_a_bad_bell_is_400_invalid_and_changes_nothing(auth_client, user, followed, body):
    assert_error(put(auth_client, "/api/v1/users/star/alerts", body), 400, "invalid")
    assert bell(user, followed) == "all"


def test_the_bell_on_someone_you_do_not_follow_is_409(auth_client):
    UserFactory(username="stranger")

    assert_error(auth_client.get("/api/v1/users/stranger/alerts"), 409, "not_following")
    error = assert_error(
        put(auth_client, "/api/v1/users/stranger/alerts", {"alerts": "none"}), 409, "not_following"
    )
    assert error["message"] == "Follow them first."


def test_your_own_bell_is_409_not_following(auth_client, user):
    assert_error(
        put(auth_client, f"/api/v1/users/{user.username}/alerts", {"alerts": "none"}),
        409,
        "not_following",
    )


@pytest.mark.parametrize("username", ["nobody", "st%00ar", "%00"])
def test_an_unknown_user_is_404(auth_client, followed, username):
    assert_error(
        put(auth_client, f"/api/v1/users/{username}/alerts", {"alerts": "none"}), 404, "not_found"
    )


def test_a_deactivated_user_is_404(auth_client, followed):
    followed.is_active = False
    followed.save()

    assert_error(auth_client.get("/api/v1/users/star/alerts"), 404, "not_found")


def test_you_change_only_your_own_bell(client_for, user, followed):
    other = UserFactory(username="other")
    FollowFactory(follower=other, followee=followed)

    response = put(client_for(other), "/api/v1/users/star/alerts", {"alerts": "none"})

    assert response.status_code == 200
    assert bell(other, followed) == "none"
    assert bell(user, followed) == "all"


def test_the_bell_after_a_block_is_409(auth_client, user, followed):
    # A block removes the follows (accounts.services.block_create): there is no bell left.
    from accounts.services import block_create

    block_create(blocker=followed, blocked=user)

    assert Block.objects.exists()
    assert_error(
        put(auth_client, "/api/v1/users/star/alerts", {"alerts": "all"}), 409, "not_following"
    )


def test_signed_out_is_401(api_client, followed):
    assert_error(api_client.get("/api/v1/users/star/alerts"), 401, "not_authenticated")
    assert_error(
        put(api_client, "/api/v1/users/star/alerts", {"alerts": "none"}), 401, ("not_authenticated")
    )


# --- The switches ------------------------------------------------------------------------------


def test_the_switches_start_with_alerts_on_and_email_off(auth_client):
    response = auth_client.get("/api/v1/me/alerts")

    assert response.status_code == 200
    assert response.json() == {"live_alerts": True, "live_alert_emails": False}


def test_each_switch_changes_alone(auth_client, user):
    response = put(auth_client, "/api/v1/me/alerts", {"live_alert_emails": True})

    assert response.json() == {"live_alerts": True, "live_alert_emails": True}
    response = put(auth_client, "/api/v1/me/alerts", {"live_alerts": False})
    assert response.json() == {"live_alerts": False, "live_alert_emails": True}
    user.refresh_from_db()
    assert (user.live_alerts, user.live_alert_emails) == (False, True)
    assert put(auth_client, "/api/v1/me/alerts", {}).json() == {
        "live_alerts": False,
        "live_alert_emails": True,
    }


@pytest.mark.parametrize(
    "body",
    [
        {"live_alerts": "false"},
        {"live_alerts": 0},
        {"live_alerts": None},
        {"live_alert_emails": "yes"},
        {"live_alert_emails": "\x00"},
        {"live_alerts": False, "alerts": "none"},
        [True],
    ],
)
def test_bad_switches_are_400_invalid_and_change_nothing(auth_client, user, body):
    assert_error(put(auth_client, "/api/v1/me/alerts", body), 400, "invalid")
    user.refresh_from_db()
    assert (user.live_alerts, user.live_alert_emails) == (True, False)


def test_a_body_that_is_not_json_is_refused(auth_client):
    response = auth_client.generic(
        "PUT", "/api/v1/me/alerts", '{"live_alerts": ', content_type="application/json"
    )
    assert_error(response, 400, "malformed_request")
    response = auth_client.generic(
        "PUT", "/api/v1/me/alerts", "live_alerts=false", content_type="text/plain"
    )
    assert_error(response, 415, "unsupported_media_type")


def test_switches_signed_out_are_401(api_client):
    assert_error(api_client.get("/api/v1/me/alerts"), 401, "not_authenticated")


def test_the_operations_are_in_the_schema(auth_client):
    schema = auth_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operations = {
        op["operationId"]: op
        for path in ("/api/v1/users/{username}/alerts", "/api/v1/me/alerts")
        for op in schema["paths"][path].values()
    }
    assert set(operations) == {
        "alerts_follow_retrieve",
        "alerts_follow_update",
        "alerts_settings_retrieve",
        "alerts_settings_update",
    }
    assert "409" in operations["alerts_follow_update"]["responses"]
