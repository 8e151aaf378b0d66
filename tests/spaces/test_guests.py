"""Logged-out listening (issue 20): the host's switch, the guest count folded into the Space,
the count across processes, the guest's snapshot, the page and its JSON signed out, the API."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from spaces import services
from spaces.models import ModerationAction, Space
from spaces.realtime import guests
from spaces.serializers import guest_snapshot
from spaces_project.errors import ApplicationError
from spaces_project.ws_auth import client_address
from tests.factories import SpaceFactory, UserFactory, ended_space, fresh, join, make_cohost
from tests.helpers import assert_error, event_types

pytestmark = pytest.mark.django_db


# --- The host's switch ---------------------------------------------------------------------------


def test_the_host_turns_guests_off_and_on_logged_and_published(published, committed):
    space = SpaceFactory()
    with committed():
        services.guests_allowed_set(actor=space.host, space_id=space.pk, allowed=False)
    assert not fresh(space).guests_allowed
    assert event_types(published) == ["guests.changed"]
    assert published[0][1]["guests_allowed"] is False
    log = ModerationAction.objects.get(space=space)
    assert (log.action, log.details) == ("guests_changed", {"allowed": False})

    with committed():
        services.guests_allowed_set(actor=space.host, space_id=space.pk, allowed=False)
    assert event_types(published) == ["guests.changed"]  # a double click: nothing more

    cohost = make_cohost(space)
    services.guests_allowed_set(actor=cohost, space_id=space.pk, allowed=True)
    assert fresh(space).guests_allowed


@pytest.mark.parametrize(
    ("who", "make", "status", "code"),
    [
        ("listener", SpaceFactory, 403, "not_moderator"),
        ("host", lambda: SpaceFactory(is_ticketed=True), 409, "ticketed"),
        ("host", ended_space, 409, "space_ended"),
    ],
)
def test_the_switch_is_refused_to_others_and_where_guests_never_come(who, make, status, code):
    space = make()
    actor = join(space) if who == "listener" else space.host
    with pytest.raises(ApplicationError) as refused:
        services.guests_allowed_set(actor=actor, space_id=space.pk, allowed=False)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert fresh(space).guests_allowed


def test_the_api_switch(client_for):
    space = SpaceFactory()
    listener = join(space)
    url = f"/api/v1/spaces/{space.pk}/guests"
    assert_error(
        client_for(listener).put(url, {"allowed": False}, format="json"), 403, "not_moderator"
    )
    assert_error(client_for(space.host).put(url, {"allowed": "no"}, format="json"), 400, "invalid")
    answer = client_for(space.host).put(url, {"allowed": False}, format="json")
    assert (answer.status_code, answer.json()) == (200, {"allowed": False})
    assert not fresh(space).guests_allowed


# --- The count -----------------------------------------------------------------------------------


def test_the_guest_count_is_part_of_the_listener_count(published, committed):
    space = SpaceFactory()
    join(space)
    with committed():
        assert services.guest_count_set(space_id=space.pk, count=3)
    row = fresh(space)
    assert (row.guest_count, row.listener_count, row.peak_listener_count) == (3, 4, 4)
    assert published[-1][1]["type"] == "guests.counted"
    assert published[-1][1]["counts"]["listeners"] == 4
    assert published[-1][1]["counts"]["guests"] == 3

    with committed():
        assert not services.guest_count_set(space_id=space.pk, count=3)  # a second fold
        assert services.guest_count_set(space_id=space.pk, count=1)
    row = fresh(space)
    assert (row.guest_count, row.listener_count, row.peak_listener_count) == (1, 2, 4)
    # The API's one Space, lists and cards read the same column.
    assert SpaceFactory._meta.model.objects.get(pk=space.pk).listener_count == 2


def test_an_ended_space_keeps_its_zero():
    space = SpaceFactory()
    services.guest_count_set(space_id=space.pk, count=2)
    services.space_end(actor=space.host, space_id=space.pk)
    assert (fresh(space).guest_count, fresh(space).listener_count) == (0, 0)
    assert not services.guest_count_set(space_id=space.pk, count=5)
    assert fresh(space).listener_count == 0


def test_two_processes_add_up_in_one_window_and_each_folds_the_same_total():
    space = SpaceFactory()
    one, two = guests.GuestCounter(), guests.GuestCounter()
    window = 1000
    # Each process reports once per window, however often it ticks.
    for counter, n in ((one, 2), (two, 3), (one, 2)):
        due = counter.due(window, {space.pk: n})
        guests.report(window, due)
    assert guests.totals(window, [space.pk]) == {space.pk: 5}
    for counter in (one, two):
        spaces = counter.to_fold(window + 1)
        assert spaces == [space.pk]
        assert counter.to_fold(window + 1) is None  # once per window
        guests.fold(counter.changed(guests.totals(window, spaces)))
    assert fresh(space).guest_count == 5


def test_the_sweep_lets_go_of_guests_nobody_counts_any_more(monkeypatch):
    space = SpaceFactory()
    services.guest_count_set(space_id=space.pk, count=4)
    other = SpaceFactory()
    services.guest_count_set(space_id=other.pk, count=1)
    now = 5000 * guests.window_seconds()
    # `other` still has a guest somewhere: reported in the last complete window.
    guests.report(guests.current_window(now) - 1, {other.pk: 1})
    assert guests.guest_sweep(now=now) == 1
    assert fresh(space).guest_count == 0
    assert fresh(space).listener_count == 0
    assert fresh(other).guest_count == 1


# --- Who may listen as a guest, and what they see ------------------------------------------------


def test_the_guest_snapshot_has_nothing_of_anyone_s_own():
    space = SpaceFactory()
    join(space)
    state = guest_snapshot(space_id=space.pk).state
    assert state["guest"] is True
    assert state["me"] is None
    assert state["pending_request_id"] is None
    assert not any(state["can"].values())
    assert all(acts == [] for acts in state["role_actions"].values())
    assert state["hls"]["url"].startswith("/live/")
    assert state["listen_mode"] == "hls"
    assert state["space"]["guests_allowed"] is True


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: SpaceFactory(is_ticketed=True), "sign_in_required"),
        (lambda: SpaceFactory(guests_allowed=False), "guests_off"),
        (ended_space, "space_ended"),
        (lambda: SpaceFactory(state=Space.State.CANCELLED, started_at=None), "space_cancelled"),
    ],
)
def test_no_guest_snapshot_where_guests_may_not_listen(make, code):
    space = make()
    with pytest.raises(ApplicationError) as refused:
        guest_snapshot(space_id=space.pk)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("proxies", "forwarded", "peer", "expected"),
    [
        (0, "6.6.6.6", "198.51.100.1", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.9", "10.0.0.2", "198.51.100.9"),
        (2, "6.6.6.6, 198.51.100.9, 10.0.0.3", "10.0.0.2", "198.51.100.9"),
        (1, None, "10.0.0.2", "10.0.0.2"),
    ],
)
def test_the_socket_s_client_address_believes_only_trusted_proxies(
    settings, proxies, forwarded, peer, expected
):
    settings.SPACES_TRUSTED_PROXIES = proxies
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    assert client_address({"headers": headers, "client": [peer, 1234]}) == expected


# --- The page, signed out ------------------------------------------------------------------------


def test_signed_out_a_live_public_space_is_a_listen_only_page():
    space = SpaceFactory(title="Open air")
    join(space)
    page = Client().get(reverse("space_detail", args=[space.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="guest-listen"' in html
    assert 'data-guest="true"' in html
    assert "Sign in to react, comment or raise your hand" in html
    assert f"/accounts/login/?next=%2Fspaces%2F{space.pk}%2F" in html
    # No action form but the sign-in way: nothing to post without an account.
    for action in ("react", "raise_hand", "join", "leave", "comment"):
        assert f'data-action="{action}"' not in html or action == "comment"
    assert "disabled" in html.split('id="comment-text"')[1].split(">")[0]


def test_signed_out_the_page_s_json_is_the_guest_snapshot():
    space = SpaceFactory()
    answer = Client().get(reverse("space_detail", args=[space.pk]), HTTP_ACCEPT="application/json")
    assert answer.status_code == 200
    assert answer.json()["guest"] is True


@pytest.mark.parametrize(
    "make",
    [
        lambda: SpaceFactory(is_ticketed=True),
        lambda: SpaceFactory(guests_allowed=False),
        ended_space,
    ],
)
def test_signed_out_other_spaces_show_their_preview_and_the_way_in(make):
    space = make()
    page = Client().get(reverse("space_detail", args=[space.pk]))
    # The link preview with sign-in buttons (spaces_project/previews.py), never the room.
    assert page.status_code == 200
    html = page.content.decode()
    assert "/accounts/login/" in html
    assert 'id="guest-listen"' not in html
    assert 'id="space-root"' not in html
    answer = Client().get(reverse("space_detail", args=[space.pk]), HTTP_ACCEPT="application/json")
    assert answer.status_code in (401, 409)


def test_signed_out_an_unknown_space_is_404():
    assert Client().get(reverse("space_detail", args=[999_999])).status_code == 404


def test_the_host_sees_the_guests_switch_on_the_page():
    space = SpaceFactory()
    client = Client()
    client.force_login(space.host)
    html = client.get(reverse("space_detail", args=[space.pk])).content.decode()
    assert f'action="/spaces/{space.pk}/guests/"' in html
    listener = UserFactory()
    join(space, listener)
    client.force_login(listener)
    assert "/guests/" not in client.get(reverse("space_detail", args=[space.pk])).content.decode()


def test_the_page_form_turns_guests_off():
    space = SpaceFactory()
    client = Client()
    client.force_login(space.host)
    answer = client.post(
        reverse("space_guests", args=[space.pk]), {"allowed": "0"}, HTTP_ACCEPT="application/json"
    )
    assert answer.status_code == 200
    assert answer.json()["ok"] is True
    assert not fresh(space).guests_allowed
