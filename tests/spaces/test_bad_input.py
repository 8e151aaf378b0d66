"""Bad input on the Spaces API and site: wrong types, huge ids, other users' objects, replays.

Each answer is a 4xx in the one error shape, and nothing changes: the host is still the host,
nobody left, no room event went out.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from spaces.models import Participant, Space
from tests.factories import SpaceFactory, UserFactory, join, make_cohost
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

Role = Participant.Role
HUGE_IDS = [2**53, 2**63 - 1, 2**63, 2**70]


def leave_url(space: Space) -> str:
    return reverse("api-space-leave", args=[space.pk])


def assert_still_hosted_by(space: Space, host: User, published: list[Any]) -> None:
    space.refresh_from_db()
    assert space.host_id == host.pk
    row = Participant.objects.get(space=space, user=host)
    assert (row.role, row.state) == (Role.HOST, Participant.State.PRESENT)
    assert [event for group, event in published if group.startswith("space.")] == []


@pytest.mark.parametrize(
    "value",
    ["7", "", 1.5, 7.0, True, False, None, [7], {"id": 7}, -1, 0, *HUGE_IDS],
    ids=repr,
)
def test_a_successor_id_of_the_wrong_type_or_range_is_invalid_and_changes_nothing(
    client_for, published, value
):
    space = SpaceFactory()
    heir = make_cohost(space)
    response = client_for(space.host).post(leave_url(space), {"successor_id": value}, format="json")
    error = assert_error(response, 400, "invalid")
    assert list(error["fields"]) == ["successor_id"]
    assert_still_hosted_by(space, space.host, published)
    assert Participant.objects.get(space=space, user=heir).role == Role.COHOST


def test_the_largest_id_is_accepted_as_a_type_and_refused_as_no_cohost(client_for, published):
    space = SpaceFactory()
    make_cohost(space)
    response = client_for(space.host).post(
        leave_url(space), {"successor_id": 2**53 - 1}, format="json"
    )
    assert_error(response, 409, "successor_not_cohost")
    assert_still_hosted_by(space, space.host, published)


def test_naming_a_cohost_of_another_space_is_refused(client_for, published):
    mine, theirs = SpaceFactory(), SpaceFactory()
    make_cohost(mine)
    elsewhere = make_cohost(theirs)
    response = client_for(mine.host).post(
        leave_url(mine), {"successor_id": elsewhere.pk}, format="json"
    )
    assert_error(response, 409, "successor_not_cohost")
    assert_still_hosted_by(mine, mine.host, published)
    assert Participant.objects.get(space=theirs, user=elsewhere).role == Role.COHOST


def test_a_cohost_naming_a_successor_for_the_host_is_refused(client_for, published):
    space = SpaceFactory()
    me, other = make_cohost(space), make_cohost(space)
    response = client_for(me).post(leave_url(space), {"successor_id": other.pk}, format="json")
    assert_error(response, 403, "host_only")
    assert_still_hosted_by(space, space.host, published)


def test_a_replayed_host_leave_hands_over_once_and_the_replay_changes_nothing(client_for):
    space = SpaceFactory()
    host = space.host
    heir = make_cohost(space)
    client = client_for(host)
    first = client.post(leave_url(space), {"successor_id": heir.pk}, format="json")
    assert first.status_code == 204
    # The double click: the old host is no longer in the Space, so leaving again is a no-op,
    # and naming a successor is not the host's to do any more.
    again = client.post(leave_url(space), {}, format="json")
    assert again.status_code == 204
    named = client.post(leave_url(space), {"successor_id": heir.pk}, format="json")
    assert named.status_code == 204
    space.refresh_from_db()
    assert space.host_id == heir.pk
    assert list(Participant.objects.filter(space=space, role=Role.HOST).values_list("user_id")) == [
        (heir.pk,)
    ]


def test_another_hosts_transcript_is_refused(client_for):
    mine, theirs = SpaceFactory(), SpaceFactory()
    their_cohost = make_cohost(theirs)
    for user in (mine.host, their_cohost):
        for name in ("api-space-transcript-vtt", "api-space-transcript-txt"):
            response = client_for(user).get(
                reverse(name, args=[mine.pk if user != mine.host else theirs.pk])
            )
            assert_error(response, 403, "not_moderator")


def test_another_hosts_transcript_is_refused_on_the_site():
    mine, theirs = SpaceFactory(), SpaceFactory()
    browser = Client()
    browser.force_login(mine.host)
    response = browser.get(reverse("space_transcript_download", args=[theirs.pk, "vtt"]))
    assert response.status_code == 403
    assert b"WEBVTT" not in response.content


@pytest.mark.parametrize("huge", [10**18 - 1, 10**18, 2**63, 2**70])
def test_a_huge_user_id_in_the_path_is_not_found(client_for, huge):
    space = SpaceFactory()
    for name in ("api-space-participant-mute", "api-space-participant-remove"):
        url = f"/api/v1/spaces/{space.pk}/participants/{huge}/{name.rsplit('-', 1)[1]}"
        response = client_for(space.host).post(url, {}, format="json")
        assert response.status_code == 404, (url, response.content)
        assert response.json()["error"]["code"] in ("not_found", "participant_not_found")


def test_a_huge_id_on_the_site_is_not_a_server_error():
    space = SpaceFactory()
    browser = Client()
    browser.force_login(space.host)
    response = browser.post(f"/spaces/{space.pk}/people/{2**70}/mute/")
    assert response.status_code == 404
    heir = make_cohost(space)
    response = browser.post(
        reverse("space_leave", args=[space.pk]),
        {"successor_id": str(2**70)},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    space.refresh_from_db()
    assert space.host_id != heir.pk


def test_options_on_a_write_endpoint_answers_without_a_server_error(client_for):
    space = SpaceFactory()
    response = client_for(join(space)).options(leave_url(space))
    assert response.status_code == 200
    assert response.json()["name"]
    assert "actions" not in response.json()


def test_a_post_to_an_unknown_api_path_answers_json_even_without_a_csrf_token():
    user = UserFactory()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    response = browser.post("/api/v1/no-such-thing", {}, content_type="application/json")
    assert_error(response, 404, "not_found")


def test_the_ended_list_matches_its_schema(client_for):
    """The cursor-paged list once borrowed the live list's schema (with `count`)."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    ref = schema["paths"]["/api/v1/spaces/ended"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    body = client_for(UserFactory()).get(reverse("api-spaces-ended")).json()
    assert set(component.get("required", [])) <= set(body)
    assert set(body) <= set(component["properties"])


@pytest.mark.parametrize("host", [str(2**53), str(2**63), str(2**70), "0", "x", "1.5"])
def test_a_bad_host_filter_on_the_ended_list_is_invalid(client_for, host):
    response = client_for(UserFactory()).get(reverse("api-spaces-ended"), {"host": host})
    error = assert_error(response, 400, "invalid")
    assert list(error["fields"]) == ["host"]
