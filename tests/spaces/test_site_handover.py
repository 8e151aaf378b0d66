"""The host's Leave on the site without the page's script: with several co-hosts who could
take over, the form offers the choice (the longest-serving one chosen), and the choice posted
is the one the Space is handed to."""

from __future__ import annotations

import re

import pytest

from spaces.models import Participant, Space
from tests.factories import SpaceFactory, UserFactory, join, make_cohost
from tests.spaces.test_site import client_for, embedded_state, messages_of, page, url

pytestmark = pytest.mark.django_db


def successor_radios(body: str) -> list[tuple[str, bool]]:
    """(value, checked) of each successor_id radio of the page, in order."""
    tags = re.findall(r'<input type="radio" name="successor_id"[^>]*>', body)
    return [(re.search(r'value="(\d+)"', t).group(1), "checked" in t) for t in tags]


def test_a_host_with_two_connected_cohosts_chooses_who_takes_over():
    space = SpaceFactory()
    first = make_cohost(space, UserFactory(display_name="First Cohost"))
    second = make_cohost(space, UserFactory(display_name="Second Cohost"))

    body = page(space.host, space)
    assert successor_radios(body) == [(str(first.pk), True), (str(second.pk), False)]
    assert embedded_state(body)["successors"] == [first.pk, second.pk]
    response = client_for(space.host).post(
        url("space_leave", space), {"successor_id": str(second.pk)}, follow=True
    )

    space.refresh_from_db()
    assert space.host_id == second.pk
    assert messages_of(response) == ["You left and handed the Space to Second Cohost."]
    assert Participant.objects.get(space=space, user=first).role == Participant.Role.COHOST
    assert "You left this Space." in response.content.decode()


def test_a_host_with_one_cohost_gets_a_plain_leave_and_others_no_choice():
    space = SpaceFactory()
    only = make_cohost(space)
    someone = join(space)

    assert successor_radios(page(space.host, space)) == []
    assert embedded_state(page(space.host, space))["successors"] == [only.pk]
    assert successor_radios(page(only, space)) == []
    assert embedded_state(page(someone, space))["successors"] == []


def test_naming_a_listener_as_successor_is_refused_and_changes_nothing():
    space = SpaceFactory()
    make_cohost(space)
    someone = join(space)

    response = client_for(space.host).post(
        url("space_leave", space), {"successor_id": str(someone.pk)}, follow=True
    )

    space.refresh_from_db()
    assert space.state == Space.State.LIVE
    assert space.host_id != someone.pk
    assert len(messages_of(response)) == 1
    assert Participant.objects.get(space=space, user=space.host).state == "present"
