"""GET and PATCH /api/v1/me."""

from __future__ import annotations

import pytest

from accounts.models import User
from tests.factories import FollowFactory, SpaceFactory, UserFactory, make_followers
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def test_me_shows_my_account_with_counts(auth_client, user, other_user):
    make_followers(user, 3)
    FollowFactory(follower=user, followee=other_user)

    response = auth_client.get("/api/v1/me")

    assert response.status_code == 200
    assert response.json() == {
        "id": user.pk,
        "username": "alice",
        "display_name": "Alice",
        "bio": "",
        "email": "alice@example.com",
        "email_notifications": True,
        "language": "",
        "follower_count": 3,
        "following_count": 1,
        "can_host": False,
    }


def test_me_id_is_the_user_id_the_space_socket_and_its_events_use(auth_client, user):
    # Socket actions take `user_id` and events name people by `user.id`: an app must learn its
    # own id from /me to find itself in a room.
    space = SpaceFactory()

    place = auth_client.post(f"/api/v1/spaces/{space.pk}/join").json()

    assert auth_client.get("/api/v1/me").json()["id"] == place["user"]["id"] == user.pk


def test_me_says_can_host_once_i_have_enough_followers(settings, client_for):
    settings.SPACES_HOST_MIN_FOLLOWERS = 3
    almost = UserFactory(username="almost")
    make_followers(almost, 2)
    assert client_for(almost).get("/api/v1/me").json()["can_host"] is False

    make_followers(almost, 1, prefix="third-")
    assert client_for(almost).get("/api/v1/me").json()["can_host"] is True


def test_me_takes_one_query_however_many_followers(django_assert_num_queries, auth_client, user):
    make_followers(user, 2)
    with django_assert_num_queries(1):
        assert auth_client.get("/api/v1/me").json()["follower_count"] == 2

    make_followers(user, 30, prefix="more-")
    with django_assert_num_queries(1):
        assert auth_client.get("/api/v1/me").json()["follower_count"] == 32


def test_me_needs_authentication(api_client):
    assert_error(api_client.get("/api/v1/me"), 401, "not_authenticated")
    assert_error(
        api_client.patch("/api/v1/me", {"bio": "x"}, format="json"), 401, "not_authenticated"
    )


def test_patch_me_changes_only_the_fields_sent(auth_client, user):
    user.bio = "old bio"
    user.save()

    response = auth_client.patch("/api/v1/me", {"display_name": "  Alice A.  "}, format="json")

    assert response.status_code == 200
    assert response.json()["display_name"] == "Alice A."
    assert response.json()["bio"] == "old bio"
    user.refresh_from_db()
    assert (user.display_name, user.bio, user.email_notifications) == ("Alice A.", "old bio", True)


def test_patch_me_sets_bio_and_email_notifications_and_may_clear_the_name(auth_client, user):
    response = auth_client.patch(
        "/api/v1/me",
        {"display_name": "", "bio": "Host of Tuesday jazz.", "email_notifications": False},
        format="json",
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.display_name, user.bio, user.email_notifications) == (
        "",
        "Host of Tuesday jazz.",
        False,
    )


def test_patch_me_accepts_the_longest_allowed_name_and_bio(auth_client, user):
    response = auth_client.patch(
        "/api/v1/me", {"display_name": "n" * 50, "bio": "b" * 160}, format="json"
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert (len(user.display_name), len(user.bio)) == (50, 160)


def test_patch_me_refuses_a_name_over_50_and_a_bio_over_160_with_field_errors(auth_client, user):
    response = auth_client.patch(
        "/api/v1/me", {"display_name": "n" * 51, "bio": "b" * 161}, format="json"
    )

    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"display_name", "bio"}
    assert "50" in error["fields"]["display_name"][0]
    assert "160" in error["fields"]["bio"][0]
    user.refresh_from_db()
    assert (user.display_name, user.bio) == ("Alice", "")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("display_name", 5),
        ("display_name", ["Alice"]),
        ("display_name", None),
        ("bio", {"text": "hi"}),
        ("email_notifications", "yes"),
        ("email_notifications", 1),
        ("email_notifications", None),
    ],
)
def test_patch_me_refuses_values_of_the_wrong_type(auth_client, user, field, value):
    response = auth_client.patch("/api/v1/me", {field: value}, format="json")

    error = assert_error(response, 400, "invalid")
    assert list(error["fields"]) == [field]
    user.refresh_from_db()
    assert (user.display_name, user.bio, user.email_notifications) == ("Alice", "", True)


@pytest.mark.parametrize("field", ["username", "email", "is_staff", "dispaly_name"])
def test_patch_me_refuses_unknown_and_read_only_fields_and_changes_nothing(
    auth_client, user, field
):
    response = auth_client.patch("/api/v1/me", {"bio": "new", field: "x"}, format="json")

    error = assert_error(response, 400, "invalid")
    assert list(error["fields"]) == [field]
    user.refresh_from_db()
    assert (user.username, user.email, user.is_staff, user.bio) == (
        "alice",
        "alice@example.com",
        False,
        "",
    )


def test_patch_me_reports_unknown_and_invalid_fields_together(auth_client):
    response = auth_client.patch("/api/v1/me", {"bio": "b" * 161, "nick": "x"}, format="json")

    assert set(assert_error(response, 400, "invalid")["fields"]) == {"bio", "nick"}


def test_patch_me_with_a_body_that_is_not_an_object_is_400(auth_client):
    response = auth_client.patch("/api/v1/me", ["bio"], format="json")

    assert "non_field_errors" in assert_error(response, 400, "invalid")["fields"]


def test_patch_me_with_an_empty_object_changes_nothing(auth_client, user):
    response = auth_client.patch("/api/v1/me", {}, format="json")

    assert response.status_code == 200
    assert User.objects.get(pk=user.pk).display_name == "Alice"
