"""The notifications inbox: list, unread count, mark read."""

from __future__ import annotations

import pytest

from accounts.models import Notification
from tests.factories import NotificationFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def inbox(recipient, count: int, **kwargs) -> list[Notification]:
    return [
        NotificationFactory(recipient=recipient, payload={"n": i}, **kwargs) for i in range(count)
    ]


def unread_ids(recipient) -> set[int]:
    return set(
        Notification.objects.filter(recipient=recipient, is_read=False).values_list("pk", flat=True)
    )


# --- List -------------------------------------------------------------------------------------


def test_notifications_lists_mine_newest_first_with_the_unread_count(auth_client, user, other_user):
    older = NotificationFactory(recipient=user, payload={"user": "carol"}, is_read=True)
    newer = NotificationFactory(recipient=user, payload={"user": "dave"})
    NotificationFactory(recipient=other_user)

    response = auth_client.get("/api/v1/notifications")

    assert response.status_code == 200
    body = response.json()
    assert [n["id"] for n in body["results"]] == [newer.pk, older.pk]
    assert body["unread_count"] == 1
    assert body["next"] is None
    first = body["results"][0]
    assert first == {
        "id": newer.pk,
        "kind": "follow",
        "payload": {"user": "dave"},
        "is_read": False,
        "created_at": first["created_at"],
    }
    assert first["created_at"]


@pytest.mark.parametrize(("unread", "expected_read"), [("true", False), ("false", True)])
def test_notifications_can_be_filtered_by_unread(auth_client, user, unread, expected_read):
    inbox(user, 2)
    inbox(user, 3, is_read=True)

    body = auth_client.get(f"/api/v1/notifications?unread={unread}").json()

    assert len(body["results"]) == (3 if expected_read else 2)
    assert {n["is_read"] for n in body["results"]} == {expected_read}
    assert body["unread_count"] == 2


def test_the_unread_filter_is_kept_across_pages(auth_client, user):
    inbox(user, 5)
    inbox(user, 4, is_read=True)

    seen: list[dict] = []
    url = "/api/v1/notifications?unread=true&page_size=2"
    while url:
        body = auth_client.get(url).json()
        seen.extend(body["results"])
        url = body["next"]

    assert len(seen) == 5
    assert not any(n["is_read"] for n in seen)
    assert len({n["id"] for n in seen}) == 5


def test_notifications_with_a_non_boolean_unread_filter_is_400(auth_client):
    error = assert_error(auth_client.get("/api/v1/notifications?unread=maybe"), 400, "invalid")

    assert list(error["fields"]) == ["unread"]


def test_notifications_list_takes_two_queries_however_long_the_page(
    django_assert_num_queries, auth_client, user
):
    inbox(user, 2)
    # the page, the unread count
    with django_assert_num_queries(2):
        assert len(auth_client.get("/api/v1/notifications").json()["results"]) == 2

    inbox(user, 40)
    with django_assert_num_queries(2):
        assert len(auth_client.get("/api/v1/notifications").json()["results"]) == 42


def test_notifications_need_authentication(api_client):
    assert_error(api_client.get("/api/v1/notifications"), 401, "not_authenticated")
    assert_error(api_client.get("/api/v1/notifications/unread-count"), 401, "not_authenticated")
    response = api_client.post("/api/v1/notifications/read", {"all": True}, format="json")
    assert_error(response, 401, "not_authenticated")


# --- Unread count -----------------------------------------------------------------------------


def test_unread_count_counts_only_my_unread_notifications(
    django_assert_num_queries, auth_client, user, other_user
):
    inbox(user, 3)
    inbox(user, 2, is_read=True)
    inbox(other_user, 4)

    with django_assert_num_queries(1):
        response = auth_client.get("/api/v1/notifications/unread-count")

    assert response.status_code == 200
    assert response.json() == {"unread_count": 3}


# --- Mark read --------------------------------------------------------------------------------


def test_marking_ids_read_marks_exactly_those(auth_client, user):
    first, second, third = inbox(user, 3)

    response = auth_client.post(
        "/api/v1/notifications/read", {"ids": [first.pk, third.pk]}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {"marked_read": 2, "unread_count": 1}
    assert unread_ids(user) == {second.pk}


def test_marking_all_read_marks_all_of_mine_and_none_of_theirs(auth_client, user, other_user):
    inbox(user, 3)
    theirs = inbox(other_user, 2)

    response = auth_client.post("/api/v1/notifications/read", {"all": True}, format="json")

    assert response.json() == {"marked_read": 3, "unread_count": 0}
    assert unread_ids(user) == set()
    assert unread_ids(other_user) == {n.pk for n in theirs}


def test_marking_someone_elses_notifications_read_is_ignored(auth_client, user, other_user):
    mine = NotificationFactory(recipient=user)
    theirs = inbox(other_user, 2)

    response = auth_client.post(
        "/api/v1/notifications/read",
        {"ids": [theirs[0].pk, theirs[1].pk, mine.pk]},
        format="json",
    )

    assert response.status_code == 200
    assert response.json() == {"marked_read": 1, "unread_count": 0}
    assert unread_ids(other_user) == {n.pk for n in theirs}


def test_marking_already_read_or_missing_ids_is_harmless(auth_client, user):
    done = NotificationFactory(recipient=user, is_read=True)

    response = auth_client.post(
        "/api/v1/notifications/read", {"ids": [done.pk, 999_999]}, format="json"
    )

    assert response.json() == {"marked_read": 0, "unread_count": 0}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "non_field_errors"),
        ({"all": False}, "non_field_errors"),
        ({"ids": [1], "all": True}, "non_field_errors"),
        ({"ids": ["one"]}, "ids.0"),
        ({"ids": [1, 0]}, "ids.1"),
        ({"ids": [True]}, "ids.0"),
        ({"ids": "1,2"}, "ids"),
        ({"ids": list(range(1, 1002))}, "ids"),
        ({"all": "true"}, "all"),
        ({"all": True, "everything": True}, "everything"),
    ],
)
def test_mark_read_refuses_bad_bodies_with_field_errors(auth_client, user, body, field):
    NotificationFactory(recipient=user)

    response = auth_client.post("/api/v1/notifications/read", body, format="json")

    assert field in assert_error(response, 400, "invalid")["fields"]
    assert len(unread_ids(user)) == 1
