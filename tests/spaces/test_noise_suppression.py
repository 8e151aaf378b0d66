"""The host's noise-suppression switch (issue 23): service, REST, page form and the snapshot.

The media side (RNNoise on each speaker's audio before the mix) is tests/media/test_denoise.py;
how the switch reaches the worker is tests/realtime/test_noise_suppression.py."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from spaces import services
from spaces.models import ModerationAction, Space
from spaces_project.errors import ApplicationError
from tests.factories import SpaceFactory, UserFactory, ended_space, fresh, join, make_cohost
from tests.helpers import assert_error, event_types

pytestmark = pytest.mark.django_db


def test_a_new_space_starts_without_noise_suppression():
    assert Space._meta.get_field("noise_suppression").default is False
    assert not SpaceFactory().noise_suppression


def test_the_host_turns_noise_suppression_on_and_off_logged_and_published(published, committed):
    space = SpaceFactory()
    with committed():
        services.noise_suppression_set(actor=space.host, space_id=space.pk, enabled=True)
    assert fresh(space).noise_suppression
    assert event_types(published) == ["noise_suppression.changed"]
    event = published[0][1]
    assert event["noise_suppression"] is True
    assert event["by"]["id"] == space.host.pk
    log = ModerationAction.objects.get(space=space)
    assert (log.action, log.details) == ("noise_suppression_changed", {"enabled": True})

    with committed():
        services.noise_suppression_set(actor=space.host, space_id=space.pk, enabled=True)
    assert event_types(published) == ["noise_suppression.changed"]  # a double click: nothing more

    cohost = make_cohost(space)
    with committed():
        services.noise_suppression_set(actor=cohost, space_id=space.pk, enabled=False)
    assert not fresh(space).noise_suppression
    assert published[-1][1]["noise_suppression"] is False


def _switch_in_a_failing_transaction(space: Space) -> None:
    with transaction.atomic():
        services.noise_suppression_set(actor=space.host, space_id=space.pk, enabled=True)
        raise RuntimeError("rolled back")


def test_a_rolled_back_switch_publishes_nothing(published, committed):
    space = SpaceFactory()
    with committed(), pytest.raises(RuntimeError):
        _switch_in_a_failing_transaction(space)
    assert published == []
    assert not fresh(space).noise_suppression


@pytest.mark.parametrize(
    ("who", "make", "status", "code"),
    [
        ("listener", SpaceFactory, 403, "not_moderator"),
        ("host", ended_space, 409, "space_ended"),
    ],
)
def test_the_switch_is_refused_to_listeners_and_after_the_end(who, make, status, code):
    space = make()
    actor = join(space) if who == "listener" else space.host
    with pytest.raises(ApplicationError) as refused:
        services.noise_suppression_set(actor=actor, space_id=space.pk, enabled=True)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert not fresh(space).noise_suppression


def test_the_api_switch_and_the_space_it_shows(client_for):
    space = SpaceFactory()
    listener = join(space)
    url = f"/api/v1/spaces/{space.pk}/noise-suppression"
    assert_error(
        client_for(listener).put(url, {"enabled": True}, format="json"), 403, "not_moderator"
    )
    assert_error(client_for(space.host).put(url, {"enabled": "yes"}, format="json"), 400, "invalid")
    answer = client_for(space.host).put(url, {"enabled": True}, format="json")
    assert (answer.status_code, answer.json()) == (200, {"enabled": True})
    assert fresh(space).noise_suppression
    shown = client_for(listener).get(f"/api/v1/spaces/{space.pk}").json()
    assert shown["space"]["noise_suppression"] is True


def test_the_host_sees_the_switch_on_the_page_and_a_listener_does_not():
    space = SpaceFactory()
    client = Client()
    client.force_login(space.host)
    html = client.get(reverse("space_detail", args=[space.pk])).content.decode()
    assert f'action="/spaces/{space.pk}/noise-suppression/"' in html
    assert 'data-action="noise_suppression"' in html
    listener = UserFactory()
    join(space, listener)
    client.force_login(listener)
    page = client.get(reverse("space_detail", args=[space.pk])).content.decode()
    assert "/noise-suppression/" not in page


def test_the_page_form_turns_noise_suppression_on():
    space = SpaceFactory()
    client = Client()
    client.force_login(space.host)
    url = reverse("space_noise_suppression", args=[space.pk])
    answer = client.post(url, {"enabled": "1"}, HTTP_ACCEPT="application/json")
    assert answer.status_code == 200
    assert answer.json()["ok"] is True
    assert fresh(space).noise_suppression
    refused = client.post(url, {}, HTTP_ACCEPT="application/json")
    assert refused.status_code == 400
