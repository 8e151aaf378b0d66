"""The scheduling API: every endpoint, its status codes, the one error shape, the schema."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from accounts.models import Block, Follow
from scheduling import services
from scheduling.models import Reminder
from spaces.models import Space
from tests.factories import UserFactory
from tests.helpers import assert_error
from tests.scheduling.helpers import holders

pytestmark = pytest.mark.django_db

API = "/api/v1"


def iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


@pytest.fixture
def upcoming(schedule):
    return schedule(minutes=120, title="Upcoming show")


# --- 401 for everything ---------------------------------------------------------------------


def test_every_endpoint_needs_authentication(upcoming, host):
    client = APIClient()
    calls = [
        ("get", f"{API}/spaces/scheduled"),
        ("post", f"{API}/spaces/scheduled"),
        ("get", f"{API}/spaces/scheduled/{upcoming.pk}"),
        ("patch", f"{API}/spaces/scheduled/{upcoming.pk}"),
        ("delete", f"{API}/spaces/scheduled/{upcoming.pk}"),
        ("post", f"{API}/spaces/scheduled/{upcoming.pk}/start"),
        ("put", f"{API}/spaces/{upcoming.pk}/reminder"),
        ("delete", f"{API}/spaces/{upcoming.pk}/reminder"),
        ("get", f"{API}/spaces/upcoming"),
        ("get", f"{API}/users/{host.username}/upcoming"),
    ]
    for method, url in calls:
        response = getattr(client, method)(url, {}, format="json")
        assert_error(response, 401, "not_authenticated")


# --- Schedule ----------------------------------------------------------------------------------


def test_scheduling_answers_201_with_the_space(client_for, host, clock):
    when = clock.now + timedelta(hours=2)
    response = client_for(host).post(
        f"{API}/spaces/scheduled",
        {
            "title": "Hello",
            "scheduled_for": iso(when),
            "topics": ["Jazz"],
            "speaking_policy": "invited_only",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["state"], body["title"], body["topics"], body["speaking_policy"]) == (
        "scheduled",
        "Hello",
        ["Jazz"],
        "invited_only",
    )
    assert body["scheduled_for"] == iso(when)
    assert (body["reminder_count"], body["has_reminder"], body["cancel_reason"]) == (0, False, None)
    assert body["host"]["username"] == host.username
    assert Space.objects.get(pk=body["id"]).state == "scheduled"


@pytest.mark.parametrize(
    ("minutes", "text"), [(10, "at least 15 minutes"), (15 * 24 * 60, "at most 14 days")]
)
def test_a_time_too_soon_or_too_far_is_400_on_the_field(client_for, host, clock, minutes, text):
    response = client_for(host).post(
        f"{API}/spaces/scheduled",
        {"title": "T", "scheduled_for": iso(clock.now + timedelta(minutes=minutes))},
        format="json",
    )
    fields = assert_error(response, 400, "invalid")["fields"]
    assert text in fields["scheduled_for"][0]


def test_bad_fields_are_400_with_every_field_named(client_for, host):
    response = client_for(host).post(
        f"{API}/spaces/scheduled",
        {"title": "", "scheduled_for": 1234, "topics": ["a", "b", "c", "d"], "colour": "red"},
        format="json",
    )
    fields = assert_error(response, 400, "invalid")["fields"]
    assert {"title", "scheduled_for", "topics", "colour"} <= set(fields)


def test_scheduling_without_enough_followers_is_403(client_for, user, clock):
    response = client_for(user).post(
        f"{API}/spaces/scheduled",
        {"title": "T", "scheduled_for": iso(clock.now + timedelta(hours=1))},
        format="json",
    )
    assert_error(response, 403, "not_enough_followers")


def test_scheduling_more_than_allowed_is_409(client_for, host, clock, settings):
    settings.SPACES_MAX_UPCOMING_PER_HOST = 1
    client = client_for(host)
    body = {"title": "T", "scheduled_for": iso(clock.now + timedelta(hours=1))}
    assert client.post(f"{API}/spaces/scheduled", body, format="json").status_code == 201
    # Another Space (the same body again would be a double submit: the first Space back).
    another = {**body, "title": "T2"}
    assert_error(
        client.post(f"{API}/spaces/scheduled", another, format="json"), 409, "too_many_upcoming"
    )


def test_my_upcoming_lists_my_scheduled_spaces(client_for, host, schedule, other_user):
    first, second = schedule(minutes=120, title="Later"), schedule(minutes=60, title="Sooner")
    services.scheduled_space_cancel(actor=host, space_id=first.pk)
    body = client_for(host).get(f"{API}/spaces/scheduled").json()
    assert [s["id"] for s in body["results"]] == [second.pk]
    assert client_for(other_user).get(f"{API}/spaces/scheduled").json()["results"] == []


# --- One scheduled Space -----------------------------------------------------------------------


def test_the_detail_shows_any_state_and_404s_unknown_ones(client_for, upcoming, user, host):
    client = client_for(user)
    assert client.get(f"{API}/spaces/scheduled/{upcoming.pk}").json()["state"] == "scheduled"
    services.scheduled_space_cancel(actor=host, space_id=upcoming.pk)
    body = client.get(f"{API}/spaces/scheduled/{upcoming.pk}").json()
    assert (body["state"], body["cancel_reason"]) == ("cancelled", "host")
    assert_error(client.get(f"{API}/spaces/scheduled/999999"), 404, "space_not_found")


def test_the_detail_is_403_for_someone_the_host_blocked(client_for, upcoming, host, user):
    Block.objects.create(blocker=host, blocked=user)
    assert_error(client_for(user).get(f"{API}/spaces/scheduled/{upcoming.pk}"), 403, "blocked")


def test_the_host_edits_title_and_time(client_for, upcoming, host, clock):
    when = clock.now + timedelta(hours=5)
    response = client_for(host).patch(
        f"{API}/spaces/scheduled/{upcoming.pk}",
        {"title": "New", "scheduled_for": iso(when)},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert (response.json()["title"], response.json()["scheduled_for"]) == ("New", iso(when))


def test_editing_errors(client_for, upcoming, host, other_user, clock):
    url = f"{API}/spaces/scheduled/{upcoming.pk}"
    assert_error(client_for(other_user).patch(url, {"title": "x"}, format="json"), 403, "not_host")
    missing = f"{API}/spaces/scheduled/999999"
    assert_error(
        client_for(host).patch(missing, {"title": "x"}, format="json"), 404, "space_not_found"
    )
    fields = assert_error(
        client_for(host).patch(
            url, {"scheduled_for": iso(clock.now + timedelta(minutes=3))}, format="json"
        ),
        400,
        "invalid",
    )["fields"]
    assert "scheduled_for" in fields
    assert_error(client_for(host).patch(url, {}, format="json"), 400, "invalid")
    assert_error(client_for(host).patch(url, {"state": "live"}, format="json"), 400, "invalid")
    services.scheduled_space_start(actor=host, space_id=upcoming.pk)
    assert_error(client_for(host).patch(url, {"title": "x"}, format="json"), 409, "space_started")


def test_the_host_cancels_and_cancelling_again_changes_nothing(client_for, upcoming, host):
    url = f"{API}/spaces/scheduled/{upcoming.pk}"
    for _ in range(2):
        response = client_for(host).delete(url)
        assert response.status_code == 200, response.content
        assert (response.json()["state"], response.json()["cancel_reason"]) == (
            "cancelled",
            "host",
        )


def test_cancelling_errors(client_for, upcoming, host, other_user):
    url = f"{API}/spaces/scheduled/{upcoming.pk}"
    assert_error(client_for(other_user).delete(url), 403, "not_host")
    assert_error(client_for(host).delete(f"{API}/spaces/scheduled/999999"), 404, "space_not_found")
    services.scheduled_space_start(actor=host, space_id=upcoming.pk)
    assert_error(client_for(host).delete(url), 409, "space_started")


def test_the_host_starts_it_and_it_is_the_same_live_space(client_for, upcoming, host):
    response = client_for(host).post(f"{API}/spaces/scheduled/{upcoming.pk}/start")
    assert response.status_code == 200, response.content
    assert (response.json()["id"], response.json()["state"]) == (upcoming.pk, "live")
    detail = client_for(host).get(f"{API}/spaces/{upcoming.pk}").json()
    assert detail["space"]["state"] == "live"


def test_starting_errors(client_for, schedule, upcoming, host, other_user):
    url = f"{API}/spaces/scheduled/{upcoming.pk}/start"
    assert_error(client_for(other_user).post(url), 403, "not_host")
    assert_error(
        client_for(host).post(f"{API}/spaces/scheduled/999999/start"), 404, "space_not_found"
    )
    other = schedule(minutes=200, title="Another")
    client_for(host).post(f"{API}/spaces/scheduled/{other.pk}/start")
    assert_error(client_for(host).post(url), 409, "already_live")
    assert_error(
        client_for(host).post(f"{API}/spaces/scheduled/{other.pk}/start"), 409, "space_started"
    )


# --- Reminders ---------------------------------------------------------------------------------


def test_setting_a_reminder_twice_is_harmless_and_counts_once(client_for, upcoming, user):
    client = client_for(user)
    for _ in range(2):
        response = client.put(f"{API}/spaces/{upcoming.pk}/reminder")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["has_reminder"] is True
        assert (body["space"]["reminder_count"], body["space"]["has_reminder"]) == (1, True)
    assert Reminder.objects.filter(user=user).count() == 1


def test_removing_a_reminder_is_204_even_twice(client_for, upcoming, user):
    client = client_for(user)
    client.put(f"{API}/spaces/{upcoming.pk}/reminder")
    assert client.delete(f"{API}/spaces/{upcoming.pk}/reminder").status_code == 204
    assert client.delete(f"{API}/spaces/{upcoming.pk}/reminder").status_code == 204
    assert not Reminder.objects.exists()


def test_reminder_errors(client_for, upcoming, host, user, other_user):
    url = f"{API}/spaces/{upcoming.pk}/reminder"
    assert_error(client_for(host).put(url), 403, "own_space")
    Block.objects.create(blocker=host, blocked=other_user)
    assert_error(client_for(other_user).put(url), 403, "blocked")
    assert_error(client_for(user).put(f"{API}/spaces/999999/reminder"), 404, "space_not_found")
    assert_error(client_for(user).delete(f"{API}/spaces/999999/reminder"), 404, "space_not_found")
    services.scheduled_space_cancel(actor=host, space_id=upcoming.pk)
    assert_error(client_for(user).put(url), 409, "space_cancelled")


def test_a_reminder_on_a_live_space_is_409(client_for, upcoming, host, user):
    services.scheduled_space_start(actor=host, space_id=upcoming.pk)
    assert_error(client_for(user).put(f"{API}/spaces/{upcoming.pk}/reminder"), 409, "space_started")


# --- Discover ----------------------------------------------------------------------------------


def test_upcoming_of_people_i_follow_with_counts(client_for, upcoming, host, user):
    Follow.objects.create(follower=user, followee=host)
    holders(upcoming, 2)
    services.reminder_set(user=user, space_id=upcoming.pk)

    body = client_for(user).get(f"{API}/spaces/upcoming").json()

    [row] = body["results"]
    assert (row["id"], row["reminder_count"], row["has_reminder"]) == (upcoming.pk, 3, True)
    assert client_for(UserFactory()).get(f"{API}/spaces/upcoming").json()["results"] == []


def test_upcoming_of_one_host(client_for, upcoming, host, user):
    body = client_for(user).get(f"{API}/users/{host.username.upper()}/upcoming").json()
    assert [row["id"] for row in body["results"]] == [upcoming.pk]
    assert_error(client_for(user).get(f"{API}/users/nobody-here/upcoming"), 404, "not_found")


def test_a_free_scheduled_space_has_no_ticket_in_any_answer(client_for, upcoming, host, user):
    """The badge of a ticketed one is in tests/ticketing/test_api_badges.py."""
    Follow.objects.create(follower=user, followee=host)
    client = client_for(user)
    answers = [
        client.get(f"{API}/spaces/upcoming").json()["results"][0],
        client.get(f"{API}/users/{host.username}/upcoming").json()["results"][0],
        client_for(host).get(f"{API}/spaces/scheduled").json()["results"][0],
        client.get(f"{API}/spaces/scheduled/{upcoming.pk}").json(),
        client.put(f"{API}/spaces/{upcoming.pk}/reminder").json()["space"],
    ]
    assert [(row["id"], row["ticket"]) for row in answers] == [(upcoming.pk, None)] * 5


def test_upcoming_lists_page_by_cursor(client_for, schedule, host, user):
    spaces = [schedule(minutes=60 + i, title=f"S{i}") for i in range(5)]
    client = client_for(user)
    page = client.get(f"{API}/users/{host.username}/upcoming", {"page_size": 2}).json()
    seen = [row["id"] for row in page["results"]]
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [row["id"] for row in page["results"]]
    assert seen == [s.pk for s in spaces]


@pytest.mark.parametrize("hosts", [1, 4])
def test_the_upcoming_list_costs_the_same_whatever_its_length(
    client_for, user, hosts, clock, settings, django_assert_num_queries
):
    from tests.factories import make_followers

    settings.SPACES_HOST_MIN_FOLLOWERS = 1
    for i in range(hosts):
        star = UserFactory(username=f"star{i}")
        make_followers(star, 1, prefix=f"star{i}-fan-")
        Follow.objects.create(follower=user, followee=star)
        space = services.scheduled_space_create(
            host=star, title=f"S{i}", scheduled_for=clock.now + timedelta(hours=1 + i)
        )
        holders(space, 2)
    client = client_for(user)
    with django_assert_num_queries(1):
        body = client.get(f"{API}/spaces/upcoming").json()
    assert len(body["results"]) == hosts


# --- Schema ------------------------------------------------------------------------------------


def test_the_schema_documents_every_operation_and_its_errors(client_for, user):
    schema = client_for(user).get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    expected = {
        ("/api/v1/spaces/scheduled", "get"): {"401"},
        ("/api/v1/spaces/scheduled", "post"): {"400", "401", "403", "409"},
        ("/api/v1/spaces/scheduled/{space_id}", "get"): {"401", "403", "404"},
        ("/api/v1/spaces/scheduled/{space_id}", "patch"): {"400", "401", "403", "404", "409"},
        ("/api/v1/spaces/scheduled/{space_id}", "delete"): {"401", "403", "404", "409"},
        ("/api/v1/spaces/scheduled/{space_id}/start", "post"): {"401", "403", "404", "409"},
        ("/api/v1/spaces/{space_id}/reminder", "put"): {"401", "403", "404", "409"},
        ("/api/v1/spaces/{space_id}/reminder", "delete"): {"401", "404"},
        ("/api/v1/spaces/upcoming", "get"): {"401"},
        ("/api/v1/users/{username}/upcoming", "get"): {"401", "404"},
    }
    for (path, method), codes in expected.items():
        operation = paths[path][method]
        assert codes <= set(operation["responses"]), (path, method)
    create = schema["components"]["schemas"]["ScheduledSpaceCreateRequest"]
    assert {"title", "scheduled_for"} <= set(create["required"])
