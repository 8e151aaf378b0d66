"""The site: the bell on a profile you follow, Settings > Alerts, the inbox line, the admin."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from accounts.models import Follow, Notification, User
from alerts.models import GoLiveAlert
from tests.factories import FollowFactory, UserFactory, make_followers

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def star(user: User) -> User:
    star = UserFactory(username="star", display_name="The Star")
    FollowFactory(follower=user, followee=star)
    return star


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_a_profile_you_follow_shows_the_bell_on(alice_client, star):
    html = alice_client.get("/u/star/").content.decode()

    assert 'action="/u/star/alerts/"' in html
    assert 'name="alerts" value="none"' in html
    assert 'aria-pressed="true"' in html


def test_a_profile_you_do_not_follow_has_no_bell(alice_client):
    UserFactory(username="stranger")

    assert 'action="/u/stranger/alerts/"' not in alice_client.get("/u/stranger/").content.decode()


def test_your_own_profile_and_signed_out_have_no_bell(client, user, star):
    assert "/alerts/" not in client.get("/u/star/").content.decode()
    client.force_login(star)
    assert "/alerts/" not in client.get("/u/star/").content.decode()


def test_the_bell_form_turns_alerts_off_and_back_on(alice_client, user, star):
    response = alice_client.post("/u/star/alerts/", {"alerts": "none", "next": "/u/star/"})

    assert response.status_code == 302
    assert response["Location"] == "/u/star/"
    assert Follow.objects.get(follower=user, followee=star).alerts == "none"
    assert messages_of(response) == ["You won\u2019t be told when The Star goes live."]
    html = alice_client.get("/u/star/").content.decode()
    assert 'aria-pressed="false"' in html
    alice_client.post("/u/star/alerts/", {"alerts": "all"})
    assert Follow.objects.get(follower=user, followee=star).alerts == "all"


@pytest.mark.parametrize("value", ["some", "", "all\x00"])
def test_a_bad_bell_form_changes_nothing(alice_client, user, star, value):
    response = alice_client.post("/u/star/alerts/", {"alerts": value})

    assert response.status_code == 302
    assert messages_of(response) == ["Choose all Spaces or none."]
    assert Follow.objects.get(follower=user, followee=star).alerts == "all"


def test_the_bell_of_someone_you_do_not_follow_is_refused(alice_client):
    UserFactory(username="stranger")

    response = alice_client.post("/u/stranger/alerts/", {"alerts": "none"})

    assert messages_of(response) == ["Follow them first."]


def test_the_bell_needs_a_post_and_a_sign_in(client, alice_client, star):
    assert alice_client.get("/u/star/alerts/").status_code == 405
    client.logout()
    response = client.post("/u/star/alerts/", {"alerts": "none"})
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_settings_show_and_save_the_switches(alice_client, user, star):
    Follow.objects.filter(follower=user).update(alerts="none")
    html = alice_client.get("/settings/alerts/").content.decode()

    assert 'name="live_alerts"' in html
    assert 'name="live_alert_emails"' in html
    assert "You turned alerts off for 1 account you follow" in html
    response = alice_client.post("/settings/alerts/", {"live_alert_emails": "on"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.live_alerts, user.live_alert_emails) == (False, True)
    assert messages_of(response) == ["Your alert settings are saved."]


def test_the_inbox_shows_the_go_live_line(alice_client, user):
    Notification.objects.create(
        recipient=user,
        kind=Notification.Kind.FOLLOWED_LIVE,
        payload={"host": "star", "host_name": "The Star", "title": "Morning", "space_id": 7},
    )

    html = alice_client.get("/notifications/").content.decode()

    assert "is live now: “Morning”." in html
    assert "/spaces/7/" in html


def test_the_admin_shows_a_fan_out(client, settings, go_live):
    settings.SPACES_HOST_MIN_FOLLOWERS = 1
    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    host = UserFactory(username="host")
    make_followers(host, 3)
    space = go_live(host)
    alert = GoLiveAlert.objects.get(space=space)
    client.force_login(staff)

    listing = client.get("/admin/alerts/golivealert/").content.decode()
    detail = client.get(f"/admin/alerts/golivealert/{alert.pk}/change/").content.decode()

    assert "Every inbox written" in listing
    assert str(alert.cursor) in detail
    assert (
        client.post(
            "/admin/alerts/golivealert/",
            {"action": "resume", "_selected_action": [alert.pk]},
        ).status_code
        == 302
    )
